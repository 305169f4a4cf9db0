"""Records that travel between threads and modules, and the check of the image convention. This
module imports nothing of ours but ``errors``.

Convention: images are RGB uint8 arrays of shape (H, W, 3); pixel coordinates are (x, y) with the
origin at the top-left pixel's centre; times are seconds from ``time.monotonic()``. ``check_rgb``
is the one guard for it, at the edges where images come in (engines, tracker, writers, window).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from avatarify_app.errors import InputError


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


def check_rgb(image: object, what: str, shape: tuple[int, int] | None = None, *, grey: bool = False) -> None:
    """Raise ``InputError`` unless ``image`` follows the convention: an RGB uint8 array (H, W, 3).

    ``what`` names the image in the message (``"avatar"``: "the avatar must be ..."); ``shape``:
    the (H, W) it must have, if any; ``grey``: a grey (H, W) uint8 array is accepted too. The
    message says what was expected and what came: "the avatar must be an RGB image of shape
    (H, W, 3) and type uint8; got shape (4, 4) and float64".
    """
    if isinstance(image, np.ndarray):
        rgb = image.ndim == 3 and image.shape[2] == 3
        fits = (rgb or (grey and image.ndim == 2)) and (shape is None or image.shape[:2] == tuple(shape))
        if fits and image.dtype == np.uint8:
            return
        found = f"shape {image.shape} and {image.dtype}"
    else:
        found = f"a {type(image).__name__}, not an array"
    h, w = shape if shape is not None else ("H", "W")
    expected = f"({h}, {w}, 3)" + (f" or a grey one of shape ({h}, {w})," if grey else "")
    raise InputError(f"the {what} must be an RGB image of shape {expected} and type uint8; got {found}")


def as_sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop, for the status line. A first word that is
    not a plain word (a file name such as ``me.jpg``) keeps its spelling."""
    text = text.strip()
    if not text:
        return text
    if text.split()[0].isalpha():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
