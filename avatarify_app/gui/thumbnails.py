"""Avatar thumbnails for the gallery: the pipeline makes them (``pipeline.faces``), this delivers them
to the GUI thread as QImages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from avatarify_app.gui.images import qimage_from_rgb
from avatarify_app.pipeline.faces import THUMBNAIL_SIZE, AvatarThumbnails

__all__ = ["THUMBNAIL_SIZE", "ThumbnailLoader"]


class ThumbnailLoader(QObject):
    """Asks ``pipeline.faces.AvatarThumbnails`` for thumbnails and signals them on the GUI thread."""

    ready = Signal(str, QImage)
    """The image file (as given to ``request``) and its thumbnail, ``THUMBNAIL_SIZE`` square (a null
    ``QImage`` when the file could not be read)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._maker = AvatarThumbnails(self._deliver)

    def request(self, path: Path) -> None:
        self._maker.request(path)

    def forget(self, path: Path) -> None:
        self._maker.forget(path)

    def close(self, timeout: float = 2.0) -> None:
        self._maker.close(timeout)

    def _deliver(self, path: Path, thumbnail: np.ndarray | None) -> None:
        # Emitted from the worker thread: Qt queues it to the receivers' (GUI) thread.
        self.ready.emit(str(path), qimage_from_rgb(thumbnail) if thumbnail is not None else QImage())
