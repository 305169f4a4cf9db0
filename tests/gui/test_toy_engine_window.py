"""The window's engine picker comes from the catalog: a toy engine registered at run time (defined in
``tests/toy_engine.py``) is listed with its label and tip, loads when picked, and its choice is saved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from avatarify_app.engines.catalog import registered
from avatarify_app.gui.settings import SettingsStore
from tests.gui.conftest import wait_for_frames
from tests.toy_engine import TOY, ToyChoice


@pytest.fixture
def toy() -> Iterator[None]:
    with registered(TOY):
        yield


def test_the_picker_lists_a_new_engine_and_loads_it(qtbot, make_window, store: SettingsStore, toy) -> None:
    window = make_window()
    panel = window.source_panel
    row = panel.engine_combo.findData("toy")
    assert row >= 0, "the toy engine is in the picker"
    assert panel.engine_combo.itemText(row) == "Toy (test)"
    assert panel.engine_combo.itemData(row, Qt.ItemDataRole.ToolTipRole) == TOY.tip
    qtbot.waitUntil(lambda: not panel.loading, timeout=15_000)
    with qtbot.waitSignal(window.bridge.engine_changed, timeout=30_000) as changed:
        panel.engine_combo.setCurrentIndex(row)
        panel.engine_combo.activated.emit(row)
    assert changed.args == [ToyChoice(), "CPU, toy"]
    assert panel.device_label.text() == "Toy on CPU, toy"
    assert not panel.checkpoint_button.isEnabled(), "the toy needs no file"
    assert not panel.quality_combo.isEnabled(), "nor has it precisions"
    wait_for_frames(qtbot, window, count=2)
    store.save(window.controller.settings)
    assert store.load().engine == ToyChoice()
