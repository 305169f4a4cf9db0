"""Where the avatar goes: the virtual camera, and recordings with the microphone."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, QStandardPaths
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.devices import Choice
from avatarify_app.pipeline.controller import Controller


def default_recording_path(now: float | None = None) -> Path:
    """<Videos>/avatarify-<YYYYmmdd-HHMMSS>.mp4 (the home folder when the OS has no Videos folder)."""
    videos = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return Path(videos or Path.home()) / f"avatarify-{stamp}.mp4"


RECORDING_DOT = '<span style="color: #e5322d;">●</span>'  # red, as on every recorder


class OutputPanel(QGroupBox):
    """Virtual camera on/off with what it is doing (and how to fix it), the microphone for
    recordings, and Record / Stop with the time recorded."""

    def __init__(
        self,
        controller: Controller,
        bridge: ControllerBridge,
        microphones: list[Choice],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Output", parent)
        self._controller = controller
        self._recording: Path | None = None  # the file being written, as RecordingChanged last said

        self.vcam_check = QCheckBox("Virtual camera")
        self.vcam_check.setToolTip("Send the avatar to video-call apps as a camera")
        self.vcam_check.toggled.connect(self._on_vcam_toggled)
        self.vcam_status = QLabel()
        self.vcam_status.setWordWrap(True)
        self.vcam_fix = QLabel()
        self.vcam_fix.setWordWrap(True)
        self.vcam_fix.setStyleSheet("color: #c77d00;")
        self.vcam_fix.hide()

        self.microphone_combo = QComboBox()
        self.microphone_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.microphone_combo.setMinimumContentsLength(10)
        for choice in microphones:
            self.microphone_combo.addItem(choice.label, choice.value)
        self.microphone_combo.setToolTip("The microphone recorded with the video")
        self.record_button = QPushButton("Record…")
        self.record_button.clicked.connect(self.toggle_recording)
        self.elapsed_label = QLabel("")

        record_row = QHBoxLayout()
        record_row.addWidget(self.record_button)
        record_row.addWidget(self.elapsed_label, 1)
        form = QFormLayout(self)
        form.addRow(self.vcam_check)
        form.addRow(self.vcam_status)
        form.addRow(self.vcam_fix)
        form.addRow("Microphone", self.microphone_combo)
        form.addRow(record_row)

        bridge.virtual_camera_changed.connect(self._on_virtual_camera_changed)
        bridge.settings_changed.connect(self.sync)
        bridge.recording_changed.connect(self._on_recording_changed)
        bridge.recording_saving.connect(self._on_recording_saving)
        self.sync()

    @property
    def recording(self) -> Path | None:
        """The file being recorded, None when not recording."""
        return self._recording

    @property
    def microphone(self) -> str | int | None:
        """The microphone chosen for the next recording (None: the default input)."""
        return self.microphone_combo.currentData()

    def sync(self, *_: object) -> None:
        """Show the controller's settings (no commands are sent)."""
        settings = self._controller.settings
        with QSignalBlocker(self.vcam_check):
            self.vcam_check.setChecked(settings.virtual_camera.enabled)
        if not settings.virtual_camera.enabled and self.vcam_fix.isHidden():  # a problem stays in view
            self.vcam_status.setText("Off")
        row = self.microphone_combo.findData(settings.microphone)
        if settings.microphone is not None and row < 0:
            self.microphone_combo.addItem(f"{settings.microphone} (not found)", settings.microphone)
            row = self.microphone_combo.count() - 1
        with QSignalBlocker(self.microphone_combo):
            self.microphone_combo.setCurrentIndex(max(row, 0))

    def toggle_recording(self) -> None:
        """Stop the recording, or ask where to save a new one and start it."""
        if self._recording is not None:
            self._controller.stop_recording()
            return
        name, _ = QFileDialog.getSaveFileName(
            self, "Record the avatar", str(default_recording_path()), "MP4 video (*.mp4)"
        )
        if not name:
            return
        path = Path(name)
        if path.suffix.lower() != ".mp4":
            path = path.with_name(path.name + ".mp4")
        self._controller.start_recording(path, microphone=self.microphone)

    def _on_vcam_toggled(self, on: bool) -> None:
        self.vcam_status.setText("Opening…" if on else "Off")
        self.vcam_fix.hide()
        self._controller.set_virtual_camera(on)

    def _on_virtual_camera_changed(self, active: bool, device: str, fix: str) -> None:
        """The one place the virtual camera's state and problem are shown (the banner stays quiet)."""
        if active:
            self.vcam_status.setText(f"On: {device}" if device else "On")
        elif fix:
            self.vcam_status.setText("Not available on this computer.")
        else:
            self.vcam_status.setText("Off")
        self.vcam_fix.setText(f"To get one, {fix}." if fix else "")
        self.vcam_fix.setVisible(bool(fix))

    def _on_recording_saving(self, path: Path) -> None:
        """The recording stopped; its file is being finished on another thread (a second or two)."""
        self._recording = None
        self.record_button.setText("Saving…")
        self.record_button.setEnabled(False)
        self.elapsed_label.setText(f"Saving {path.name}…")

    def _on_recording_changed(self, path: Path | None, elapsed_s: float) -> None:
        self._recording = path
        self.record_button.setEnabled(True)
        if path is None:
            self.record_button.setText("Record…")
            self.elapsed_label.setText("")
            self.microphone_combo.setEnabled(True)
            return
        minutes, seconds = divmod(int(elapsed_s), 60)
        self.record_button.setText("Stop recording")
        self.elapsed_label.setText(f"{RECORDING_DOT} {minutes:02d}:{seconds:02d}  {path.name}")
        self.microphone_combo.setEnabled(False)
