"""Events the controller sends to its subscribers (the GUI bridge, the CLI, tests).

Events are frozen records, named in the past tense. They are delivered on the pipeline's worker
threads (or the caller's thread for events that a command raises at once): a subscriber must return
quickly and must not call back into the controller's ``stop``. The GUI re-emits them as Qt signals.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarify_app.config import SourceSpec
from avatarify_app.engines import EngineChoice
from avatarify_app.frames import FaceTrack, HeadPose, UserMessage
from avatarify_app.pipeline.settings import LiveSettings


class PipelineState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class Metrics:
    """Live figures over the last second or so.

    ``input_fps``: frames the source delivered per second. ``engine_fps``: new frames the engine
    made per second (a slow engine makes fewer than the camera gives). ``output_fps``: frames the
    output thread wrote per second (repeats of the last new frame included, to keep the pace).
    ``inference_ms``: mean tracking + engine time per frame.
    ``latency_p50_ms`` / ``latency_p95_ms``: capture to output, over the fresh frames output.
    ``dropped_frames``: frames dropped by the queues since start (a slow stage drops old frames).
    ``face_found``: whether the latest frame showed a face.
    """

    input_fps: float = 0.0
    output_fps: float = 0.0
    engine_fps: float = 0.0
    inference_ms: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    dropped_frames: int = 0
    face_found: bool = False


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The pipeline moved to ``state``."""

    state: PipelineState


@dataclass(frozen=True, slots=True)
class FramesReady:
    """A new pair of images for the preview, once per processed frame (not per output repeat).

    ``camera``: the driving frame as captured, RGB uint8 (H, W, 3); the preview mirrors it as it
    draws it when ``mirror_preview`` is on (no copy here).
    ``output``: what goes to the virtual camera and the recorder (before letterboxing and before the
    output stage mirrors it for ``mirror_output``; the preview mirrors it as it draws), RGB uint8.
    ``track``: the face in ``camera``'s pixels. ``index``: the source frame's index.
    ``pose_match``: 0-1, how well the driver's pose and expression match the avatar's
    (``tracking.pose_match``; 0 without a face): what calibration asks the user to reach.
    """

    camera: np.ndarray
    output: np.ndarray
    track: FaceTrack
    face_found: bool
    index: int
    pose_match: float = 0.0


@dataclass(frozen=True, slots=True)
class CameraPreview:
    """A camera frame as captured (RGB uint8), sent a few times a second while the engine still loads
    (``FramesReady`` comes once it runs): the window shows that the camera works meanwhile."""

    camera: np.ndarray


@dataclass(frozen=True, slots=True)
class MetricsUpdated:
    """New live figures, about once a second while running."""

    metrics: Metrics


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """A sentence for the user; ``message.key`` says what it is about (``"camera"``, ``"avatar"``...)."""

    message: UserMessage


@dataclass(frozen=True, slots=True)
class AvatarChanged:
    """A new avatar is in use. ``image``: RGB uint8; ``track``: its face; ``path``: its file or None;
    ``face``: the avatar at rest, a square cut framed like the engine's face crop
    (``pipeline.faces.face_square``), found once here and shared (the preview's overlay)."""

    image: np.ndarray
    track: FaceTrack
    path: Path | None
    face: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class EngineChanged:
    """The engine ``choice`` names is loaded (the choice as asked for: a file left open stays None, the
    model store's default). ``device``: where it runs, ``Engine.device_name`` ("CPU", "CPU, OpenVINO fp32",
    "CUDA: <GPU>")."""

    choice: EngineChoice
    device: str

    @property
    def name(self) -> str:
        return self.choice.name


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """Where the engine in use runs now, when that changed while it runs (``Engine.device_name``: a
    remote engine's round trip, or "reconnecting"); at most about once a second."""

    device: str


@dataclass(frozen=True, slots=True)
class Calibrated:
    """The neutral pose was taken from the current driving frame."""

    pose: HeadPose


@dataclass(frozen=True, slots=True)
class RecordingChanged:
    """Recording started, progressed (about once a second) or stopped. ``path`` None: not recording."""

    path: Path | None
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class RecordingSaving:
    """The recording of ``path`` stopped (``elapsed_s`` long) and its file is being finished (a second
    or two for a long one); ``RecordingChanged(path=None)`` follows when it is done."""

    path: Path
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class VirtualCameraChanged:
    """The virtual camera opened (``active``, with its ``device`` name) or is off.

    ``error``: why it could not open (None when it did, or was closed on purpose); ``fix``: then,
    what the user can do on this OS, if anything.
    """

    active: bool
    device: str | None
    fix: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SettingsChanged:
    """The settings in effect changed (a command, or the pipeline's own decision such as the demo
    standing in for a camera that fails, or a virtual camera that cannot open). Widgets show
    ``settings`` and nothing else: one source of truth.

    ``chosen_source``: the source the user chose; it differs from ``settings.source`` while the demo
    motion stands in for a camera that does not work.
    """

    settings: LiveSettings
    chosen_source: SourceSpec


Event = (
    StateChanged
    | SettingsChanged
    | FramesReady
    | CameraPreview
    | MetricsUpdated
    | MessagePosted
    | AvatarChanged
    | EngineChanged
    | EngineStatus
    | Calibrated
    | RecordingChanged
    | RecordingSaving
    | VirtualCameraChanged
)
