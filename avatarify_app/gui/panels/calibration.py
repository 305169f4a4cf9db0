"""Calibrate: take the driver's current face as the neutral pose, guided by a pose-match meter."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from avatarify_app.frames import HeadPose
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import FramesReady

# Below this pose match (percent) a calibration gets a hint on how to do better.
LOW_MATCH_PERCENT = 60


class CalibrationPanel(QGroupBox):
    """The Calibrate button, a meter of how well the driver's pose and expression match the avatar's
    (``FramesReady.pose_match``), and "Calibrate automatically" (off by default): the pipeline then
    calibrates once the match has stayed at 90 % or more for a second."""

    def __init__(
        self, controller: Controller, bridge: ControllerBridge, parent: QWidget | None = None
    ) -> None:
        super().__init__("Calibration", parent)
        self._controller = controller
        self.calibrations = 0
        self.button = QPushButton("Calibrate (X)")
        self.button.setToolTip(
            "Match the avatar's pose and expression, then press: that becomes your neutral face"
        )
        self.button.clicked.connect(controller.calibrate)
        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setFormat("Pose match %p%")
        self.meter.setValue(0)
        self.auto_check = QCheckBox("Calibrate automatically at 90 %")
        self.auto_check.setChecked(controller.settings.auto_calibrate)
        self.auto_check.toggled.connect(controller.set_auto_calibrate)
        self.status = QLabel("The first face seen is the neutral pose until you calibrate.")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.button)
        layout.addWidget(self.meter)
        layout.addWidget(self.auto_check)
        layout.addWidget(self.status)
        bridge.frames_ready.connect(self._on_frames_ready)
        bridge.calibrated.connect(self._on_calibrated)
        bridge.settings_changed.connect(self._sync)

    def _sync(self, *_: object) -> None:
        with QSignalBlocker(self.auto_check):
            self.auto_check.setChecked(self._controller.settings.auto_calibrate)

    @property
    def match(self) -> float:
        """The latest pose match, 0-1."""
        return self.meter.value() / 100.0

    def _on_frames_ready(self, event: FramesReady) -> None:
        self.meter.setValue(round(event.pose_match * 100))

    def _on_calibrated(self, pose: HeadPose) -> None:
        self.calibrations += 1
        match = self.meter.value()
        if match < LOW_MATCH_PERCENT:
            self.status.setText(
                f"Calibrated at a {match} % pose match, so the avatar may look off. Turn your head and "
                "set your expression like the avatar's (the overlay helps), then press Calibrate again."
            )
            return
        self.status.setText("Calibrated: this is your neutral face now. Press Calibrate again to redo it.")
        self.status.setToolTip(
            f"Neutral head pose: yaw {pose.yaw:+.0f}°, pitch {pose.pitch:+.0f}°, roll {pose.roll:+.0f}°"
        )
