"""Frames for int8 calibration: only what the project ships (the demo motion and the bundled avatars).

NNCF's post-training quantization measures the activations' ranges on these. Faces are cropped as the
engine crops them, at the config's frame size.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.avatars import bundled_avatars, load_image
from avatarify_app.config import DEMO_CLIP
from avatarify_app.tracking import FaceTracker, TrackerOptions, crop_face

logger = logging.getLogger(__name__)

DRIVING_FRAMES = 8


def shipped_faces(
    size: int, driving_frames: int = DRIVING_FRAMES
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Face crops (size, size, 3) RGB uint8: (the bundled avatars, frames spread over the demo motion).

    The demo's first frame (its neutral pose) comes first. Images without a face are skipped.
    """
    with FaceTracker(TrackerOptions(static=True, smoothing=None, max_faces=1)) as tracker:

        def crop(image: np.ndarray) -> np.ndarray | None:
            track = tracker.track(image)
            return crop_face(image, track.box, size).image if track.found and track.box else None

        avatars = [c for path in bundled_avatars() if (c := crop(load_image(path))) is not None]
        driving = [c for frame in _demo_frames(DEMO_CLIP, driving_frames) if (c := crop(frame)) is not None]
    logger.info("int8 calibration: %d avatar and %d driving faces", len(avatars), len(driving))
    return avatars, driving


def _demo_frames(clip: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over ``clip`` (RGB uint8), the first frame first."""
    capture = cv2.VideoCapture(str(clip))
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        wanted = set(np.linspace(0, max(total - 1, 0), count).astype(int).tolist())
        frames = []
        for index in range(max(wanted, default=-1) + 1):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        return frames
    finally:
        capture.release()
