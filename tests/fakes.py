"""Fakes at the device seams, each with the interface of the real part it stands in for."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from avatarify_app.capture.webcam import WebcamSource
from avatarify_app.engines.base import Engine, EngineOptions
from avatarify_app.errors import NoFaceError
from avatarify_app.frames import FaceTrack

T = TypeVar("T")


# -- events -----------------------------------------------------------------------------------------
class EventLog:
    """Collects controller events (subscribe ``log.append``) and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self._cond = threading.Condition()

    def append(self, event: object) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[T]) -> list[T]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, predicate: Callable[[object], bool], timeout: float = 60.0, count: int = 1) -> object:
        """The ``count``-th event matching ``predicate``; fails the test after ``timeout`` seconds."""

        def matches() -> list[object]:
            return [e for e in self.events if predicate(e)]

        with self._cond:
            ok = self._cond.wait_for(lambda: len(matches()) >= count, timeout)
            assert ok, f"no event matching {predicate} within {timeout} s; got {self.summary()}"
            return matches()[count - 1]

    def messages(self) -> list[str]:
        from avatarify_app.pipeline.events import MessagePosted

        return [f"{e.message.level.value}: {e.message.text}" for e in self.of(MessagePosted)]

    def summary(self) -> str:
        kinds = collections.Counter(type(e).__name__ for e in self.events)
        return f"{dict(kinds)}; messages: {self.messages()}"


# -- virtual camera ---------------------------------------------------------------------------------
@dataclass
class VirtualCameraLog:
    """What an in-memory virtual camera received: frames (up to ``keep``), send times, its settings."""

    keep: int = 300
    frames: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    opened: list[tuple[int, int, float]] = field(default_factory=list)  # (width, height, fps)
    closed: int = 0
    sent: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        """Wait until ``count`` frames were sent (True) or ``timeout`` passed (False)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.times) >= count:
                    return True
                self.sent.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.sent.wait(remaining):
                with self.lock:
                    return len(self.times) >= count


def memory_backend(log: VirtualCameraLog) -> type:
    """A pyvirtualcam backend class (register it with ``pyvirtualcam.register_backend``) that keeps
    what it is sent in ``log``. It follows pyvirtualcam 0.15's ``Backend`` contract: keyword-only
    constructor, ``send`` of a flat uint8 array, ``close`` once, ``device``, ``native_fourcc``."""

    class MemoryCamera:
        def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw):
            self._shape = (height, width, 3)
            self._device = device or "memory-camera"
            with log.lock:
                log.opened.append((width, height, fps))

        def send(self, frame: np.ndarray) -> None:
            with log.lock:
                log.times.append(time.monotonic())
                if len(log.frames) < log.keep:
                    log.frames.append(frame.reshape(self._shape).copy())
            log.sent.set()

        def close(self) -> None:
            with log.lock:
                log.closed += 1

        def device(self) -> str:
            return self._device

        def native_fourcc(self) -> int | None:
            return None

    return MemoryCamera


# -- webcam -----------------------------------------------------------------------------------------
class FakeWebcam(WebcamSource):
    """A webcam that plays a video file (not paced by the device, so the capture stage paces it).

    ``unplug_after``: after this many frames the camera stops delivering, as if unplugged (reads fail,
    so ``read`` raises ``DeviceError``), and the next ``fail_opens`` opens fail before it comes back.
    """

    paced = False

    def __init__(self, path: Path, *, unplug_after: int | None = None, fail_opens: int = 0) -> None:
        super().__init__(index=0, width=480, height=480, fps=30.0)
        self.path = path
        self.unplug_after = unplug_after
        self.fail_opens = fail_opens
        self.opens = 0
        self.frames_read = 0
        self._unplugged = False

    def _open_capture(self) -> cv2.VideoCapture:
        self.opens += 1
        if self._unplugged and self.fail_opens > 0:
            self.fail_opens -= 1
            return cv2.VideoCapture()  # never opened, as a missing camera
        self._unplugged = False
        return cv2.VideoCapture(str(self.path))

    def read(self) -> np.ndarray | None:
        if self.unplug_after is not None and self.frames_read >= self.unplug_after and not self._unplugged:
            self._unplugged = True
            self.unplug_after = None
            assert self._capture is not None
            self._capture.release()  # reads now fail like an unplugged device's
        image = super().read()
        self.frames_read += 1
        return image


# -- engine -----------------------------------------------------------------------------------------
def frame_stamp(image: np.ndarray) -> int:
    """The number ``StillEngine`` wrote into an output frame's top-left pixel."""
    return int(image[0, 0, 0]) * 256 + int(image[0, 0, 1])


class StillEngine(Engine):
    """An engine that shows the avatar, squared and resized to ``native`` (default ``options.size``),
    with the count of ``animate`` calls that had a face stamped in the top-left pixel (``frame_stamp``).
    It keeps the Engine contract's frame rules (no face: the last output; calibrating without a face
    raises) but finds no face in the avatar (any picture will do). ``native`` other than
    ``options.size`` stands for an engine like fomm, whose model has its own frame size."""

    name = "still"
    device_name = "CPU"

    def __init__(self, options: EngineOptions | None = None, native: int | None = None) -> None:
        super().__init__(options or EngineOptions(size=64))
        self.native = native or self.options.size
        self._canvas: np.ndarray | None = None
        self._neutral: FaceTrack | None = None
        self._last: np.ndarray | None = None
        self.animated = 0

    def set_avatar(self, image: np.ndarray) -> None:
        self._canvas = cv2.resize(image, (self.native, self.native), interpolation=cv2.INTER_AREA)
        self._last = None

    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        if not track.found:
            raise NoFaceError("no face in the driving frame")
        self._neutral = track

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        assert self._canvas is not None
        if not track.found:
            return self._last if self._last is not None else self._canvas
        if self._neutral is None:
            self._neutral = track
        self.animated += 1
        out = self._canvas.copy()
        out[0, 0, :2] = divmod(self.animated % 65536, 256)  # the frame's number, to check ordering
        self._last = out
        return out

    @property
    def output_shape(self) -> tuple[int, int]:
        return self.native, self.native

    @property
    def avatar_track(self) -> FaceTrack:
        return FaceTrack.missing()

    @property
    def is_calibrated(self) -> bool:
        return self._neutral is not None
