"""Video file source: a clip played as if it were a camera (paced by the caller, looping)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.capture.base import Source
from avatarify_app.errors import InputError

logger = logging.getLogger(__name__)


class VideoFileSource(Source):
    """Frames of a video file at its own fps (the caller paces ``read``), rewinding at the end when
    ``loop``. Convention: frames are converted once from OpenCV's BGR to RGB uint8 (H, W, 3)."""

    paced = False

    def __init__(self, path: str | Path, loop: bool = True) -> None:
        self.path = Path(path)
        self.loop = loop
        self._capture: cv2.VideoCapture | None = None
        self._fps = 30.0
        self.frame_count = 0  # frames in the file, as its header says (known once open)
        self._frame_time: float | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_time(self) -> float | None:
        """The last frame's presentation time in the file (seconds), as the demuxer gives it."""
        return self._frame_time

    def open(self) -> None:
        self.close()
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such video file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise InputError(f"{self.path}: not a readable video (expected MP4, MOV, AVI, MKV or WebM)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        self._fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self.frame_count = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self._capture = capture
        logger.info("opened %s at %.3g fps%s", self.path, self._fps, ", looping" if self.loop else "")

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            raise InputError(f"{self.path}: the video is not open")
        ok, image_bgr = self._capture.read()
        if not ok and self.loop:
            ok, image_bgr = self._rewind()
        if not ok:
            if self.loop:
                raise InputError(f"{self.path}: no frame could be decoded")
            return None
        msec = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        self._frame_time = msec / 1000.0 if math.isfinite(msec) and msec >= 0 else None
        return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)

    def _rewind(self) -> tuple[bool, np.ndarray]:
        """Start again from the first frame. Seeking fails on some files (a one-frame clip): those are
        opened again instead."""
        assert self._capture is not None
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, image_bgr = self._capture.read()
        if not ok:
            self._capture.release()
            self._capture = cv2.VideoCapture(str(self.path))
            ok, image_bgr = self._capture.read()
        return ok, image_bgr

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
