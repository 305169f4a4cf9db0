"""Where the motion comes from (camera, demo, video file) and which engine animates the avatar."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
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

from avatarify_app.config import SourceSpec
from avatarify_app.errors import InputError
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.devices import Choice
from avatarify_app.gui.engine_form import EngineForm
from avatarify_app.gui.secrets import KeyringSecrets
from avatarify_app.gui.widgets import videos_folder
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.engine_setup import (
    EngineChoice,
    EngineInfo,
    Needs,
    choice_as_text,
    choice_fields,
    make_choice,
)
from avatarify_app.pipeline.events import PipelineState
from avatarify_app.pipeline.stage import as_sentence

DEMO, VIDEO = "demo", "video"  # picker values besides camera numbers
NO_CAMERA_LABEL = "No camera found"
TOOLTIP_ROLE = Qt.ItemDataRole.ToolTipRole
VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)"


class SourcePanel(QGroupBox):
    """Camera picker (the cameras found, "Demo motion", "Video file…") and engine picker, all from the
    engine catalog (``Controller.engines``): each engine's label and tip, a file button for an engine
    that needs a checkpoint file or folder, the speed / quality menu of an engine with precisions,
    what runs ("FOMM on CPU, OpenVINO fp32"), and a busy bar while an engine loads (the first use of
    a checkpoint prepares the model)."""

    problem = Signal(object)
    """``UserMessage``: a value typed into an engine's form that the engine does not take."""

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

        self._engines = {info.name: info for info in controller.engines()}
        self.engine_combo = _narrow_combo()
        for info in self._engines.values():
            self.engine_combo.addItem(info.label, info.name)
            self.engine_combo.setItemData(self.engine_combo.count() - 1, info.tip, TOOLTIP_ROLE)
        self.engine_combo.activated.connect(self._on_engine_activated)
        self.checkpoint_button = QPushButton("Checkpoint…")
        self.checkpoint_button.clicked.connect(self.choose_checkpoint)
        self.quality_combo = _narrow_combo()
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
        bridge.engine_status.connect(self._show_device)
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
        self.checkpoint_button.setEnabled(not loading and self._info.needs is not Needs.NOTHING)
        self.quality_combo.setEnabled(not loading and bool(self._info.precisions))

    @property
    def _info(self) -> EngineInfo:
        """The catalog entry of the engine in the settings."""
        return self._engines[self._controller.settings.engine.name]

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
        choice, info = settings.engine, self._info
        with QSignalBlocker(self.engine_combo):
            self.engine_combo.setCurrentIndex(max(self.engine_combo.findData(choice.name), 0))
        self._sync_quality(info, getattr(choice, "precision", None))
        if info.needs is Needs.FORM:
            address = getattr(choice, info.selected_by or "", None)
            self.checkpoint_button.setText(_short(str(address), 16) if address else "Connect…")
            self.checkpoint_button.setToolTip(f"{info.short_label}: {address}" if address else info.tip)
        else:
            checkpoint: Path | None = getattr(choice, "checkpoint", None)
            self.checkpoint_button.setText(_short(checkpoint.name, 16) if checkpoint else "Checkpoint…")
            self.checkpoint_button.setToolTip(str(checkpoint) if checkpoint else self._checkpoint_tip(info))
        self.checkpoint_button.setEnabled(info.needs is not Needs.NOTHING and not self.loading)

    def _sync_quality(self, info: EngineInfo, precision: str | None) -> None:
        """The speed / quality menu of ``info``'s engine, showing ``precision``; greyed out for an
        engine without precisions."""
        with QSignalBlocker(self.quality_combo):
            self.quality_combo.clear()
            for value, label in info.precision_labels.items():
                self.quality_combo.addItem(label, value)
            if not info.precisions:
                self.quality_combo.addItem("—", None)  # a grey dash rather than an empty box
            row = self.quality_combo.findData(precision)
            if row < 0 and precision is not None:  # a precision from the command line the menu lacks
                self.quality_combo.addItem(precision, precision)
                row = self.quality_combo.count() - 1
            self.quality_combo.setCurrentIndex(row)
        self.quality_combo.setEnabled(bool(info.precisions) and not self.loading)
        self.quality_combo.setToolTip(
            f"{info.short_label}'s precision: Automatic is the fastest that stays faithful to full precision "
            "(fp32); the Fast ones trade fidelity for speed, as each says. The first use of a choice "
            "prepares the model (a minute or two)."
            if info.precisions
            else f"{info.short_label} has no speed / quality choice"
        )

    @staticmethod
    def _checkpoint_tip(info: EngineInfo) -> str:
        if info.needs is Needs.NOTHING:
            return f"{info.short_label} needs no files"
        what = "file" if info.needs is Needs.FILE else "folder"
        return f"Choose the {info.short_label} checkpoint {what}"

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

    def choose_checkpoint(self, info: EngineInfo | None = None) -> None:
        """Ask for the checkpoint file (or folder, or the form) of ``info``'s engine (default: the
        engine in use) and load that engine with it."""
        info = info or self._info
        if info.needs is Needs.NOTHING:
            return
        if info.needs is Needs.FORM:
            self._ask_form(info)
            return
        title = self._checkpoint_tip(info)
        if info.needs is Needs.FILE:
            name, _ = QFileDialog.getOpenFileName(self, title, "", info.file_filter)
        else:
            name = QFileDialog.getExistingDirectory(self, title)
        if name:
            choice = self._controller.choice_for(info.name)
            self._load_engine(dataclasses.replace(choice, checkpoint=Path(name)))  # type: ignore[call-arg]

    def _ask_form(self, info: EngineInfo) -> None:
        """Ask for the form of ``info``'s engine (an address, a token) and load it; a value it does not
        take is one message."""
        choice = self._controller.choice_for(info.name)
        form = EngineForm(info, choice, self, keyring_available=KeyringSecrets().available())
        if form.exec() != EngineForm.DialogCode.Accepted:
            return
        try:
            choice = make_choice(info.name, {**choice_as_text(choice), **form.values()})
        except InputError as exc:
            self.problem.emit(UserMessage(MessageLevel.ERROR, as_sentence(str(exc)), key="engine"))
            return
        self._load_engine(choice)

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
        if name == self._controller.settings.engine.name:
            return
        info, choice = self._engines[name], self._controller.choice_for(name)
        if info.needs is not Needs.NOTHING and not _complete(info, choice):
            self.choose_checkpoint(info)
            self.sync()  # the combo follows when (and if) the engine has loaded
            return
        self._load_engine(choice)

    def _on_quality_activated(self, row: int) -> None:
        precision = self.quality_combo.itemData(row)
        choice = self._controller.settings.engine
        if precision == getattr(choice, "precision", None):
            return
        self._load_engine(dataclasses.replace(choice, precision=precision))  # type: ignore[call-arg]

    def _load_engine(self, choice: EngineChoice) -> None:
        """Load ``choice``: while live mode runs, the busy bar shows until ``EngineChanged`` (or an
        engine error); while stopped the settings change at once."""
        if self._controller.state is PipelineState.RUNNING:
            self.set_loading(True)
        self._controller.set_engine(choice)
        self.sync()

    def _on_engine_changed(self, choice: EngineChoice, device: str) -> None:
        self.set_loading(False)
        self._show_device(device)
        self.sync()

    def _show_device(self, device: str) -> None:
        self.device_label.setText(f"{self._info.short_label} on {device}")

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


def _complete(info: EngineInfo, choice: EngineChoice) -> bool:
    """Whether ``choice`` has what its engine needs: its checkpoint, or every field of its form."""
    if info.needs is Needs.FORM:
        return all(getattr(choice, f.name) for f in choice_fields(info.choice) if f.metadata.get("label"))
    return getattr(choice, "checkpoint", None) is not None


def _narrow_combo() -> QComboBox:
    """A combo box whose width does not grow with its longest entry (the side panel is narrow)."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(10)
    return combo


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
