"""Settings for live mode. Defaults live here and nowhere else.

All settings are frozen dataclasses: change one with ``dataclasses.replace`` and hand the new value to
the controller, which applies it between frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from avatarify_app.engines.base import EngineOptions

SourceKind = Literal["camera", "video", "demo"]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where driving frames come from.

    ``kind``: ``"camera"`` (webcam number ``camera``), ``"video"`` (the file ``path``, paced at its own
    fps, looping when ``loop``) or ``"demo"`` (scripted motion, no camera needed). ``width``, ``height``
    and ``fps`` are what is asked of a camera; a camera may give something else, and files and the
    demo ignore them.
    """

    kind: SourceKind = "camera"
    camera: int = 0
    path: Path | None = None
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    loop: bool = True


@dataclass(frozen=True, slots=True)
class VirtualCameraSettings:
    """The virtual camera the output goes to: the avatar is centred (letterboxed) in width x height.

    ``backend``: a pyvirtualcam backend name (``"v4l2loopback"``, ``"obs"``, ``"unitycapture"``), or
    None to try those of the OS in turn.
    """

    enabled: bool = True
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    backend: str | None = None


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """Everything live mode needs.

    ``avatar``: an image file, None for the bundled default. ``engine``: ``"mesh"`` or ``"fomm"``
    (``checkpoint``, ``backend``, ``precision`` are for fomm). ``mirror_preview`` flips the camera
    image shown to the user (a mirror feels natural); ``mirror_output`` flips what the virtual camera
    and the recorder get.
    ``passthrough``: output the camera itself instead of the avatar (the "0" shortcut).
    ``passthrough_when_lost``: when the face is lost, output the camera instead of holding the last
    good avatar frame. ``microphone``: sounddevice device name or number for recordings, None for
    the default input. ``output_fps``: the steady rate of the output (virtual camera, recorder).
    """

    source: SourceSpec = field(default_factory=SourceSpec)
    avatar: Path | None = None
    engine: str = "mesh"
    checkpoint: Path | None = None
    backend: str = "auto"
    precision: str = "auto"
    engine_options: EngineOptions = field(default_factory=EngineOptions)
    virtual_camera: VirtualCameraSettings = field(default_factory=VirtualCameraSettings)
    mirror_preview: bool = True
    mirror_output: bool = False
    passthrough: bool = False
    passthrough_when_lost: bool = False
    microphone: str | int | None = None
    output_fps: float = 30.0
