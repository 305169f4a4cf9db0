"""Helpers for the remote engine's tests: the real clip tracked frame by frame, pacing, waiting."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.config import EngineOptions
from avatarify_app.engines import MeshChoice, create_engine
from avatarify_app.engines.remote import RemoteEngine
from avatarify_app.tracking import FaceTracker, TrackerOptions

TOKEN = "test-token-0123456789"
SIZE = 128  # small frames: two shared cores


def mesh_factory(options: EngineOptions):
    return create_engine(MeshChoice(), options)


class Driver:
    """The real driving clip, tracked by the real FaceMesh, frame by frame (looping)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.capture = cv2.VideoCapture(str(path))
        self.tracker = FaceTracker(TrackerOptions(static=False))
        self.t = 0.0

    def next(self):
        ok, frame = self.capture.read()
        if not ok:
            self.capture.release()
            self.capture = cv2.VideoCapture(str(self.path))
            ok, frame = self.capture.read()
        assert ok
        image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        self.t += 1 / 30
        return image, self.tracker.track(image, self.t)

    def close(self) -> None:
        self.capture.release()
        self.tracker.close()


def drive(
    engine: RemoteEngine, driver: Driver, frames: int, pace: float = 1 / 30
) -> list[tuple[np.ndarray, int]]:
    """Feed ``frames`` frames at about ``pace`` seconds each; (output, frames_behind) of each call."""
    outputs = []
    for _ in range(frames):
        started = time.monotonic()
        image, track = driver.next()
        out = engine.animate(image, track)
        assert out.shape[:2] == engine.output_shape
        assert out.dtype == np.uint8
        outputs.append((out, engine.frames_behind))
        time.sleep(max(0.0, pace - (time.monotonic() - started)))
    return outputs


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
