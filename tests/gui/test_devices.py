"""Device lists for the pickers: Qt's camera names mapped to OpenCV's numbers, and Qt's microphone
names matched to sounddevice's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from avatarify_app.gui import devices
from avatarify_app.gui.devices import Choice, DeviceCatalog, opencv_index
from avatarify_app.pipeline.devices import CameraInfo, sounddevice_name_for

PORTAUDIO = [
    "Microphone (Realtek High Defini",  # Windows MME: cut at 31 characters
    "HDA Intel PCH: ALC3246 Analog (hw:0,0)",
    "USB Audio Device: Audio (hw:2,0)",
    "pulse",
    "default",
]


def test_same_name_in_any_case() -> None:
    assert sounddevice_name_for("PULSE", PORTAUDIO) == "pulse"


def test_windows_cut_names_match_by_prefix() -> None:
    assert sounddevice_name_for("Microphone (Realtek High Definition Audio)", PORTAUDIO) == PORTAUDIO[0]


def test_alsa_names_contain_the_card() -> None:
    assert sounddevice_name_for("USB Audio Device", PORTAUDIO) == "USB Audio Device: Audio (hw:2,0)"


def test_no_match() -> None:
    assert sounddevice_name_for("Webcam C920 Analog Stereo", PORTAUDIO) is None
    assert sounddevice_name_for("", PORTAUDIO) is None


def test_lists_start_with_the_defaults(qtbot) -> None:
    catalog = DeviceCatalog()
    microphones = catalog.microphones()
    assert microphones[0] == Choice("Default microphone", None)
    assert all(isinstance(c.label, str) and c.label for c in microphones)
    cameras = catalog.cameras()
    assert all(isinstance(c.value, int) and c.label for c in cameras)


def test_cameras_come_from_qt_multimedia(qtbot) -> None:
    """Qt's real QMediaDevices: the test machine has no camera, so Qt lists none and neither does the
    catalog (no made-up "Camera 0")."""
    assert devices._qt_inputs("video") == []
    assert DeviceCatalog().cameras() == []


@pytest.mark.parametrize(
    ("device_id", "expected"),
    [
        ("/dev/video0", 0),
        ("/dev/video12", 12),
        ("v4l2:/dev/video3", 3),
        ("/dev/video1-meta", None),
        ("usb-0000:00:14.0-1", None),
        ("", None),
    ],
)
def test_linux_camera_ids_give_the_video_node_number(device_id: str, expected: int | None) -> None:
    assert opencv_index(device_id, position=5, system="linux") == expected


def test_a_linked_camera_id_is_followed(tmp_path: Path) -> None:
    node = tmp_path / "dev" / "video7"
    node.parent.mkdir()
    node.touch()
    link = tmp_path / "usb-Logitech_C920-video-index0"
    link.symlink_to(node)
    assert opencv_index(str(link), position=0, system="linux") == 7


@pytest.mark.parametrize("system", ["win32", "darwin"])
def test_elsewhere_cameras_are_numbered_in_qts_order(system: str) -> None:
    windows_id = r"\\?\usb#vid_046d&pid_082d&mi_00#7&1bf4f6b&0&0000#{e5323777-f976-4f5b-9b55-b94699c46e44}"
    assert opencv_index(windows_id, position=0, system=system) == 0
    assert opencv_index("0x14200000046d082d", position=2, system=system) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux camera ids")
def test_qt_cameras_are_offered_by_their_opencv_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    qt_cameras = [
        ("/dev/video2", "HD Pro Webcam C920"),
        ("/dev/video0", "Integrated Camera: Integrated C"),
        ("pipewire:42", "A camera OpenCV cannot open"),
    ]
    monkeypatch.setattr(devices, "_qt_inputs", lambda kind: qt_cameras if kind == "video" else [])
    assert DeviceCatalog().cameras() == [
        Choice("HD Pro Webcam C920", 2),
        Choice("Integrated Camera: Integrated C", 0),
    ]


def test_without_qt_multimedia_the_pipeline_lists_cameras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)  # import fails: PySide6-Addons missing
    monkeypatch.setattr(devices.devices, "cameras", lambda: [CameraInfo(4, "USB Camera")])
    monkeypatch.setattr(devices.devices, "microphones", lambda: ["pulse"])
    catalog = DeviceCatalog()
    assert catalog.cameras() == [Choice("USB Camera", 4)]
    assert catalog.microphones() == [Choice("Default microphone", None), Choice("pulse", "pulse")]
