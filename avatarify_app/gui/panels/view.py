"""How things look: overlay, landmarks, expression strength, region strengths, mirrors, passthrough."""

from __future__ import annotations

import functools

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSlider, QWidget

from avatarify_app.config import REGIONS, STRENGTH_RANGE
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.pipeline.controller import Controller

OVERLAY_STEP = 0.1  # per Z / C key press
STRENGTH_MAX = STRENGTH_RANGE[1]


class ViewPanel(QGroupBox):
    """Sliders and switches over the controller's settings: each sends a command, and all of them
    show what ``settings_changed`` says (the overlay and landmarks change only the preview)."""

    def __init__(
        self, controller: Controller, bridge: ControllerBridge, parent: QWidget | None = None
    ) -> None:
        super().__init__("View", parent)
        self._controller = controller

        self.overlay_slider = QSlider(Qt.Orientation.Horizontal)
        self.overlay_slider.setRange(0, 100)
        self.overlay_slider.setToolTip(
            "Blend the avatar over the camera to line your face up with it (Z / C)"
        )
        self.overlay_slider.valueChanged.connect(self._on_overlay)
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(0, int(STRENGTH_MAX * 100))
        self.strength_slider.setToolTip("Expression strength: 0 = none, 1 = as your face, 2 = exaggerated")
        self.strength_label = QLabel()
        self.strength_slider.valueChanged.connect(self._on_strength)
        self.region_sliders: dict[str, QSlider] = {}
        self.region_labels: dict[str, QLabel] = {}
        self._region_before_off: dict[str, int] = {}  # what E / M / P turn a region back on to
        for region in REGIONS:
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, int(STRENGTH_MAX * 100))
            slider.setToolTip(
                f"How much of your {region.name} ({region.parts}) the avatar copies: 0 = none, 1 = all, "
                f"2 = double ({region.key}: off / on)"
            )
            slider.valueChanged.connect(functools.partial(self._on_region, region.name))
            self.region_sliders[region.name], self.region_labels[region.name] = slider, QLabel()
        self.landmarks_check = QCheckBox("Face landmarks on the camera")
        self.landmarks_check.toggled.connect(self._on_landmarks)
        self.mirror_preview_check = QCheckBox("Mirror preview (R)")
        self.mirror_preview_check.toggled.connect(lambda on: controller.set_mirror(preview=on))
        self.mirror_output_check = QCheckBox("Mirror output (T)")
        self.mirror_output_check.toggled.connect(lambda on: controller.set_mirror(output=on))
        self.passthrough_check = QCheckBox("Show the camera instead of the avatar (0)")
        self.passthrough_check.toggled.connect(controller.set_passthrough)

        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength_label)
        form = QFormLayout(self)
        form.addRow("Overlay", self.overlay_slider)
        form.addRow("Strength", strength_row)
        for region in REGIONS:
            row = QHBoxLayout()
            row.addWidget(self.region_sliders[region.name], 1)
            row.addWidget(self.region_labels[region.name])
            form.addRow(f"  {region.name.capitalize()} ({region.key})", row)
        form.addRow(self.landmarks_check)
        form.addRow(self.mirror_preview_check)
        form.addRow(self.mirror_output_check)
        form.addRow(self.passthrough_check)
        bridge.settings_changed.connect(self.sync)
        self.sync()

    def sync(self, *_: object) -> None:
        """Show the controller's settings (no commands are sent)."""
        settings = self._controller.settings
        with QSignalBlocker(self.overlay_slider):
            self.overlay_slider.setValue(round(settings.preview_overlay * 100))
        pairs = (
            (self.landmarks_check, settings.show_landmarks),
            (self.mirror_preview_check, settings.mirror_preview),
            (self.mirror_output_check, settings.mirror_output),
            (self.passthrough_check, settings.passthrough),
        )
        for check, value in pairs:
            with QSignalBlocker(check):
                check.setChecked(value)
        with QSignalBlocker(self.strength_slider):
            self.strength_slider.setValue(round(settings.engine_options.strength * 100))
        self._show_strength()
        for name, slider in self.region_sliders.items():
            with QSignalBlocker(slider):
                slider.setValue(round(getattr(settings.engine_options, name) * 100))
            self._show_region(name)

    def toggle_region(self, name: str) -> None:
        """Turn a region off (0), or back on to the value it had before."""
        slider = self.region_sliders[name]
        if slider.value() > 0:
            self._region_before_off[name] = slider.value()
            slider.setValue(0)
        else:
            slider.setValue(self._region_before_off.get(name, 100))

    def _on_overlay(self, value: int) -> None:
        self._controller.set_preview(overlay=value / 100.0)

    def _on_landmarks(self, on: bool) -> None:
        self._controller.set_preview(landmarks=on)

    def _on_strength(self, value: int) -> None:
        self._controller.set_strength(value / 100.0)
        self._show_strength()

    def _show_strength(self) -> None:
        self.strength_label.setText(f"{self.strength_slider.value() / 100:.2f}")

    def _on_region(self, name: str, value: int) -> None:
        self._controller.set_regions(**{name: value / 100.0})
        self._show_region(name)

    def _show_region(self, name: str) -> None:
        self.region_labels[name].setText(f"{self.region_sliders[name].value() / 100:.2f}")
