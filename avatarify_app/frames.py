"""Records that travel between threads and modules. This module imports nothing of ours.

Convention: images are RGB uint8 arrays of shape (H, W, 3); pixel coordinates are (x, y) with the
origin at the top-left pixel's centre; times are seconds from ``time.monotonic()``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Head rotation in degrees: yaw (+ = the face turns to the image's right), pitch (+ = up), roll
    (+ = the face tilts clockwise in the image)."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True, slots=True)
class FaceTrack:
    """What the tracker found in one image. A frame without a face is ``FaceTrack.missing()``.

    Attributes:
        found: whether a face was found; every other field is None when it is False.
        landmarks: (478, 3) float32 pixel coordinates (x, y, z); z is depth in the same pixel scale,
            negative towards the camera (MediaPipe FaceMesh with iris, indices as MediaPipe's).
        box: (x0, y0, x1, y1) float face box in pixels, from the landmarks.
        pose: head pose estimated from the landmarks.
    """

    found: bool
    landmarks: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    pose: HeadPose | None = None

    @classmethod
    def missing(cls) -> FaceTrack:
        return cls(found=False)


@dataclass(frozen=True, slots=True)
class Frame:
    """One driving image from a source (camera, video file, demo motion).

    Attributes:
        image: RGB uint8 (H, W, 3).
        index: running number from the source, starting at 0; gaps mean dropped frames.
        t_capture: when the source produced it (``time.monotonic()``).
    """

    image: np.ndarray
    index: int
    t_capture: float


class MessageLevel(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A sentence for the person in front of the app (status bar, banner, CLI line).

    ``key`` groups messages about the same thing (``"camera"``, ``"virtual_camera"``, ...) so a later
    message can replace an earlier one in the UI.
    """

    level: MessageLevel
    text: str
    key: str = field(default="general")
