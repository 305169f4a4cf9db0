"""The eyes, mouth and head sliders: controller settings, E / M / P, Help, and what the window remembers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from avatarify_app.engines.base import EngineOptions
from avatarify_app.gui.settings import SettingsStore
from avatarify_app.pipeline.settings import LiveSettings
from tests.gui.conftest import wait_for_frames


def test_sliders_set_the_region_strengths(qtbot, make_window) -> None:
    window = make_window(start=False)
    panel = window.view_panel
    assert {name: s.value() for name, s in panel.region_sliders.items()} == {
        "eyes": 100,
        "mouth": 100,
        "head": 100,
    }
    panel.region_sliders["mouth"].setValue(35)
    panel.region_sliders["head"].setValue(200)
    options = window.controller.settings.engine_options
    assert (options.eyes, options.mouth, options.head) == (1.0, pytest.approx(0.35), 2.0)
    assert panel.region_labels["mouth"].text() == "0.35"


def test_keys_turn_regions_off_and_back_on(qtbot, make_window) -> None:
    window = make_window()
    wait_for_frames(qtbot, window)
    sliders = window.view_panel.region_sliders
    sliders["eyes"].setValue(150)
    qtbot.keyClick(window, "E")
    assert window.controller.settings.engine_options.eyes == 0.0
    assert sliders["eyes"].value() == 0
    qtbot.keyClick(window, "E")
    assert window.controller.settings.engine_options.eyes == pytest.approx(1.5)
    qtbot.keyClick(window, "M")
    qtbot.keyClick(window, "P")
    options = window.controller.settings.engine_options
    assert (options.mouth, options.head) == (0.0, 0.0)
    qtbot.keyClick(window, "P")
    assert window.controller.settings.engine_options.head == 1.0  # never set before: back to 1


def test_help_lists_the_region_keys(qtbot, make_window) -> None:
    window = make_window(start=False)
    dialog = window.show_shortcuts()
    qtbot.addWidget(dialog)
    text = dialog.label.text()
    for key, region in (("E", "Eyes"), ("M", "Mouth"), ("P", "Head (pose)")):
        assert f"<b>{key}</b>" in text
        assert f"{region} off / on" in text


def test_region_strengths_are_remembered(
    qtbot, make_window, store: SettingsStore, settings_file: Path, live_settings: LiveSettings
) -> None:
    window = make_window(start=False)
    window.view_panel.region_sliders["eyes"].setValue(40)
    window.view_panel.region_sliders["head"].setValue(0)
    window.close()
    saved = store.load()
    assert (saved.engine_options.eyes, saved.engine_options.mouth, saved.engine_options.head) == (
        pytest.approx(0.4),
        1.0,
        0.0,
    )
    again = make_window(saved, start=False)
    assert again.view_panel.region_sliders["eyes"].value() == 40
    assert again.view_panel.region_sliders["head"].value() == 0


def test_bad_saved_region_strengths_fall_back(store: SettingsStore, settings_file: Path) -> None:
    q = QSettings(str(settings_file), QSettings.Format.IniFormat)
    q.setValue("engine/eyes", "wide")
    q.setValue("engine/mouth", "nan")
    q.setValue("engine/head", 7)
    q.sync()
    options = store.load().engine_options
    assert options == dataclasses.replace(EngineOptions(), head=2.0)
