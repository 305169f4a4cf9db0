"""The window lays out cleanly at its minimum size and at 1280x720, with either engine chosen."""

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QWidget

from avatarify_app.engines import FommChoice, MeshChoice
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.main_window import MINIMUM_SIZE
from avatarify_app.gui.widgets import ElidedLabel
from avatarify_app.pipeline.settings import LiveSettings

LONG_CHECKPOINT = "vox-adv-cpk-a-very-long-checkpoint-name-from-a-download-folder.pth.tar"


def _clipped(panel: QWidget, content: QWidget) -> list[str]:
    """Visible widgets of the side panel that are narrower than they need, or stick out of it."""
    bad = []
    for widget in content.findChildren(QWidget):
        if not widget.isVisibleTo(content) or not isinstance(widget, QLabel | QAbstractButton | QComboBox):
            continue
        name = f"{type(widget).__name__} {getattr(widget, 'text', lambda: '')()!r}"
        rect = QRect(widget.mapTo(panel, widget.rect().topLeft()), widget.size())
        if rect.right() > panel.width() or rect.left() < 0:
            bad.append(f"{name} sticks out: {rect} in {panel.width()} px")
        needed = widget.minimumSizeHint().width()
        if isinstance(widget, QLabel) and not isinstance(widget, ElidedLabel) and not widget.wordWrap():
            needed = widget.sizeHint().width()
        if widget.width() < needed:
            bad.append(f"{name} is {widget.width()} px wide, needs {needed}")
    return bad


@pytest.mark.parametrize("engine", ["mesh", "fomm"])
@pytest.mark.parametrize("size", ["minimum", "1280x720"])
def test_nothing_in_the_side_panel_is_cut(qtbot, make_window, live_settings: LiveSettings, engine, size):
    choice = FommChoice(checkpoint=Path("/downloads") / LONG_CHECKPOINT) if engine == "fomm" else MeshChoice()
    window = make_window(dataclasses.replace(live_settings, engine=choice), start=False)
    window.show_message(
        UserMessage(MessageLevel.WARNING, "A long warning that goes on and on. " * 6, key="test")
    )
    window.resize(*(MINIMUM_SIZE if size == "minimum" else (1280, 720)))
    qtbot.waitUntil(lambda: window.width() == (MINIMUM_SIZE[0] if size == "minimum" else 1280))
    qtbot.wait(50)
    scroll = window.side_scroll
    bad = _clipped(scroll.viewport(), scroll.widget())
    assert not bad, "\n".join(bad)
    banner_row = window.banner.findChildren(ElidedLabel)[0]
    assert banner_row.height() < 2.2 * banner_row.fontMetrics().height(), "the banner is one line"
    assert window.preview.camera_pane.width() >= 200
    assert window.preview.camera_pane.height() >= 200
