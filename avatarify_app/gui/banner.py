"""A strip above the previews for messages the user must see (errors, the no-webcam notice)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from avatarify_app.frames import MessageLevel, UserMessage

_STYLES = {
    MessageLevel.INFO: "background: #20445f; color: #e8f2fb;",
    MessageLevel.WARNING: "background: #5c4410; color: #fff4dc;",
    MessageLevel.ERROR: "background: #6a1f1f; color: #ffe9e9;",
}


class MessageBanner(QFrame):
    """Shows one message until it is closed or replaced. ``clear(key)`` hides it only if it is still
    showing a message about ``key`` (a later message on another subject stays)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide this message")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button)
        self.message: UserMessage | None = None
        self.hide()

    @property
    def text(self) -> str:
        """The text shown ("" when hidden)."""
        return self.label.text() if self.isVisibleTo(self.parentWidget()) else ""

    def show_message(self, message: UserMessage) -> None:
        self.message = message
        self.label.setText(message.text)
        self.setStyleSheet(_STYLES[message.level])
        self.show()

    def clear(self, key: str) -> None:
        if self.message is not None and self.message.key == key:
            self.hide()
