"""The main window: previews, gallery and side panels wired to one controller, plus menus and keys."""

from __future__ import annotations

import dataclasses
import functools
import logging
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.banner import MessageBanner
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.devices import DeviceCatalog
from avatarify_app.gui.dialogs import DiagnosticsDialog, ShortcutsDialog
from avatarify_app.gui.panels.avatars import AvatarGallery, default_user_avatar_dir
from avatarify_app.gui.panels.calibration import CalibrationPanel
from avatarify_app.gui.panels.output import OutputPanel
from avatarify_app.gui.panels.preview import PreviewPanel
from avatarify_app.gui.panels.source import SourcePanel
from avatarify_app.gui.panels.view import OVERLAY_STEP, ViewPanel
from avatarify_app.gui.settings import SettingsStore
from avatarify_app.gui.shortcuts import SHORTCUTS
from avatarify_app.gui.thumbnails import ThumbnailLoader
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import Metrics, PipelineState
from avatarify_app.pipeline.settings import LiveSettings

logger = logging.getLogger(__name__)

STATUS_TIMEOUT_MS = 8000
SIDE_PANEL_WIDTH = 360
MINIMUM_SIZE = (960, 600)  # the window lays out cleanly from here up (tests/gui: test_layout...)
STOP_TIMEOUT_S = 1.0
# Messages shown in the status bar only, never in the banner: they come and go with the face.
_QUIET_KEYS = frozenset({"face"})
# Problems one panel shows in place (the output panel: the virtual camera), never the banner too.
_PANEL_KEYS = frozenset({"virtual_camera"})


class MainWindow(QMainWindow):
    """Avatarify's window. It owns widgets only: the pipeline's state lives in ``controller``, which
    the widgets command, and comes back through ``bridge``'s signals.

    ``start()`` starts live mode (falling back to the demo motion when the camera does not open);
    closing the window saves the settings to ``store`` and stops the controller.
    """

    def __init__(
        self,
        controller: Controller,
        bridge: ControllerBridge,
        *,
        store: SettingsStore,
        devices: DeviceCatalog | None = None,
        user_avatar_dir: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.bridge = bridge
        self.store = store
        self.devices = devices or DeviceCatalog()
        self.log_file = log_file
        self.setWindowTitle("Avatarify")
        # Devices are listed before any worker thread starts: listing microphones imports QtMultimedia,
        # whose library start-up calls back into Python (Qt messages) while holding the dynamic loader's
        # lock; a thread importing an extension module at that moment deadlocks with it.
        cameras, microphones = self.devices.cameras(), self.devices.microphones()

        self.thumbnails = ThumbnailLoader(self)
        self.banner = MessageBanner()
        self.preview = PreviewPanel(controller, bridge)
        self.gallery = AvatarGallery(
            controller, bridge, user_avatar_dir or default_user_avatar_dir(), self.thumbnails
        )
        self.source_panel = SourcePanel(controller, bridge, cameras)
        self.calibration_panel = CalibrationPanel(controller, bridge)
        self.view_panel = ViewPanel(controller, bridge)
        self.output_panel = OutputPanel(controller, bridge, microphones)
        self.stats_label = QLabel("")
        self.statusBar().addPermanentWidget(self.stats_label)
        self._build_layout()
        self._build_menus()
        self._bind_shortcuts()

        self.gallery.problem.connect(self.show_message)
        self.source_panel.problem.connect(self.show_message)
        bridge.message_posted.connect(self.show_message)
        bridge.metrics_updated.connect(self._on_metrics)
        bridge.state_changed.connect(self._on_state_changed)
        self.setMinimumSize(*MINIMUM_SIZE)
        geometry = store.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            screen = self.screen().availableGeometry()
            self.resize(min(1360, int(screen.width() * 0.95)), min(800, int(screen.height() * 0.9)))

    # -- layout -------------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        left = QVBoxLayout()
        left.addWidget(self.banner)
        left.addWidget(self.preview, 1)
        left.addWidget(self.gallery)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        for panel in (self.source_panel, self.calibration_panel, self.view_panel, self.output_panel):
            side_layout.addWidget(panel)
        side_layout.addStretch(1)
        self.side_scroll = scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(SIDE_PANEL_WIDTH)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addLayout(left, 1)
        layout.addWidget(scroll)
        self.setCentralWidget(central)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("Add avatar…", self.gallery.choose_file)
        file_menu.addAction("Play a video file as the camera…", self.choose_video)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action: QAction = help_menu.addAction("Keyboard shortcuts", self.show_shortcuts)
        self.diagnostics_action: QAction = help_menu.addAction("Diagnostics", self.show_diagnostics)

    def _bind_shortcuts(self) -> None:
        self.shortcuts: dict[str, QShortcut] = {}
        for shortcut in SHORTCUTS:
            action = functools.partial(getattr(self, shortcut.action), *shortcut.args)
            key = QShortcut(QKeySequence(shortcut.key), self)
            key.setContext(Qt.ShortcutContext.WindowShortcut)
            key.activated.connect(action)
            self.shortcuts[shortcut.key] = key

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start live mode (the controller lets the demo motion stand in for a camera that fails)."""
        self.source_panel.set_loading(True)
        self.controller.start()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (Qt's name)
        self.store.save(self.settings_to_save())
        self.store.save_window_geometry(self.saveGeometry())
        self.hide()  # gone at once: the engine may take a second to finish the frame in flight
        self.controller.stop(timeout=STOP_TIMEOUT_S, wait_for_saving=False)  # finished at exit (app.py)
        self.bridge.close()
        self.thumbnails.close()
        super().closeEvent(event)

    def settings_to_save(self) -> LiveSettings:
        """The controller's settings, with the source the user chose (not the demo standing in for a
        camera that failed) and the microphone picked for recordings."""
        settings = self.controller.settings
        return dataclasses.replace(
            settings, source=self.controller.chosen_source, microphone=self.output_panel.microphone
        )

    # -- messages -----------------------------------------------------------------------------------
    def show_message(self, message: UserMessage) -> None:
        """Status bar for every message; the banner too for warnings and errors, which stay until
        closed or replaced (an INFO that follows, such as "Recording to ...", must not hide them).
        A problem a panel shows in place (the virtual camera's) is shown there only: once."""
        if message.key in _PANEL_KEYS:
            return
        bar = self.statusBar()
        # Cut to the room left of the live figures (the whole text is in the banner or the log).
        room = bar.width() - (self.stats_label.width() if self.stats_label.isVisible() else 0) - 40
        text = bar.fontMetrics().elidedText(message.text, Qt.TextElideMode.ElideRight, max(room, 120))
        bar.showMessage(text, STATUS_TIMEOUT_MS)
        if message.level is not MessageLevel.INFO and message.key not in _QUIET_KEYS:
            self.banner.show_message(message)

    def report_unexpected(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        """An exception nobody caught (``sys.excepthook``): the traceback to the log, a line to the user."""
        logger.error("unexpected error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        where = f"; details are in {self.log_file}" if self.log_file else "; details are in the log"
        self.show_message(
            UserMessage(
                MessageLevel.ERROR, f"Something went wrong ({exc_type.__name__}: {exc}){where}.", "app"
            )
        )

    def _on_metrics(self, metrics: Metrics) -> None:
        """Honest figures: new avatar frames per second (a slow engine makes few) apart from the
        output's steady rate, which repeats the last frame to keep the pace."""
        face = "face found" if metrics.face_found else "no face"
        avatar_fps = f"{metrics.engine_fps:.1f}" if metrics.engine_fps < 10 else f"{metrics.engine_fps:.0f}"
        self.stats_label.setText(
            f"camera {metrics.input_fps:.0f} fps · avatar {avatar_fps} fps · "
            f"output {metrics.output_fps:.0f} fps · {metrics.inference_ms:.0f} ms/frame · "
            f"latency {metrics.latency_p50_ms:.0f} ms · {face}"
        )
        self.stats_label.setToolTip(
            f"Latency p50/p95: {metrics.latency_p50_ms:.0f}/{metrics.latency_p95_ms:.0f} ms; "
            f"frames dropped since start: {metrics.dropped_frames}"
        )

    def _on_state_changed(self, state: PipelineState) -> None:
        if state is PipelineState.STOPPED:
            self.source_panel.set_loading(False)
            self.stats_label.setText("stopped")

    # -- actions (menus and shortcuts) --------------------------------------------------------------
    def choose_avatar(self, row: int) -> None:
        self.gallery.choose(row)

    def step_avatar(self, delta: int) -> None:
        self.gallery.step(delta)

    def calibrate(self) -> None:
        self.controller.calibrate()

    def zoom_preview(self, steps: int) -> None:
        self.preview.zoom_by(steps)

    def step_overlay(self, steps: int) -> None:
        self.controller.set_preview(overlay=self.controller.settings.preview_overlay + steps * OVERLAY_STEP)

    def toggle_mirror_preview(self) -> None:
        self.controller.set_mirror(preview=not self.controller.settings.mirror_preview)

    def toggle_mirror_output(self) -> None:
        self.controller.set_mirror(output=not self.controller.settings.mirror_output)

    def toggle_passthrough(self) -> None:
        self.controller.set_passthrough(not self.controller.settings.passthrough)

    def toggle_region(self, name: str) -> None:
        self.view_panel.toggle_region(name)

    def toggle_stats(self) -> None:
        self.stats_label.setVisible(self.stats_label.isHidden())

    def choose_video(self) -> None:
        self.source_panel.choose_video()

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_diagnostics(self) -> DiagnosticsDialog:
        dialog = DiagnosticsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        dialog.start()
        return dialog
