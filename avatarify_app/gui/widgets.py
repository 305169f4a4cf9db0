"""Small widgets the panels share."""

from __future__ import annotations

from PySide6.QtCore import QSize, QStandardPaths, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """A one-line label that cuts its text with "…" to fit its width instead of growing or being
    clipped; the whole text is its tooltip when cut. ``full_text()`` is the text as given."""

    elided_changed = Signal(bool)

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._elided = False
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def is_elided(self) -> bool:
        return self._elided

    def setText(self, text: str) -> None:  # noqa: N802  (Qt's name)
        self._full = text
        self._fit()

    def minimumSizeHint(self) -> QSize:  # noqa: N802  (Qt's name)
        return QSize(16, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt's name)
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 4, super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802  (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 16))
        super().setText(shown)
        elided = shown != self._full
        self.setToolTip(self._full if elided else "")
        if elided != self._elided:
            self._elided = elided
            self.elided_changed.emit(elided)


def pictures_folder() -> str:
    """Where file dialogs for images open: the user's Pictures folder (the home folder without one)."""
    return _standard_folder(QStandardPaths.StandardLocation.PicturesLocation)


def videos_folder() -> str:
    """Where file dialogs for videos open: the user's Videos folder (the home folder without one)."""
    return _standard_folder(QStandardPaths.StandardLocation.MoviesLocation)


def _standard_folder(location: QStandardPaths.StandardLocation) -> str:
    return QStandardPaths.writableLocation(location) or QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.HomeLocation
    )
