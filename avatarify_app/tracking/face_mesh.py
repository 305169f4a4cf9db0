"""MediaPipe FaceMesh wrapper: 478 landmarks with iris, face box, head pose, optional smoothing."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from avatarify_app.errors import InputError
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking.one_euro import OneEuroFilter, OneEuroParams
from avatarify_app.tracking.pose import estimate_pose

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrackerOptions:
    """``static``: detect in every image (avatars, stills); else track frame to frame (streams).
    ``smoothing``: One Euro parameters for landmarks and box, None for raw landmarks.
    ``max_faces``: faces looked for; the largest one wins. In stream mode each extra face makes
    MediaPipe run its detector on every frame that shows fewer faces, so streams default to 1."""

    static: bool = False
    smoothing: OneEuroParams | None = field(default_factory=OneEuroParams)
    max_faces: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5


class FaceTracker:
    """Finds one face per image with MediaPipe FaceMesh (refined landmarks: 478 points with iris).

    A tracker holds MediaPipe's graph and its smoothing state: one tracker per stream, used from one
    thread. ``close()`` frees the graph; the tracker is also a context manager.
    """

    def __init__(self, options: TrackerOptions | None = None) -> None:
        import mediapipe as mp  # heavy import, deferred until a tracker is needed

        self.options = options or TrackerOptions()
        self._quiet_frames = 5  # MediaPipe's start-up chatter lasts a few images
        with _native_stderr_silenced():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=self.options.static,
                max_num_faces=self.options.max_faces,
                refine_landmarks=True,
                min_detection_confidence=self.options.min_detection_confidence,
                min_tracking_confidence=self.options.min_tracking_confidence,
            )
        smoothing = self.options.smoothing
        self._filter = OneEuroFilter(smoothing) if smoothing is not None else None

    def track(self, image: np.ndarray, t: float | None = None) -> FaceTrack:
        """Find the face in ``image`` (RGB uint8, (H, W, 3)); ``t`` (seconds) drives the smoothing.

        A frame without a face returns ``FaceTrack.missing()`` and resets the smoothing.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        if self._quiet_frames:
            with _native_stderr_silenced():
                result = self._mesh.process(np.ascontiguousarray(image))
            self._quiet_frames -= 1
        else:
            result = self._mesh.process(np.ascontiguousarray(image))
        if not result.multi_face_landmarks:
            if self._filter is not None:
                self._filter.reset()
            return FaceTrack.missing()
        faces = [
            np.array([(p.x * w, p.y * h, p.z * w) for p in face.landmark], dtype=np.float32)
            for face in result.multi_face_landmarks
        ]
        points = max(faces, key=_face_area)
        if self._filter is not None and t is not None:
            points = self._filter(points, t).astype(np.float32)
        return track_from_landmarks(points)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track_from_landmarks(points: np.ndarray) -> FaceTrack:
    """Build a found ``FaceTrack`` (box and pose) from (478, 3) pixel landmarks."""
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    return FaceTrack(
        found=True,
        landmarks=points,
        box=(float(x0), float(y0), float(x1), float(y1)),
        pose=estimate_pose(points),
    )


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide what MediaPipe's C++ side prints while it builds its graph and meets its first image.

    It writes a dozen INFO/WARNING lines (XNNPACK delegate, feedback tensors) straight to file
    descriptor 2, which ``GLOG_minloglevel`` does not reach; users would take them for errors.
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _face_area(points: np.ndarray) -> float:
    span = points[:, :2].max(axis=0) - points[:, :2].min(axis=0)
    return float(span[0] * span[1])


def detect_face(image: np.ndarray) -> FaceTrack:
    """One-off detection in a still image (static mode, no smoothing, the largest of up to 4 faces)."""
    with FaceTracker(TrackerOptions(static=True, smoothing=None, max_faces=4)) as tracker:
        return tracker.track(image)
