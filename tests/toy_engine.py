"""A toy engine defined by the tests alone, to prove the engine seam: registered in the catalog at run
time, it shows up in the window's picker, ``render --engine toy`` and the contract suite, with no file
outside ``engines/`` and ``tests/`` naming it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from avatarify_app.engines import Engine, EngineChoice, EngineContext, EngineInfo, EngineOptions
from avatarify_app.engines.catalog import option
from avatarify_app.errors import NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import detect_face
from avatarify_app.tracking.landmarks import mouth_opening


@dataclass(frozen=True, slots=True)
class ToyChoice(EngineChoice):
    engine: ClassVar[str] = "toy"
    tint: float = option("--toy-tint", "toy: how red an open mouth makes the avatar", default=0.5)


class ToyEngine(Engine):
    """The avatar squared to ``size``, reddened as much as the driver opens the mouth beyond its
    neutral opening (times ``tint``, ``strength`` and ``mouth``)."""

    name = "toy"
    device_name = "CPU, toy"

    def __init__(self, options: EngineOptions, tint: float) -> None:
        super().__init__(options)
        self.tint = tint
        self._canvas: np.ndarray | None = None
        self._track = FaceTrack.missing()
        self._neutral: float | None = None
        self._last: np.ndarray | None = None

    def set_avatar(self, image: np.ndarray) -> None:
        track = detect_face(image)
        if not track.found:
            raise NoFaceError("no face found in the avatar image: choose a portrait")
        size = self.options.size
        self._canvas = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        self._track, self._last = track, None

    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        if not track.found or track.landmarks is None:
            raise NoFaceError("no face in the driving frame: look into the camera")
        self._neutral = mouth_opening(track.landmarks)

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        assert self._canvas is not None, "set_avatar first"
        if not track.found or track.landmarks is None:
            return self._last if self._last is not None else self._canvas
        if self._neutral is None:
            self.calibrate(image, track)
        assert self._neutral is not None
        opening = max(mouth_opening(track.landmarks) - self._neutral, 0.0)
        red = np.clip(self._canvas[..., 0] + 800 * opening * self.tint * self.strength * self.mouth, 0, 255)
        out = self._canvas.copy()
        out[..., 0] = red.astype(np.uint8)
        self._last = out
        return out

    @property
    def output_shape(self) -> tuple[int, int]:
        return self.options.size, self.options.size

    @property
    def avatar_track(self) -> FaceTrack:
        return self._track

    @property
    def is_calibrated(self) -> bool:
        return self._neutral is not None


def _build(choice: ToyChoice, options: EngineOptions, context: EngineContext) -> Engine:
    return ToyEngine(options, tint=choice.tint)


TOY = EngineInfo(
    name="toy",
    label="Toy (test)",
    tip="Reddens the avatar as the mouth opens: a test of the engine seam",
    choice=ToyChoice,
    factory=_build,
)
