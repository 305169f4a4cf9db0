"""Everything live mode needs, as one frozen value: change it with ``dataclasses.replace`` and hand
it to the controller, which applies it between frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from avatarify_app.config import EngineOptions, SourceSpec, VirtualCameraSettings
from avatarify_app.engines.catalog import EngineChoice, default_choice


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """Everything live mode needs.

    ``avatar``: an image file, None for the bundled default. ``engine``: which engine and what it is
    built from (``engines.catalog``; default: the catalog's default engine). ``mirror_preview``
    flips the camera image shown to the user (a mirror feels natural); ``mirror_output`` flips what
    the virtual camera and the recorder get.
    ``passthrough``: output the camera itself instead of the avatar (the "0" shortcut).
    ``passthrough_when_lost``: when the face is lost, output the camera instead of holding the last
    good avatar frame. ``auto_calibrate``: calibrate by itself once the driver's pose has matched the
    avatar's (90 %) for a second. ``preview_overlay`` (0-1, the avatar's face blended over the camera
    preview to line the face up) and ``show_landmarks`` change only what the preview draws.
    ``microphone``: sounddevice device name or number for recordings, None for
    the default input. ``output_fps``: the steady rate of the output (virtual camera, recorder).
    """

    source: SourceSpec = field(default_factory=SourceSpec)
    avatar: Path | None = None
    engine: EngineChoice = field(default_factory=default_choice)
    engine_options: EngineOptions = field(default_factory=EngineOptions)
    virtual_camera: VirtualCameraSettings = field(default_factory=VirtualCameraSettings)
    mirror_preview: bool = True
    mirror_output: bool = False
    passthrough: bool = False
    passthrough_when_lost: bool = False
    auto_calibrate: bool = False
    preview_overlay: float = 0.0
    show_landmarks: bool = False
    microphone: str | int | None = None
    output_fps: float = 30.0
