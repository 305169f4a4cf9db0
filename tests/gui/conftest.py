"""Fixtures for the window: the real Controller on the shared driving clip, isolated settings, and
device stand-ins (cameras, microphone, virtual camera) for the devices a test machine lacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import pyvirtualcam
from PySide6.QtCore import QSettings, QStandardPaths
from pyvirtualcam import camera as pyvirtualcam_camera

from avatarify_app.config import SourceSpec, VirtualCameraSettings
from avatarify_app.errors import DeviceError
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.devices import Choice, DeviceCatalog
from avatarify_app.gui.main_window import MainWindow
from avatarify_app.gui.settings import SettingsStore
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.settings import LiveSettings
from tests.fakes import VirtualCameraLog, memory_backend

GUI_MEMORY_BACKEND = "avatarify-gui-test-memory"


class StubDevices(DeviceCatalog):
    """The cameras the test says (one by default); the real microphone listing."""

    def __init__(self, cameras: list[Choice] | None = None) -> None:
        self._cameras = [Choice("Test camera", 0)] if cameras is None else cameras

    def cameras(self) -> list[Choice]:
        return list(self._cameras)


def no_microphone(device, callback):
    """An ``audio_input_factory`` for a machine without a microphone: recordings are video-only."""
    raise DeviceError("no microphone on the test machine")


@pytest.fixture(autouse=True)
def _standard_paths_in_test_mode() -> Iterator[None]:
    """Any QStandardPaths lookup a test forgets to inject lands in ~/.qttest, never in real folders."""
    QStandardPaths.setTestModeEnabled(True)
    yield
    QStandardPaths.setTestModeEnabled(False)


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "settings" / "avatarify-app.ini"


@pytest.fixture
def store(settings_file: Path) -> SettingsStore:
    """Settings in an ini file of the test's own (never the user's)."""
    return SettingsStore(QSettings(str(settings_file), QSettings.Format.IniFormat))


@pytest.fixture
def live_settings(driving_video: Path) -> LiveSettings:
    """The shared clip as the camera, the bundled default avatar, the virtual camera off."""
    return LiveSettings(
        source=SourceSpec(kind="video", path=driving_video),
        virtual_camera=VirtualCameraSettings(enabled=False),
    )


@pytest.fixture
def vcam_log() -> Iterator[VirtualCameraLog]:
    """An in-memory virtual camera, registered as pyvirtualcam backend ``GUI_MEMORY_BACKEND``."""
    log = VirtualCameraLog()
    pyvirtualcam.register_backend(GUI_MEMORY_BACKEND, memory_backend(log))
    yield log
    pyvirtualcam_camera.BACKENDS.pop(GUI_MEMORY_BACKEND, None)


WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot, tmp_path: Path, store: SettingsStore, live_settings: LiveSettings) -> WindowFactory:
    """Builds a started window over a real Controller; the window is closed (controller stopped)
    when the test ends. Keyword arguments: ``settings``, ``devices``, ``start``, and controller seams."""

    def build(
        settings: LiveSettings | None = None,
        *,
        devices: DeviceCatalog | None = None,
        start: bool = True,
        **seams,
    ) -> MainWindow:
        seams.setdefault("audio_input_factory", no_microphone)
        seams.setdefault("demo_when_camera_fails", True)  # as app.py builds it
        controller = Controller(settings or live_settings, **seams)
        bridge = ControllerBridge(controller)
        window = MainWindow(
            controller,
            bridge,
            store=store,
            devices=devices or StubDevices(),
            user_avatar_dir=tmp_path / "user-avatars",
        )
        # As app.py does: the window closes at once, the last recording is finished before exiting.
        qtbot.addWidget(window, before_close_func=lambda w: (w.close(), controller.wait_for_saving()))
        window.show()
        if start:
            window.start()
        return window

    return build


def wait_for_frames(qtbot, window: MainWindow, count: int = 1, timeout_ms: int = 30_000) -> None:
    """Wait until the window has shown ``count`` more frames."""
    target = window.preview.frames_shown + count
    qtbot.waitUntil(lambda: window.preview.frames_shown >= target, timeout=timeout_ms)
