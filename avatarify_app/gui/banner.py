"""A strip above the previews for messages the user must see (errors, the no-webcam notice)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.widgets import ElidedLabel

_STYLES = {
    MessageLevel.INFO: "background: #20445f; color: #e8f2fb;",
    MessageLevel.WARNING: "background: #5c4410; color: #fff4dc;",
    MessageLevel.ERROR: "background: #6a1f1f; color: #ffe9e9;",
}


class _Row(QFrame):
    """One message on one line (cut with "…" when too long, with a Details button that unfolds it)
    and its close button."""

    def __init__(self, message: UserMessage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = ElidedLabel()
        self.full_label = QLabel()  # the whole message, wrapped: shown by Details
        self.full_label.setWordWrap(True)
        self.full_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.full_label.hide()
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setAutoRaise(True)
        self.details_button.setToolTip("Show the whole message")
        self.details_button.hide()
        self.details_button.toggled.connect(self._unfold)
        self.label.elided_changed.connect(self._on_elided)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide this message")
        self.close_button.setAutoRaise(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.full_label, 1)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.show_message(message)

    def show_message(self, message: UserMessage) -> None:
        self.message = message
        self.label.setText(message.text)
        self.full_label.setText(message.text)
        self.setStyleSheet(_STYLES[message.level])

    def _on_elided(self, elided: bool) -> None:
        self.details_button.setVisible(elided or self.details_button.isChecked())

    def _unfold(self, on: bool) -> None:
        self.label.setVisible(not on)
        self.full_label.setVisible(on)
        self.details_button.setText("Less" if on else "Details")


class MessageBanner(QWidget):
    """Shows one row per subject (``UserMessage.key``), newest at the bottom, until it is closed or
    replaced: a message about a subject replaces the earlier one about it, and ``clear(key)`` removes it,
    so the no-webcam notice and a virtual-camera warning are both seen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._rows: dict[str, _Row] = {}
        self.hide()

    @property
    def text(self) -> str:
        """The texts shown, one line each ("" when nothing is shown)."""
        return "\n".join(row.message.text for row in self._rows.values())

    @property
    def close_button(self) -> QToolButton | None:
        """The close button of the newest message."""
        return next(reversed(self._rows.values())).close_button if self._rows else None

    def show_message(self, message: UserMessage) -> None:
        row = self._rows.pop(message.key, None)
        if row is None:
            row = _Row(message, self)
            row.close_button.clicked.connect(lambda _=False, key=message.key: self.clear(key))
        else:
            row.show_message(message)
            self._layout.removeWidget(row)
        self._rows[message.key] = row
        self._layout.addWidget(row)
        self.show()

    def clear(self, key: str) -> None:
        row = self._rows.pop(key, None)
        if row is not None:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.setVisible(bool(self._rows))
