"""Device lists for the pickers, and matching Qt's microphone names to sounddevice's."""

from __future__ import annotations

from avatarify_app.gui.devices import Choice, DeviceCatalog
from avatarify_app.pipeline.devices import sounddevice_name_for

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
    # The cameras the OS lists, by name: none on the test machine (no made-up "Camera 0-4").
    cameras = catalog.cameras()
    assert all(isinstance(c.value, int) and c.label for c in cameras)
