"""Cameras, virtual camera, microphones, display: each finding and its fix, with fakes at the seams."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest
from pyvirtualcam import camera as pyvirtualcam_camera

from avatarify_app.diagnostics import Status
from avatarify_app.diagnostics.desktop import check_display, debian_package_for
from avatarify_app.diagnostics.devices import (
    CameraInfo,
    check_cameras,
    check_microphones,
    check_virtual_camera,
    probe_cameras,
)
from tests.fakes import VirtualCameraLog, memory_backend


class FakeCapture:
    """The part of cv2.VideoCapture the probe uses."""

    def __init__(self, opened: bool, delivers: bool) -> None:
        self.opened, self.delivers, self.released = opened, delivers, False

    def isOpened(self) -> bool:  # noqa: N802  (OpenCV's name)
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        return (True, np.zeros((480, 640, 3), np.uint8)) if self.delivers else (False, None)

    def release(self) -> None:
        self.released = True


def test_probe_opens_each_index_and_releases_it() -> None:
    captures = {0: FakeCapture(True, True), 1: FakeCapture(True, False), 2: FakeCapture(False, False)}

    found = probe_cameras(range(4), open_capture=captures.get)

    assert [(c.index, c.delivers, c.size) for c in found] == [(0, True, (640, 480)), (1, False, None)]
    assert all(c.released for c in captures.values())


def test_cameras_ok_lists_the_working_ones() -> None:
    check = check_cameras([CameraInfo(0, "HD Webcam", True, (1280, 720)), CameraInfo(1, "IR", False)])
    assert (check.status, check.detail) == (Status.OK, "0: HD Webcam 1280x720")


def test_no_camera_warns_that_demo_motion_will_be_used() -> None:
    check = check_cameras([CameraInfo(1, "Busy cam", False)])
    assert check.status is Status.WARN
    assert check.detail == (
        "no working camera found (1: Busy cam opened but gave no picture): "
        "the demo motion will drive the avatar"
    )


def test_virtual_camera_found_through_pyvirtualcam(monkeypatch: pytest.MonkeyPatch) -> None:
    log = VirtualCameraLog()
    monkeypatch.setattr(pyvirtualcam_camera, "BACKENDS", {"memory": memory_backend(log)})

    check = check_virtual_camera()

    assert (check.status, check.detail) == (Status.OK, "memory-camera (pyvirtualcam backend memory)")
    assert log.opened == [(64, 64, 30)]
    assert log.closed == 1


def test_no_virtual_camera_warns_with_the_os_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyvirtualcam_camera, "BACKENDS", {})
    monkeypatch.setattr(sys, "platform", "linux")

    check = check_virtual_camera()

    assert check.status is Status.WARN
    assert 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="Avatarify"' in check.fix
    monkeypatch.setattr(sys, "platform", "win32")
    assert "OBS Studio" in check_virtual_camera().fix


def test_missing_portaudio_warns_with_the_apt_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_portaudio(name: str, *args: object, **kwargs: object) -> object:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    monkeypatch.setattr(sys, "platform", "linux")

    check = check_microphones()

    assert check.status is Status.WARN
    assert check.fix == "sudo apt install libportaudio2"


def test_microphones_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    import sounddevice

    devices = [
        {"name": "Speakers", "max_input_channels": 0},
        {"name": "USB Mic", "max_input_channels": 1},
    ]
    monkeypatch.setattr(
        sounddevice, "query_devices", lambda kind=None: devices[1] if kind == "input" else devices
    )

    check = check_microphones()

    assert (check.status, check.detail) == (Status.OK, "1 input(s): USB Mic (default: USB Mic)")


def test_no_display_names_the_headless_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")

    check = check_display(environ={}, missing_libraries=["libxcb-cursor.so.0"])

    assert check.status is Status.WARN
    assert "`avatarify render`" in check.detail
    assert "`avatarify live`" in check.detail
    assert (
        check.fix
        == "run it from a desktop session; the window will also need: sudo apt install libxcb-cursor0"
    )


def test_display_with_missing_qt_libraries_says_which_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")

    check = check_display(
        environ={"DISPLAY": ":0"}, missing_libraries=["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"]
    )

    assert check.status is Status.WARN
    assert check.fix == "sudo apt install libxcb-icccm4 libxkbcommon-x11-0"
    assert check_display(environ={"DISPLAY": ":0"}, missing_libraries=[]).status is Status.OK


def test_offscreen_qt_is_a_warning() -> None:
    check = check_display(environ={"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, missing_libraries=[])
    assert check.status is Status.WARN
    assert check.fix == "unset QT_QPA_PLATFORM to see the app window"


@pytest.mark.parametrize(
    ("library", "package"),
    [
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libEGL.so.1", "libegl1"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("weird", "weird"),
    ],
)
def test_debian_package_names(library: str, package: str) -> None:
    assert debian_package_for(library) == package
