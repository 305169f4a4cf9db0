"""Avatar thumbnails, cut around the face, made on a worker thread (face detection takes a while)."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from avatarify_app.avatars import load_image
from avatarify_app.errors import AvatarifyError
from avatarify_app.gui.images import qimage_from_rgb
from avatarify_app.tracking import FaceTracker, TrackerOptions, crop_face

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = 96  # pixels, square


class ThumbnailLoader(QObject):
    """Makes square thumbnails on the ``gui-thumbnails`` thread, started by the first ``request``.

    Each thumbnail is cut around the largest face (``tracking.crop_face``), or from the image's centre
    when there is none. ``close()`` stops the thread (it finishes the image in hand first).
    """

    ready = Signal(str, QImage)
    """The image file (as given to ``request``) and its thumbnail, ``THUMBNAIL_SIZE`` square (a null
    ``QImage`` when the file could not be read)."""

    _STOP = object()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._requests: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def request(self, path: Path) -> None:
        if self._closed.is_set():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gui-thumbnails", daemon=True)
            self._thread.start()
        self._requests.put(path)

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
                if tracker is None:
                    tracker = FaceTracker(TrackerOptions(static=True, smoothing=None, max_faces=4))
                try:
                    image = qimage_from_rgb(make_thumbnail(load_image(item), tracker))
                except AvatarifyError as exc:
                    logger.info("no thumbnail for %s: %s", item, exc)
                    image = QImage()
                if not self._closed.is_set():
                    self.ready.emit(str(item), image)
        except Exception:
            logger.exception("the thumbnail thread failed")
        finally:
            if tracker is not None:
                tracker.close()


def make_thumbnail(image: np.ndarray, tracker: FaceTracker, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A ``size`` square RGB uint8 cut of ``image`` around its face (its centre when there is none)."""
    track = tracker.track(image)
    if track.found and track.box is not None:
        return crop_face(image, track.box, size).image
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
