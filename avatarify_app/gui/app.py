"""Start the desktop app: check for a display, set Qt up, build the controller and window, run.

``run_gui`` is what ``avatarify`` (``avatarify gui``) calls. The hidden options ``screenshot`` and
``quit_after_s`` let tests and ``tools/screenshot.py`` run the real window and capture it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from avatarify_app.config import RESOURCES_DIR, SourceSpec
from avatarify_app.errors import DeviceError
from avatarify_app.pipeline.settings import LiveSettings

if TYPE_CHECKING:  # Qt is imported when the window opens, after the display check
    from avatarify_app.gui.main_window import MainWindow
    from avatarify_app.gui.settings import SettingsStore

logger = logging.getLogger(__name__)

NO_DISPLAY_TEXT = (
    "no display found (DISPLAY and WAYLAND_DISPLAY are not set), so the app window cannot open: "
    "run it from a desktop session, or use `avatarify render` to animate a video file or "
    "`avatarify live` to drive the virtual camera without a window"
)
# Qt platforms that draw without a desktop session.
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")
# Environment that ``import cv2`` points at its own Qt 5 plugins and fonts; Qt 6 must not use them.
CV2_QT_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")
ICONS_DIR = RESOURCES_DIR / "icons"


@dataclass(frozen=True, slots=True)
class GuiOptions:
    """How to run the window.

    ``settings_file``: an ini file to keep the settings in instead of the user's (tests, screenshots).
    ``screenshot``: save a PNG of the window once it has shown ``screenshot_after_frames`` frames (and
    every thumbnail), then quit. ``quit_after_s``: quit after this many seconds (with a ``screenshot``:
    give up waiting for frames, exit status 1).
    ``demo``: drive the avatar with the demo motion whatever camera is saved.
    ``virtual_camera``: override the saved virtual-camera switch.
    ``window_size``: ``"WxH"`` or ``"min"`` (the window's minimum size) instead of the saved geometry
    (screenshots).
    """

    settings_file: Path | None = None
    screenshot: Path | None = None
    screenshot_after_frames: int = 30
    quit_after_s: float | None = None
    demo: bool = False
    virtual_camera: bool | None = None
    avatar: Path | None = None
    log_file: Path | None = None
    window_size: str | None = None


def require_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> None:
    """Raise ``DeviceError`` when no window can open here: Linux without X11 or Wayland, unless Qt is
    told to draw off screen (``QT_QPA_PLATFORM=offscreen`` and the like)."""
    requested = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if requested in HEADLESS_PLATFORMS or not platform.startswith("linux"):
        return
    if requested == "xcb" and environ.get("DISPLAY"):
        return
    if requested == "wayland" and environ.get("WAYLAND_DISPLAY"):
        return
    if not requested and (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return
    raise DeviceError(NO_DISPLAY_TEXT)


def clean_qt_environment(environ: MutableMapping[str, str] = os.environ) -> None:
    """Drop the Qt 5 plugin and font paths that ``import cv2`` sets (call before the QApplication)."""
    for name in CV2_QT_VARIABLES:
        if environ.pop(name, None) is not None:
            logger.debug("removed %s set by OpenCV", name)


def run_gui(options: GuiOptions | None = None) -> int:
    """Open the window and run until it closes. Returns the exit status.

    Raises ``DeviceError`` (before any window) when there is no display.
    """
    options = options or GuiOptions()
    require_display()
    import cv2  # noqa: F401  (imported first on purpose: its Qt variables are removed just below)

    clean_qt_environment()

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from avatarify_app.gui.bridge import ControllerBridge
    from avatarify_app.gui.main_window import MainWindow
    from avatarify_app.gui.settings import APPLICATION, ORGANIZATION, SettingsStore
    from avatarify_app.pipeline.controller import Controller

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Avatarify")
    app.setDesktopFileName("avatarify")
    icon = QIcon()
    for png in sorted(ICONS_DIR.glob("avatarify-*.png")):
        icon.addFile(str(png))
    app.setWindowIcon(icon)

    store = SettingsStore(
        QSettings(str(options.settings_file), QSettings.Format.IniFormat) if options.settings_file else None
    )
    saved = store.load()
    settings = _apply_overrides(saved, options)
    controller = Controller(settings, demo_when_camera_fails=True)
    bridge = ControllerBridge(controller)
    window = MainWindow(controller, bridge, store=store, log_file=options.log_file)
    if options.window_size == "min":
        window.resize(window.minimumSize())
    elif options.window_size:
        width, _, height = options.window_size.partition("x")
        window.resize(int(width), int(height))
    previous_hook = sys.excepthook
    sys.excepthook = window.report_unexpected
    status = _ExitStatus()
    try:
        with _quit_on_sigint(window):
            if options.screenshot is not None or options.quit_after_s is not None:
                _schedule_capture(window, options, status)
            window.show()
            window.start()
            controller.repair_cut_short()  # recordings a crash cut short; the outcome comes as messages
            app.exec()
    finally:
        sys.excepthook = previous_hook
        # Normally stopped by closeEvent already; this also waits, with the window gone, for the last
        # recording's file to be finished.
        controller.stop(timeout=1.0)
        bridge.close()
    _forget_overrides(store, saved, options)
    return status.code


def _forget_overrides(store: SettingsStore, saved: LiveSettings, options: GuiOptions) -> None:
    """``--demo`` and ``--no-virtual-camera`` are for one run: keep the saved source and switch."""
    restore = {}
    if options.demo:
        restore["source"] = saved.source
    if options.virtual_camera is not None:
        restore["virtual_camera"] = saved.virtual_camera
    if restore:
        store.save(dataclasses.replace(store.load(), **restore))


def _apply_overrides(settings: LiveSettings, options: GuiOptions) -> LiveSettings:
    if options.demo:
        settings = dataclasses.replace(settings, source=SourceSpec(kind="demo"))
    if options.virtual_camera is not None:
        settings = dataclasses.replace(
            settings,
            virtual_camera=dataclasses.replace(settings.virtual_camera, enabled=options.virtual_camera),
        )
    if options.avatar is not None:
        settings = dataclasses.replace(settings, avatar=options.avatar)
    return settings


@dataclass
class _ExitStatus:
    code: int = 0


def _schedule_capture(window: MainWindow, options: GuiOptions, status: _ExitStatus) -> None:
    """Take the screenshot once enough frames were shown (and thumbnails made); quit at the deadline."""
    from PySide6.QtCore import QTimer

    def ready() -> bool:
        return (
            window.preview.frames_shown >= options.screenshot_after_frames
            and not window.gallery.thumbnails_pending
        )

    def capture_and_quit() -> None:
        if options.screenshot is not None:
            _save_screenshot(window, options.screenshot)
        window.close()

    def on_frame(_event: object) -> None:
        if ready():
            window.bridge.frames_ready.disconnect(on_frame)
            QTimer.singleShot(0, capture_and_quit)

    def on_deadline() -> None:
        if window.isVisible():
            if options.screenshot is not None:
                logger.error("no frames within %.0f s: taking the screenshot anyway", options.quit_after_s)
                status.code = 1
            capture_and_quit()

    if options.screenshot is not None:
        window.bridge.frames_ready.connect(on_frame)
    if options.quit_after_s is not None:
        QTimer.singleShot(int(options.quit_after_s * 1000), on_deadline)


def _save_screenshot(window: MainWindow, path: Path) -> None:
    """Grab the window as the screen shows it (the desktop's own pixels), else as Qt renders it.

    Beside it, ``<path>.layout.json`` gives where the previews' images are in the screenshot
    (``[x, y, width, height]`` in its pixels), for the tests that look at them.
    """
    from PySide6.QtCore import QPoint

    window.repaint()
    screen = window.screen()
    pixmap = screen.grabWindow(window.winId()) if screen is not None else None
    if pixmap is None or pixmap.isNull():
        pixmap = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pixmap.save(str(path), "PNG"):
        logger.error("could not save the screenshot to %s", path)
        return
    logger.info("saved a %dx%d screenshot to %s", pixmap.width(), pixmap.height(), path)
    layout = {"window": [pixmap.width(), pixmap.height()]}
    k = pixmap.width() / max(window.width(), 1)  # device pixels per window pixel
    panes = {"camera_pane": window.preview.camera_pane, "output_pane": window.preview.output_pane}
    for name, pane in panes.items():
        rect = pane.image_rect().translated(pane.mapTo(window, QPoint(0, 0)).toPointF())
        layout[name] = [round(v * k) for v in (rect.x(), rect.y(), rect.width(), rect.height())]
    path.with_name(path.name + ".layout.json").write_text(json.dumps(layout), encoding="utf-8")


@contextlib.contextmanager
def _quit_on_sigint(window: MainWindow) -> Iterator[None]:
    """Ctrl-C in the terminal closes the window cleanly. Python runs signal handlers only between
    bytecodes, which the Qt event loop never reaches, so the signal wakes Qt through a socket."""
    from PySide6.QtCore import QSocketNotifier

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno())
    except ValueError:  # not the main thread: Ctrl-C keeps its usual behaviour
        reader.close()
        writer.close()
        yield
        return
    previous_handler = signal.signal(signal.SIGINT, lambda *_: None)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def on_wakeup() -> None:
        try:
            data = reader.recv(64)
        except BlockingIOError:
            return
        if signal.SIGINT in data:
            logger.info("interrupted: closing the window")
            window.close()

    notifier.activated.connect(on_wakeup)
    try:
        yield
    finally:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous_handler)
        reader.close()
        writer.close()
