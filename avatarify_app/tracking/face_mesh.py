"""MediaPipe FaceMesh wrapper: 478 landmarks with iris, face box, head pose, optional smoothing."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from avatarify_app.frames import FaceTrack, check_rgb
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
            # The graph's threads open their models (and print) once it meets an image: a blank one
            # here, so that happens while stderr is silenced rather than just after.
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        smoothing = self.options.smoothing
        self._filter = OneEuroFilter(smoothing) if smoothing is not None else None

    def track(self, image: np.ndarray, t: float | None = None) -> FaceTrack:
        """Find the face in ``image`` (RGB uint8, (H, W, 3)); ``t`` (seconds) drives the smoothing.

        A frame without a face returns ``FaceTrack.missing()`` and resets the smoothing.
        """
        check_rgb(image, "image to track")
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


class _NativeStderr:
    """File descriptor 2 pointed at the null device while any thread asks for it (counted).

    Trackers start on several threads at once (the live inference stage, the avatar's face, gallery
    thumbnails): each redirecting and restoring fd 2 on its own let one restore the real stderr while
    another was still starting, and MediaPipe's chatter reached the console.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: int | None = None

    @contextlib.contextmanager
    def silenced(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                try:
                    saved = os.dup(2)
                    with open(os.devnull, "wb") as devnull:
                        os.dup2(devnull.fileno(), 2)
                    self._saved = saved
                except OSError:
                    self._saved = None
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._saved is not None:
                    os.dup2(self._saved, 2)
                    os.close(self._saved)
                    self._saved = None


_NATIVE_STDERR = _NativeStderr()


def _native_stderr_silenced() -> contextlib.AbstractContextManager[None]:
    """Hide what MediaPipe's C++ side prints while it builds its graph and meets its first images.

    It writes a dozen INFO/WARNING lines (TFLite's XNNPACK delegate, absl's feedback-tensor warnings)
    straight to file descriptor 2, which neither ``GLOG_minloglevel`` nor ``TF_CPP_MIN_LOG_LEVEL``
    reaches; users would take them for errors.
    """
    return _NATIVE_STDERR.silenced()


def _face_area(points: np.ndarray) -> float:
    span = points[:, :2].max(axis=0) - points[:, :2].min(axis=0)
    return float(span[0] * span[1])


def detect_face(image: np.ndarray) -> FaceTrack:
    """One-off detection in a still image (static mode, no smoothing, the largest of up to 4 faces)."""
    with FaceTracker(TrackerOptions(static=True, smoothing=None, max_faces=4)) as tracker:
        return tracker.track(image)
