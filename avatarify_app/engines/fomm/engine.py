"""``FommEngine``: the First Order Motion Model behind the ``Engine`` interface."""

from __future__ import annotations

import logging
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming
from avatarify_app.engines.fomm.checkpoint import load_checkpoint
from avatarify_app.engines.fomm.config import FommConfig
from avatarify_app.engines.fomm.model.motion import movement_scale
from avatarify_app.engines.fomm.regions import KeypointRegions
from avatarify_app.engines.fomm.runtime import AvatarTensors, Motion, Runtime, choose_runtime, select_device
from avatarify_app.engines.tensors import to_image
from avatarify_app.errors import CheckpointError, InputError, NoFaceError
from avatarify_app.frames import FaceTrack, check_rgb
from avatarify_app.tracking import crop_face, detect_face
from avatarify_app.tracking.crop import FaceCrop, feather_mask, paste_back
from avatarify_app.tracking.landmarks import rigid_frame

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Avatar:
    """Everything ``animate`` needs that depends on the avatar alone (tensors on the runtime's device)."""

    image: np.ndarray  # RGB uint8 (H, W, 3), as given
    track: FaceTrack
    crop: FaceCrop  # frame_size x frame_size around the face
    tensors: AvatarTensors  # keypoints, encoder features, downsampled source
    rest: np.ndarray  # the output with no motion: the crop (SQUARE) or the image (FULL)


@dataclass(frozen=True, slots=True)
class _Anchor:
    """The calibration frame's face box, relative to the rigid landmarks (centroid and spread)."""

    box: np.ndarray  # (4,) x0, y0, x1, y1 in pixels
    centre: np.ndarray  # (2,)
    spread: float


class FommEngine(Engine):
    """Animate the avatar with FOMM keypoints: relative motion from the calibrated neutral frame.

    Per avatar (``set_avatar``), the face is cropped to the config's frame size (256 for the vox
    checkpoints) and its keypoints, encoder features and downsampled image are cached, so each frame
    runs only the keypoint detector on the driver, the dense motion network and the generator's
    decoder, on a runtime (``runtime/``): OpenVINO on the CPU, torch on a GPU (see
    ``runtime.choose_runtime`` for ``backend``, ``precision`` and ``device``). The driver's crop follows
    its face box as it was at calibration, moved and scaled with the rigid landmarks (eyes, nose,
    forehead): the box of all landmarks grows when the mouth opens, and a crop that zoomed with it
    would shrink the avatar's face.

    ``checkpoint``: the weights file; ``config``: a yaml file or a ``FommConfig`` (None: the vox-256
    layout); finding the default ones is ``modelstore``'s job. ``cache_dir``: where OpenVINO's converted
    models are kept (None: a folder in the temp dir). ``progress`` gets sentences for the user while a
    first use prepares the model (minutes on a small CPU). ``device_name`` says what runs, for
    people: "CPU, OpenVINO fp32", "CUDA: <GPU>, torch fp16 + CUDA graphs".

    Raises (constructor): ``CheckpointError`` (missing or bad checkpoint), ``InputError`` (bad config,
    backend or precision), ``DeviceError`` (a requested device is absent).
    """

    name = "fomm"

    def __init__(
        self,
        options: EngineOptions,
        *,
        checkpoint: Path,
        config: Path | FommConfig | None = None,
        backend: str = "auto",
        precision: str = "auto",
        device: str | None = None,
        cache_dir: Path | None = None,
        progress: Progress | None = None,
        align_corners: bool = True,
        adapt_movement_scale: bool = True,
        use_relative_jacobian: bool = True,
    ) -> None:
        super().__init__(options)
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise CheckpointError(f"FOMM checkpoint {checkpoint} not found")
        if config is None:
            self.config = FommConfig.vox256()
        else:
            self.config = config if isinstance(config, FommConfig) else FommConfig.from_yaml(Path(config))
        self.adapt_movement_scale = adapt_movement_scale
        self.use_relative_jacobian = use_relative_jacobian
        self.frame_size = self.config.frame_size
        choice = choose_runtime(backend, precision, device)
        kp_detector, generator = load_checkpoint(checkpoint, self.config, "cpu", align_corners)
        if choice.backend == "openvino" and not self.config.common_params.get("estimate_jacobian"):
            raise InputError(
                "the openvino backend needs a config with jacobians (estimate_jacobian): use --backend torch"
            )
        self._runtime = _build_runtime(
            choice, kp_detector, generator, self.config, checkpoint, cache_dir, align_corners, progress
        )
        self.device = self._runtime.device
        self.device_name = self._runtime.label
        self.precision = self._runtime.precision
        logger.info("FOMM engine ready: %s (%s)", self.device_name, checkpoint.name)
        if self.device.type == "cpu":
            logger.info("%s", _cpu_sentence(choice.backend))
        self._step_seconds: list[float] = []  # the first SPEED_FRAMES steps' times, for one log line
        self._avatar: _Avatar | None = None
        self._kp_initial: dict[str, torch.Tensor] | None = None
        self._regions: KeypointRegions | None = None  # region strengths' calibration (regions.py)
        self._motion: Motion | None = None
        self._anchor: _Anchor | None = None
        self._last_output: np.ndarray | None = None

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    # -- Engine interface ------------------------------------------------------------------------

    def set_avatar(self, image: np.ndarray) -> None:
        check_rgb(image, "avatar")
        track = detect_face(image)
        if not track.found or track.box is None:
            raise NoFaceError(
                "no face found in the avatar image: choose a portrait where one face is clearly visible, "
                "facing the camera"
            )
        crop = crop_face(image, track.box, self.frame_size)
        tensors = self._runtime.prepare(self._tensor(crop.image))
        rest = self._frame(crop.image, crop, image)
        self._avatar = _Avatar(image, track, crop, tensors, rest)
        self._update_motion()
        self._last_output = None
        logger.info("avatar set: %dx%d, face box %s", image.shape[1], image.shape[0], track.box)

    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        if not track.found or track.box is None:
            raise NoFaceError("no face in the driving frame: look at the camera, then calibrate again")
        check_rgb(image, "driving frame")
        self._anchor = _make_anchor(track)
        crop = self._driver_crop(image, track)
        self._kp_initial = self._runtime.keypoints(self._tensor(crop.image))
        landmarks = track.landmarks
        self._regions = (
            None if landmarks is None else KeypointRegions.calibrate(self._kp_initial, crop, landmarks)
        )
        self._update_motion()
        logger.info("calibrated on a face at %s", track.box)

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        avatar = self._require_avatar()
        if not track.found or track.box is None:
            return self._last_output if self._last_output is not None else avatar.rest
        if self._motion is None:
            self.calibrate(image, track)
        assert self._motion is not None  # calibrate sets it or raises
        check_rgb(image, "driving frame")
        crop = self._driver_crop(image, track)
        strength: float | torch.Tensor = float(self.strength)
        if self._regions is not None and track.landmarks is not None:
            crop = self._regions.head_crop(image, crop, track.landmarks, self.head)
            if (self.eyes, self.mouth) != (1.0, 1.0):
                gains = self._regions.gains(self.strength, self.eyes, self.mouth)
                strength = torch.as_tensor(gains, dtype=torch.float32, device=self.device)
        started = time.perf_counter()
        prediction = self._runtime.step(self._tensor(crop.image), avatar.tensors, self._motion, strength)
        self._note_speed(time.perf_counter() - started)
        self._last_output = self._frame(to_image(prediction), avatar.crop, avatar.image)
        return self._last_output

    @property
    def output_shape(self) -> tuple[int, int]:
        """The model's own frame size (square framing), or the avatar image's (full framing): the
        engine never rescales its output; each sink scales it once to the size it needs."""
        if self.options.framing is OutputFraming.FULL and self._avatar is not None:
            return self._avatar.image.shape[0], self._avatar.image.shape[1]
        return self.frame_size, self.frame_size

    @property
    def avatar_track(self) -> FaceTrack:
        return self._avatar.track if self._avatar is not None else FaceTrack.missing()

    @property
    def is_calibrated(self) -> bool:
        return self._kp_initial is not None

    def close(self) -> None:
        """Drop the runtime and the caches (GPU memory is returned to torch's allocator)."""
        self._avatar = None
        self._motion = None
        self._last_output = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None  # type: ignore[assignment]

    # -- helpers -----------------------------------------------------------------------------------

    def _note_speed(self, seconds: float) -> None:
        """Log once how many frames a second the network step made here (its first frames)."""
        if len(self._step_seconds) > SPEED_FRAMES:
            return
        self._step_seconds.append(seconds)
        if len(self._step_seconds) == SPEED_FRAMES + 1:
            median = float(np.median(self._step_seconds[1:]))  # the first step warms up
            logger.info(
                "fomm's network step takes %.0f ms here (%s): at most %.1f new frames a second",
                median * 1000,
                self.device_name,
                1 / median,
            )

    def _require_avatar(self) -> _Avatar:
        if self._avatar is None:
            raise RuntimeError("set_avatar must be called before animate")
        return self._avatar

    def _update_motion(self) -> None:
        """Relative motion for the current avatar and calibration (the movement scale, computed once)."""
        if self._avatar is None or self._kp_initial is None:
            self._motion = None
            return
        kp_source = self._avatar.tensors.kp_source
        if self.adapt_movement_scale:
            scale = movement_scale(kp_source, self._kp_initial)
        else:
            scale = torch.ones(1, device=kp_source["value"].device)
        self._motion = Motion(self._kp_initial, scale.float(), self.use_relative_jacobian)

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 (S, S, 3) -> (1, 3, S, S) float32 in [0, 1] on the runtime's device."""
        t = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1).unsqueeze(0)
        return (t.float() / 255.0).contiguous()

    def _driver_crop(self, image: np.ndarray, track: FaceTrack) -> FaceCrop:
        box = track.box if self._anchor is None else _follow_anchor(self._anchor, track)
        if box is None:
            raise NoFaceError("no face in the driving frame")
        return crop_face(image, box, self.frame_size)

    def _frame(self, face: np.ndarray, crop: FaceCrop, avatar_image: np.ndarray) -> np.ndarray:
        """Frame a (S, S, 3) face image as ``options.framing`` asks (square: the face as it is)."""
        if self.options.framing is OutputFraming.FULL:
            return paste_back(avatar_image, face, crop.frame_from_crop, feather_mask(face.shape[0]))
        return face


def _build_runtime(
    choice,
    kp_detector,
    generator,
    config: FommConfig,
    checkpoint: Path,
    cache_dir: Path | None,
    align_corners: bool,
    progress: Progress | None,
) -> Runtime:
    """The runtime ``choice`` names, over the loaded networks."""
    if choice.backend == "openvino":
        from avatarify_app.engines.fomm.runtime.openvino_runtime import OpenVinoRuntime, file_md5

        if cache_dir is None:
            cache_dir = Path(tempfile.gettempdir()) / "avatarify-model-cache"
            logger.info("no cache folder given: converted models go to %s", cache_dir)
        return OpenVinoRuntime(
            kp_detector,
            generator,
            config,
            checkpoint_md5=file_md5(checkpoint),
            cache_dir=cache_dir,
            precision=choice.precision,
            device=choice.device,
            align_corners=align_corners,
            progress=progress,
        )
    compute = select_device(choice.device)
    if compute.device.type == "cuda":
        from avatarify_app.engines.fomm.runtime.cuda_graphs import CudaGraphRuntime

        return CudaGraphRuntime(kp_detector, generator, compute, choice.precision)
    from avatarify_app.engines.fomm.runtime.torch_eager import TorchRuntime

    return TorchRuntime(kp_detector, generator, compute, choice.precision)


SPEED_FRAMES = 20


def _cpu_sentence(backend: str) -> str:
    """What is known here about this CPU, for the log (its speed is logged after SPEED_FRAMES frames)."""
    cpu = platform.processor() or platform.machine()
    if backend != "openvino":
        return f"fomm runs in torch on this CPU ({cpu}): install OpenVINO for a faster CPU runtime"
    from avatarify_app.engines.fomm.runtime.precision import offered_precisions, openvino_device_name

    offered = ", ".join(offered_precisions()) or "unknown"
    return (
        f"fomm runs on this CPU ({openvino_device_name() or cpu}) through OpenVINO, which runs "
        f"{offered} natively here; "
        f"its speed here is logged after {SPEED_FRAMES} frames"
    )


def _make_anchor(track: FaceTrack) -> _Anchor | None:
    frame = rigid_frame(track)
    if frame is None or track.box is None:
        return None
    return _Anchor(np.asarray(track.box, dtype=np.float64), frame[0], frame[1])


def _follow_anchor(anchor: _Anchor, track: FaceTrack) -> Box:
    """The calibration box moved and scaled as the rigid landmarks moved since calibration."""
    frame = rigid_frame(track)
    if frame is None:
        assert track.box is not None
        return track.box
    centre, spread = frame
    k = spread / anchor.spread
    corners = (anchor.box.reshape(2, 2) - anchor.centre) * k + centre
    x0, y0, x1, y1 = corners.reshape(4)
    return float(x0), float(y0), float(x1), float(y1)
