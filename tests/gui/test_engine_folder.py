"""An engine that needs a folder of weights (LivePortrait) asks for a folder when picked, and the
window loads it from the catalog entry alone (random tiny weights in the released folder form)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from avatarify_app.engines.catalog import LivePortraitChoice
from tests.gui.conftest import wait_for_frames


def test_picking_liveportrait_asks_for_its_folder(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    from avatarify_app.engines.liveportrait.checkpoint import build_models
    from avatarify_app.engines.liveportrait.config import LivePortraitConfig
    from tests.engines.liveportrait.liveportrait_helpers import randomize_, save_models

    folder = save_models(
        tmp_path / "liveportrait", randomize_(build_models(LivePortraitConfig.tiny()), seed=1)
    )
    asked: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda *a, **k: asked.append(a[1]) or str(folder)
    )
    window = make_window()
    panel = window.source_panel
    qtbot.waitUntil(lambda: not panel.loading, timeout=15_000)
    with qtbot.waitSignal(window.bridge.engine_changed, timeout=60_000) as changed:
        panel.engine_combo.setCurrentIndex(panel.engine_combo.findData("liveportrait"))
        panel.engine_combo.activated.emit(panel.engine_combo.currentIndex())
    assert asked == ["Choose the LivePortrait checkpoint folder"]
    assert changed.args == [LivePortraitChoice(checkpoint=folder), "CPU, torch fp32"]
    assert panel.device_label.text() == "LivePortrait on CPU, torch fp32"
    assert panel.checkpoint_button.text() == "liveportrait"
    assert panel.quality_combo.isEnabled()
    wait_for_frames(qtbot, window, count=2)
