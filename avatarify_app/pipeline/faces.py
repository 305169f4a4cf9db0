"""The avatar's face, found once per avatar image and shared: gallery thumbnails, the preview's overlay;
and the gallery's list of avatar files (``avatar_files``).

Face detection takes a while, so thumbnails are made on a worker thread (``AvatarThumbnails``); each
file is looked at once and its result kept. The avatar in use has its face found by the engine
already: ``face_square`` cuts it out for ``AvatarChanged.face``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.avatars import avatar_files, load_image
from avatarify_app.errors import AvatarifyError
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import FaceTracker, TrackerOptions, crop_face
from avatarify_app.tracking.landmarks import FACE_OVAL, LEFT_EYE, LIPS_INNER, LIPS_OUTER, RIGHT_EYE

logger = logging.getLogger(__name__)

__all__ = [
    "FACE_CONTOURS",
    "FACE_SQUARE_SIZE",
    "THUMBNAIL_SIZE",
    "AvatarThumbnails",
    "avatar_files",
    "face_square",
    "make_thumbnail",
]

THUMBNAIL_SIZE = 96  # pixels, square
FACE_SQUARE_SIZE = 512  # side of the avatar face square the preview blends over the camera, pixels
# The landmark contours the preview draws over the camera face (indices into ``FaceTrack.landmarks``).
FACE_CONTOURS = (FACE_OVAL, RIGHT_EYE, LEFT_EYE, LIPS_OUTER, LIPS_INNER)


def face_square(image: np.ndarray, track: FaceTrack, size: int = FACE_SQUARE_SIZE) -> np.ndarray:
    """A ``size`` square RGB uint8 cut of ``image`` framed as a face crop around ``track``'s face
    (the image's centre when there is no face)."""
    if track.found and track.box is not None:
        return crop_face(image, track.box, size).image
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def make_thumbnail(image: np.ndarray, tracker: FaceTracker, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A ``size`` square RGB uint8 cut of ``image`` around its largest face (its centre when none)."""
    return face_square(image, tracker.track(image), size)


class AvatarThumbnails:
    """Makes square thumbnails on the ``avatar-thumbnails`` thread, started by the first ``request``.

    ``on_ready(path, thumbnail)`` is called on that thread for each request, with the thumbnail
    (``THUMBNAIL_SIZE`` square RGB uint8) or None when the file could not be read. A file asked for
    again is answered from what was made before. ``close()`` stops the thread (it finishes the image
    in hand first).
    """

    _STOP = object()

    def __init__(self, on_ready: Callable[[Path, np.ndarray | None], None]) -> None:
        self._on_ready = on_ready
        self._requests: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._made: dict[Path, np.ndarray | None] = {}

    def request(self, path: Path) -> None:
        if self._closed.is_set():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="avatar-thumbnails", daemon=True)
            self._thread.start()
        self._requests.put(Path(path))

    def forget(self, path: Path) -> None:
        """Drop what was made for ``path`` (the file was renamed or removed)."""
        self._made.pop(Path(path), None)

    def close(self, timeout: float = 2.0) -> None:
        self._closed.set()
        self._requests.put(self._STOP)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("thumbnail thread still busy after %.1f s", timeout)

    def _run(self) -> None:
        tracker: FaceTracker | None = None
        try:
            while True:
                item = self._requests.get()
                if item is self._STOP or self._closed.is_set():
                    return
                assert isinstance(item, Path)
                if item not in self._made:
                    if tracker is None:
                        tracker = FaceTracker(TrackerOptions(static=True, smoothing=None, max_faces=4))
                    try:
                        self._made[item] = make_thumbnail(load_image(item), tracker)
                    except AvatarifyError as exc:
                        logger.info("no thumbnail for %s: %s", item, exc)
                        self._made[item] = None
                if not self._closed.is_set():
                    self._on_ready(item, self._made.get(item))
        except Exception:
            logger.exception("the thumbnail thread failed")
        finally:
            if tracker is not None:
                tracker.close()
