"""Starting the app: the display check, the environment OpenCV leaves behind, the CLI's one line."""

from __future__ import annotations

import sys

import pytest

from avatarify_app.cli import main
from avatarify_app.errors import DeviceError
from avatarify_app.gui.app import NO_DISPLAY_TEXT, clean_qt_environment, require_display


@pytest.mark.parametrize(
    "environ",
    [
        {"DISPLAY": ":0"},
        {"WAYLAND_DISPLAY": "wayland-0"},
        {"QT_QPA_PLATFORM": "offscreen"},
        {"QT_QPA_PLATFORM": "vnc:size=800x600"},
        {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"},
    ],
)
def test_a_display_or_an_offscreen_platform_is_enough(environ: dict[str, str]) -> None:
    require_display(environ, platform="linux")


@pytest.mark.parametrize(
    "environ", [{}, {"QT_QPA_PLATFORM": "xcb"}, {"QT_QPA_PLATFORM": "wayland", "DISPLAY": ":0"}]
)
def test_no_display_on_linux_is_a_device_error(environ: dict[str, str]) -> None:
    with pytest.raises(DeviceError) as raised:
        require_display(environ, platform="linux")
    assert str(raised.value) == NO_DISPLAY_TEXT
    assert "`avatarify render`" in NO_DISPLAY_TEXT
    assert "`avatarify live`" in NO_DISPLAY_TEXT


def test_other_systems_always_have_a_display() -> None:
    require_display({}, platform="win32")
    require_display({}, platform="darwin")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check only applies to Linux")
@pytest.mark.parametrize("argv", [["avatarify"], ["avatarify", "gui"]])
def test_avatarify_without_display_prints_one_line(argv: list[str], monkeypatch, capsys) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", argv)
    assert main() == 2
    err = capsys.readouterr().err
    assert err == f"avatarify: {NO_DISPLAY_TEXT}\n"


def test_opencv_qt_variables_are_removed() -> None:
    environ = {
        "QT_QPA_PLATFORM_PLUGIN_PATH": "/cv2/qt/plugins",
        "QT_QPA_FONTDIR": "/cv2/qt/fonts",
        "HOME": "/h",
    }
    clean_qt_environment(environ)
    assert environ == {"HOME": "/h"}
