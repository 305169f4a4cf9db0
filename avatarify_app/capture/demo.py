"""The scripted demo motion: a bundled clip of a portrait that nods, turns, talks, blinks and smiles.

It drives the avatar when there is no webcam (GUI) and for ``avatarify render --demo``. The clip is
made by ``scripts/make_demo_motion.py`` from a bundled portrait; it loops seamlessly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.config import DEMO_CLIP
from avatarify_app.errors import InputError

logger = logging.getLogger(__name__)


class DemoMotion:
    """Frames of the demo clip by index (looping), as RGB uint8 (size, size, 3).

    Reading in index order decodes each frame once; any other index seeks. Not thread-safe: one
    reader per thread. ``close()`` releases the decoder.
    """

    def __init__(self, size: int = 480, fps: float = 30.0, clip: Path = DEMO_CLIP) -> None:
        self.size = size
        self.fps = fps
        self._capture = cv2.VideoCapture(str(clip))
        if not self._capture.isOpened():
            raise InputError(f"the demo motion clip {clip} is missing or unreadable: reinstall the app")
        self.length = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._clip_fps = self._capture.get(cv2.CAP_PROP_FPS) or 30.0
        self._next = 0  # index of the clip frame the decoder reads next

    @property
    def duration(self) -> float:
        """Seconds of one loop."""
        return self.length / self._clip_fps

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` at ``self.fps`` (the clip is resampled in time when the rates differ)."""
        wanted = int(index * self._clip_fps / self.fps) % max(self.length, 1)
        if wanted != self._next:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, wanted)
        ok, image_bgr = self._capture.read()
        if not ok:  # some decoders stop a frame early: rewind once
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            wanted = 0
            ok, image_bgr = self._capture.read()
            if not ok:
                raise InputError("the demo motion clip could not be decoded: reinstall the app")
        self._next = (wanted + 1) % self.length
        if image_bgr.shape[0] != self.size or image_bgr.shape[1] != self.size:
            image_bgr = cv2.resize(image_bgr, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._capture.release()
