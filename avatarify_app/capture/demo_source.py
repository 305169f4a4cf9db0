"""The scripted demo motion as a Source, for trying the app without a webcam."""

from __future__ import annotations

import numpy as np

from avatarify_app.capture.base import Source
from avatarify_app.capture.demo import DemoMotion


class DemoSource(Source):
    """Frames of ``DemoMotion`` in order, looping; the caller paces reads at ``fps``."""

    paced = False

    def __init__(self, size: int = 480, fps: float = 30.0) -> None:
        self.size = size
        self._fps = fps
        self._motion: DemoMotion | None = None
        self._index = 0

    @property
    def name(self) -> str:
        return "demo motion"

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_count(self) -> int:
        """Frames in one loop of the motion (known once open)."""
        return self._motion.length if self._motion is not None else 0

    def open(self) -> None:
        self.close()
        self._motion = DemoMotion(size=self.size, fps=self._fps)
        self._index = 0

    def read(self) -> np.ndarray | None:
        if self._motion is None:
            raise RuntimeError("DemoSource.read before open")
        image = self._motion.frame(self._index)
        self._index += 1
        return image

    def close(self) -> None:
        if self._motion is not None:
            self._motion.close()
            self._motion = None
