"""Where the motion comes from (camera, demo, video file) and which engine animates the avatar."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from avatarify_app.config import FOMM_CPU_SPEED, SourceSpec
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.devices import Choice
from avatarify_app.gui.widgets import videos_folder
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import PipelineState

DEMO, VIDEO = "demo", "video"  # picker values besides camera numbers
NO_CAMERA_LABEL = "No camera found"
TOOLTIP_ROLE = Qt.ItemDataRole.ToolTipRole
ENGINE_LABELS = {"mesh": "Mesh warp (fast)", "fomm": "FOMM (neural)"}
ENGINE_TIPS = {
    "mesh": "Warps the avatar's face mesh: real time on any CPU, no files needed",
    "fomm": f"First Order Motion Model: needs a checkpoint file (Checkpoint…); {FOMM_CPU_SPEED}",
}
VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)"
CHECKPOINT_FILTER = "FOMM checkpoints (*.pth.tar *.tar *.pth);;All files (*)"
# The fomm engine's "Speed / quality" choice: its precision (docs/fomm.md).
SPEED_QUALITY = {
    "auto": "Automatic",
    "fp32": "Best quality (fp32)",
    "int8": "Fastest (int8, CPU)",
}


class SourcePanel(QGroupBox):
    """Camera picker (the cameras found, "Demo motion", "Video file…") and engine picker with its
    checkpoint, the fomm engine's speed / quality choice, what runs ("FOMM on CPU, OpenVINO fp32"),
    and a busy bar while an engine loads (the first use of a checkpoint prepares the model)."""

    def __init__(
        self,
        controller: Controller,
        bridge: ControllerBridge,
        cameras: list[Choice],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Input and engine", parent)
        self._controller = controller
        self.camera_combo = _narrow_combo()
        for choice in cameras:
            self.camera_combo.addItem(choice.label, choice.value)
            self.camera_combo.setItemData(self.camera_combo.count() - 1, choice.label, TOOLTIP_ROLE)
        if not cameras:
            self.camera_combo.addItem(NO_CAMERA_LABEL, None)
            self.camera_combo.model().item(0).setEnabled(False)  # a note, not a choice
        self.camera_combo.addItem("Demo motion", DEMO)
        self.camera_combo.addItem("Video file…", VIDEO)
        self.camera_combo.setToolTip("The face that drives the avatar")
        self.camera_combo.activated.connect(self._on_camera_activated)

        self.engine_combo = _narrow_combo()
        for name, label in ENGINE_LABELS.items():
            self.engine_combo.addItem(label, name)
            self.engine_combo.setItemData(self.engine_combo.count() - 1, ENGINE_TIPS[name], TOOLTIP_ROLE)
        self.engine_combo.activated.connect(self._on_engine_activated)
        self.checkpoint_button = QPushButton("Checkpoint…")
        self.checkpoint_button.setToolTip(
            "Choose a FOMM vox checkpoint (vox-adv-cpk.pth.tar or vox-cpk.pth.tar)"
        )
        self.checkpoint_button.clicked.connect(self.choose_checkpoint)
        self.quality_combo = _narrow_combo()
        for precision, label in SPEED_QUALITY.items():
            self.quality_combo.addItem(label, precision)
        self.quality_combo.setToolTip(
            "FOMM's precision: Automatic uses what the hardware does natively; int8 is the fastest on a "
            "CPU, at a small cost in quality. The first use of a choice prepares the model (a minute or two)."
        )
        self.quality_combo.activated.connect(self._on_quality_activated)
        self.device_label = QLabel("—")
        self.device_label.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(8)
        self.busy.hide()

        engine_row = QHBoxLayout()
        engine_row.addWidget(self.engine_combo, 1)
        engine_row.addWidget(self.checkpoint_button)
        form = QFormLayout(self)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # the side panel is narrow
        form.addRow("Camera", self.camera_combo)
        form.addRow("Engine", engine_row)
        form.addRow("Speed / quality", self.quality_combo)
        form.addRow("Device", self.device_label)
        form.addRow(self.busy)

        bridge.engine_changed.connect(self._on_engine_changed)
        bridge.message_posted.connect(self._on_message)
        bridge.settings_changed.connect(self.sync)
        self.sync()

    @property
    def loading(self) -> bool:
        return not self.busy.isHidden()

    def set_loading(self, loading: bool) -> None:
        """Show the busy bar (an engine is loading) until ``EngineChanged`` or an engine error."""
        self.busy.setVisible(loading)
        self.engine_combo.setEnabled(not loading)
        self.checkpoint_button.setEnabled(not loading)
        self.quality_combo.setEnabled(not loading and self._controller.settings.engine == "fomm")

    def sync(self, *_: object) -> None:
        """Show the controller's current source and engine."""
        settings = self._controller.settings
        source = settings.source
        with QSignalBlocker(self.camera_combo):
            if source.kind == "camera":
                row = self.camera_combo.findData(source.camera)
                if row < 0:
                    self.camera_combo.insertItem(0, f"Camera {source.camera} (not found)", source.camera)
                    row = 0
            elif source.kind == "demo":
                row = self.camera_combo.findData(DEMO)
            else:
                row = self._video_row(source.path)
            self.camera_combo.setCurrentIndex(row)
        with QSignalBlocker(self.engine_combo):
            self.engine_combo.setCurrentIndex(max(self.engine_combo.findData(settings.engine), 0))
        with QSignalBlocker(self.quality_combo):
            row = self.quality_combo.findData(settings.precision)
            if row < 0:  # a precision from the command line that the picker does not offer
                self.quality_combo.addItem(settings.precision, settings.precision)
                row = self.quality_combo.count() - 1
            self.quality_combo.setCurrentIndex(row)
        self.quality_combo.setEnabled(settings.engine == "fomm" and not self.loading)
        checkpoint = settings.checkpoint
        self.checkpoint_button.setText(_short(checkpoint.name, 16) if checkpoint else "Checkpoint…")
        self.checkpoint_button.setToolTip(
            str(checkpoint)
            if checkpoint
            else "Choose a FOMM vox checkpoint (vox-adv-cpk.pth.tar or vox-cpk.pth.tar)"
        )

    def use_source(self, spec: SourceSpec) -> None:
        self._controller.set_source(spec)
        self.sync()

    def choose_video(self) -> None:
        """Ask for a video file (from the Videos folder) and play it as the camera."""
        name, _ = QFileDialog.getOpenFileName(
            self, "Play a video file as the camera", videos_folder(), VIDEO_FILTER
        )
        if name:
            self.use_source(
                dataclasses.replace(self._controller.settings.source, kind="video", path=Path(name))
            )
        else:
            self.sync()

    def choose_checkpoint(self) -> None:
        """Ask for a FOMM checkpoint and load the fomm engine with it."""
        name, _ = QFileDialog.getOpenFileName(self, "Choose a FOMM checkpoint", "", CHECKPOINT_FILTER)
        if name:
            self._load_engine("fomm", Path(name))

    def _on_camera_activated(self, row: int) -> None:
        value = self.camera_combo.itemData(row)
        current = self._controller.settings.source
        if value == DEMO:
            self.use_source(dataclasses.replace(current, kind="demo"))
        elif value == VIDEO:
            self.choose_video()
        elif isinstance(value, int):
            self.use_source(dataclasses.replace(current, kind="camera", camera=value))
        elif isinstance(value, str):  # a video file chosen before
            self.use_source(dataclasses.replace(current, kind="video", path=Path(value)))

    def _on_engine_activated(self, row: int) -> None:
        name = self.engine_combo.itemData(row)
        settings = self._controller.settings
        if name == settings.engine:
            return
        checkpoint = settings.checkpoint
        if name == "fomm" and checkpoint is None:
            self.choose_checkpoint()
            self.sync()  # the combo follows when (and if) the engine has loaded
            return
        self._load_engine(name, checkpoint if name == "fomm" else None)

    def _on_quality_activated(self, row: int) -> None:
        precision = self.quality_combo.itemData(row)
        settings = self._controller.settings
        if precision == settings.precision:
            return
        if settings.engine == "fomm" and self._controller.state is PipelineState.RUNNING:
            self.set_loading(True)  # EngineChanged (or an engine error) ends it
        self._controller.set_engine_runtime(precision=precision)

    def _load_engine(self, name: str, checkpoint: Path | None) -> None:
        self.set_loading(True)
        self._controller.set_engine(name, checkpoint)

    def _on_engine_changed(self, name: str, device: str) -> None:
        self.set_loading(False)
        self.device_label.setText(f"{ENGINE_LABELS.get(name, name).split(' (')[0]} on {device}")
        self.sync()

    def _on_message(self, message: UserMessage) -> None:
        if message.key == "engine" and message.level is MessageLevel.ERROR:
            self.set_loading(False)
            self.sync()

    def _video_row(self, path: Path | None) -> int:
        """The picker row of a video file, added above "Video file…" if it is not there yet."""
        value = str(path) if path is not None else ""
        row = self.camera_combo.findData(value)
        if row < 0:
            row = self.camera_combo.count() - 1
            self.camera_combo.insertItem(row, f"Video: {_short(Path(value).name)}", value)
        return row


def _narrow_combo() -> QComboBox:
    """A combo box whose width does not grow with its longest entry (the side panel is narrow)."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(10)
    return combo


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
