"""Frames for int8 calibration: what the project ships (the demo motion and the bundled avatars), and
made variations of the driving frames (mirrored, cropped tighter and looser, darker and brighter), so
the ranges NNCF measures cover the motion and lighting a real webcam gives, not one clip's.

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
# (horizontal flip, crop scale around the face box, brightness gain) of each made variation.
VARIATIONS = ((True, 1.0, 1.0), (False, 0.85, 1.0), (False, 1.2, 1.0), (False, 1.0, 0.7), (True, 1.1, 1.25))


def calibration_faces(
    size: int, driving_frames: int = DRIVING_FRAMES, clip: Path | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``shipped_faces`` plus ``VARIATIONS`` of each driving face (after the originals; the neutral
    first frame stays first). ``clip``: another driving clip than the demo motion."""
    with FaceTracker(TrackerOptions(static=True, smoothing=None, max_faces=1)) as tracker:
        avatars = []
        for path in bundled_avatars():
            image = load_image(path)
            track = tracker.track(image)
            if track.found and track.box:
                avatars.append(crop_face(image, track.box, size).image)
        driving: list[np.ndarray] = []
        made: list[np.ndarray] = []
        for frame in _demo_frames(clip or DEMO_CLIP, driving_frames):
            track = tracker.track(frame)
            if not (track.found and track.box):
                continue
            driving.append(crop_face(frame, track.box, size).image)
            made += [_vary(frame, track.box, size, *v) for v in VARIATIONS]
    logger.info("int8 calibration: %d avatar and %d driving faces", len(avatars), len(driving) + len(made))
    return avatars, driving + made


def _vary(
    frame: np.ndarray,
    box: tuple[float, float, float, float],
    size: int,
    flip: bool,
    scale: float,
    gain: float,
) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy, half_w, half_h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    face = crop_face(frame, (cx - half_w, cy - half_h, cx + half_w, cy + half_h), size).image
    if flip:
        face = face[:, ::-1]
    return np.clip(face.astype(np.float32) * gain, 0, 255).astype(np.uint8)


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
