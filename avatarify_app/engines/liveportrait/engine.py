"""``LivePortraitEngine``: LivePortrait behind the ``Engine`` interface (torch eager)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming
from avatarify_app.engines.liveportrait.checkpoint import (
    LivePortraitModels,
    find_files,
    layout_of,
    load_models,
)
from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from avatarify_app.engines.liveportrait.model import KeypointInfo, RegionGains
from avatarify_app.engines.liveportrait.model.keypoints import (
    LIP_NORMALIZE_THRESHOLD,
    retarget_lip,
    source_keypoints,
)
from avatarify_app.engines.liveportrait.model.warping import SourceMotionCache
from avatarify_app.engines.liveportrait.ratios import eye_ratios, lip_ratio
from avatarify_app.engines.liveportrait.runtime.step import (
    StepFlags,
    StepInputs,
    StepNetworks,
    TorchNetworks,
    frame_step,
)
from avatarify_app.engines.tensors import to_image
from avatarify_app.errors import DeviceError, InputError, NoFaceError
from avatarify_app.frames import FaceTrack, check_rgb
from avatarify_app.tracking import crop_face, detect_face
from avatarify_app.tracking.crop import FaceCrop, feather_mask, paste_back, transform_points
from avatarify_app.tracking.landmarks import rigid_frame

if TYPE_CHECKING:
    from avatarify_app.engines.liveportrait.runtime.cuda_graphs import GraphedStep
    from avatarify_app.engines.liveportrait.runtime.openvino import OpenVinoNetworks

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
Progress = Callable[[str], None]

# The crop around the FaceMesh box. The reference crops 2.3 x its landmarks' extent (eyebrows to chin),
# moved up by 0.125 of the side; FaceMesh's box reaches the forehead, so a little less of it gives
# about the same framing.
CROP_SCALE = 2.0
CROP_SHIFT_Y = -0.1
BACKENDS = ("auto", "torch", "cuda-graphs", "openvino")
PRECISIONS = ("auto", "fp32", "fp16")


@dataclass(frozen=True, slots=True)
class _Avatar:
    """Everything ``animate`` needs that depends on the avatar alone (tensors on the engine's device)."""

    image: np.ndarray  # RGB uint8 (H, W, 3), as given
    track: FaceTrack
    crop: FaceCrop  # output_size x output_size: the geometry of the output and of the paste-back
    feature_3d: torch.Tensor  # (1, C, D, S/4, S/4), F's volume
    info: KeypointInfo  # M's parameters of the avatar
    x_s: torch.Tensor  # (1, 21, 3) the avatar's transformed keypoints
    motion_cache: (
        SourceMotionCache | None
    )  # W's source-only part (torch only) (compressed volume, grid, Gaussians)
    lip_delta: (
        torch.Tensor | None
    )  # (1, 21, 3) closes the avatar's mouth first (the reference's normalize_lip)
    eye_ratios: torch.Tensor | None  # (1, 2) the avatar's eye open ratios, None without landmarks
    eye_own: float  # their mean (0 without landmarks)
    rest: np.ndarray  # the output with no motion: the crop (SQUARE) or the image (FULL)


@dataclass(frozen=True, slots=True)
class _Neutral:
    """The calibration frame: M's parameters, its eye ratio and its face box relative to the rigid
    landmarks (the driver's crop follows that box as the rigid landmarks move)."""

    info: KeypointInfo
    eye_ratio: float | None
    box: np.ndarray  # (4,) x0, y0, x1, y1
    centre: np.ndarray | None  # (2,) rigid landmarks' centroid
    spread: float


class LivePortraitEngine(Engine):
    """Animate the avatar with LivePortrait's implicit 3D keypoints, relative to the calibrated frame.

    Per avatar (``set_avatar``): FaceMesh finds the face, a square crop around it (no rotation) is the
    output's geometry (``output_size``, 512) and, resized to ``input_size`` (256), goes through F (the
    3D appearance volume) and M (keypoints, pose, expression); the avatar's eye and lip ratios come from
    its FaceMesh landmarks, and the lip-normalizing delta (the reference's ``flag_normalize_lip``) is
    computed once. Per frame: M on the driver's crop, the relative motion from the neutral frame with
    ``strength`` on the expression and the region gains (``eyes`` and ``mouth`` on their keypoints'
    expression deltas, ``head`` on rotation, translation and scale), the stitching MLP (``stitching``,
    on by default), then W and G. ``eye_retargeting`` (off by default) drives the avatar's lids with the
    eye MLP from the driver's FaceMesh eye ratio instead of M's eye deltas.

    ``checkpoint``: the folder of the five released files (``checkpoint.find_files``); ``config``: the
    network sizes (None: the released layout). ``device``: "cpu" (None), "cuda", "cuda:N".
    ``precision``: "fp32", or "fp16" on CUDA (autocast); "auto" is fp32 on the CPU, fp16 on CUDA.
    ``backend``: "torch" (eager), "cuda-graphs" (CUDA only: the per-frame step captured once as a
    CUDA graph and replayed, see ``runtime/cuda_graphs.py``), "auto" (cuda-graphs on CUDA, else
    torch), or "openvino" (CPU, fp32: F, M, W and G converted once per weights folder into
    ``cache_dir``, None: a folder in the temp dir; ``progress`` gets a sentence per network converted;
    see ``runtime/openvino.py``). Every backend runs the same per-frame function,
    ``runtime.step.frame_step``. ``device_name`` says what runs, e.g. "CPU, torch fp32",
    "CPU, OpenVINO fp32" or "CUDA: NVIDIA H200, CUDA graphs fp16".

    Raises (constructor): ``CheckpointError`` (missing or bad files), ``InputError`` (bad backend,
    precision or config), ``DeviceError`` (no such device).
    """

    name = "liveportrait"

    def __init__(
        self,
        options: EngineOptions,
        *,
        checkpoint: Path,
        config: LivePortraitConfig | None = None,
        backend: str = "auto",
        precision: str = "auto",
        device: str | None = None,
        stitching: bool = True,
        normalize_lip: bool = True,
        eye_retargeting: bool = False,
        progress: Progress | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__(options)
        if backend not in BACKENDS:
            raise InputError(
                f"unknown backend {backend!r} for liveportrait: choose one of {', '.join(BACKENDS)}"
            )
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        self.device = _select_device(device)
        on_cuda = self.device.type == "cuda"
        if precision == "fp16" and not on_cuda:
            raise InputError("fp16 needs a CUDA device for the liveportrait engine: use --precision fp32")
        self.precision = "fp16" if precision == "fp16" or (precision == "auto" and on_cuda) else "fp32"
        self.config = config or layout_of(Path(checkpoint))
        if progress is not None:
            progress("loading the LivePortrait weights")
        self.models: LivePortraitModels = load_models(Path(checkpoint), self.config, self.device)
        self.stitching = stitching
        self.normalize_lip = normalize_lip
        self.eye_retargeting = eye_retargeting
        self._ov: OpenVinoNetworks | None = None
        self._nets: StepNetworks = TorchNetworks(self.models)
        self._graphed: GraphedStep | None = None
        if backend == "openvino":
            if on_cuda or self.precision != "fp32":
                raise InputError("the openvino backend runs on the CPU in fp32: drop --device / --precision")
            self._ov = _openvino_networks(self.models, self.config, Path(checkpoint), cache_dir, progress)
            self._nets = self._ov
        if backend == "cuda-graphs" and not on_cuda:
            raise InputError("the cuda-graphs backend needs a CUDA device: use --backend torch on the CPU")
        if on_cuda and backend in ("auto", "cuda-graphs"):
            from avatarify_app.engines.liveportrait.runtime.cuda_graphs import GraphedStep

            self._graphed = GraphedStep(self._step, self.device)
        where = f"CUDA: {torch.cuda.get_device_name(self.device)}" if on_cuda else "CPU"
        runner = "OpenVINO" if self._ov is not None else "CUDA graphs" if self._graphed else "torch"
        self.device_name = f"{where}, {runner} {self.precision}"
        self.frames_behind = 0
        self._avatar: _Avatar | None = None
        self._neutral: _Neutral | None = None
        self._last_output: np.ndarray | None = None
        logger.info("LivePortrait engine ready: %s (%s)", self.device_name, checkpoint)

    # -- Engine interface ------------------------------------------------------------------------

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def output_size(self) -> int:
        return self.config.output_size

    def set_avatar(self, image: np.ndarray) -> None:
        check_rgb(image, "avatar")
        track = detect_face(image)
        if not track.found or track.box is None:
            raise NoFaceError(
                "no face found in the avatar image: choose a portrait where one face is clearly visible, "
                "facing the camera"
            )
        crop = crop_face(image, track.box, self.output_size, CROP_SCALE, CROP_SHIFT_Y, keep_inside=True)
        with torch.no_grad(), self._autocast():
            source = self._tensor(crop.image)
            feature_3d = self._appearance(source)
            info = self._keypoint_info(source)
            x_s = source_keypoints(info)
            motion_cache = None if self._ov is not None else self.models.warping.prepare(feature_3d, x_s)
            lip_delta, eyes = None, None
            if track.landmarks is not None:
                landmarks = transform_points(crop.crop_from_frame, np.asarray(track.landmarks, np.float64))
                eyes = torch.tensor([eye_ratios(landmarks)], dtype=torch.float32, device=self.device)
                c_lip = lip_ratio(landmarks)
                if c_lip >= LIP_NORMALIZE_THRESHOLD:
                    ratios = torch.tensor([[c_lip, 0.0]], dtype=torch.float32, device=self.device)
                    lip_delta = retarget_lip(self.models.stitching, x_s, ratios).float()
        rest = self._frame(crop.image, crop, image)
        own = 0.0 if eyes is None else float(eyes.mean())
        self._avatar = _Avatar(
            image, track, crop, feature_3d, info, x_s, motion_cache, lip_delta, eyes, own, rest
        )
        self._last_output = None
        logger.info("avatar set: %dx%d, face box %s", image.shape[1], image.shape[0], track.box)

    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        if not track.found or track.box is None:
            raise NoFaceError("no face in the driving frame: look at the camera, then calibrate again")
        check_rgb(image, "driving frame")
        crop = crop_face(image, track.box, self.input_size, CROP_SCALE, CROP_SHIFT_Y)
        with torch.no_grad(), self._autocast():
            info = self._keypoint_info(self._tensor(crop.image))
        rigid = rigid_frame(track)
        eye = None if track.landmarks is None else float(np.mean(eye_ratios(track.landmarks)))
        self._neutral = _Neutral(
            info,
            eye,
            np.asarray(track.box, dtype=np.float64),
            None if rigid is None else rigid[0],
            0.0 if rigid is None else rigid[1],
        )
        logger.info("calibrated on a face at %s", track.box)

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        avatar = self._require_avatar()
        if not track.found or track.box is None:
            return self._last_output if self._last_output is not None else avatar.rest
        if self._neutral is None:
            self.calibrate(image, track)
        neutral = self._neutral
        assert neutral is not None  # calibrate sets it or raises
        check_rgb(image, "driving frame")
        inputs, flags = self.step_inputs(image, track)
        prediction = self._graphed(inputs, flags) if self._graphed is not None else self._step(inputs, flags)
        self._last_output = self._frame(to_image(prediction), avatar.crop, avatar.image)
        return self._last_output

    def step_inputs(self, image: np.ndarray, track: FaceTrack) -> tuple[StepInputs, StepFlags]:
        """What ``frame_step`` reads for this driving frame (a found face; after ``set_avatar`` and
        ``calibrate``), and its switches."""
        avatar, neutral = self._require_avatar(), self._neutral
        if neutral is None or track.box is None:
            raise RuntimeError("step_inputs needs a calibrated engine and a found face")
        crop = crop_face(image, self._driver_box(neutral, track), self.input_size, CROP_SCALE, CROP_SHIFT_Y)
        retarget = self.eye_retargeting and avatar.eye_ratios is not None and track.landmarks is not None
        gains = RegionGains(
            expression=float(self.strength),
            eyes=0.0 if retarget else float(self.eyes),
            mouth=float(self.mouth),
            head=float(self.head),
        )
        inputs = StepInputs(
            driver=self._tensor(crop.image),
            weights=gains.expression_weights(avatar.x_s.shape[1]).to(self.device),
            head=torch.tensor(gains.head, device=self.device),
            eye_target=torch.tensor([[self._eye_target(avatar, neutral, track)]], device=self.device),
            feature_3d=avatar.feature_3d,
            source=avatar.info,
            x_s=avatar.x_s,
            motion_cache=avatar.motion_cache,
            lip_delta=avatar.lip_delta,
            eye_ratios=avatar.eye_ratios,
            neutral=neutral.info,
        )
        flags = StepFlags(
            stitching=self.stitching,
            lip=self.normalize_lip and avatar.lip_delta is not None,
            eye_retargeting=self.eye_retargeting and avatar.eye_ratios is not None,
        )
        return inputs, flags

    @property
    def output_shape(self) -> tuple[int, int]:
        """The model's output size (square framing: 512 for the released weights), or the avatar
        image's (full framing); sinks scale it to what they need."""
        if self.options.framing is OutputFraming.FULL and self._avatar is not None:
            return self._avatar.image.shape[0], self._avatar.image.shape[1]
        return self.output_size, self.output_size

    @property
    def avatar_track(self) -> FaceTrack:
        return self._avatar.track if self._avatar is not None else FaceTrack.missing()

    @property
    def is_calibrated(self) -> bool:
        return self._neutral is not None

    def close(self) -> None:
        """Drop the caches and the networks (GPU memory returns to torch's allocator)."""
        self._avatar = None
        self._neutral = None
        self._last_output = None
        self._ov = None
        if getattr(self, "_graphed", None) is not None:
            self._graphed.close()  # type: ignore[union-attr]
            self._graphed = None
        if getattr(self, "models", None) is not None:
            self.models = None  # type: ignore[assignment]
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    # -- helpers -----------------------------------------------------------------------------------

    def _require_avatar(self) -> _Avatar:
        if self._avatar is None:
            raise RuntimeError("set_avatar must be called before animate")
        return self._avatar

    def _autocast(self) -> torch.autocast:
        # No weight cache: a CUDA graph cannot be captured with it, and without grad it saves nothing.
        return torch.autocast(
            device_type=self.device.type,
            dtype=torch.float16,
            enabled=self.precision == "fp16",
            cache_enabled=False,
        )

    def _step(self, inputs: StepInputs, flags: StepFlags) -> torch.Tensor:
        """The per-frame step as every backend runs it (CUDA graphs capture this call)."""
        with torch.no_grad(), self._autocast():
            return frame_step(self._nets, inputs, flags)

    def _keypoint_info(self, x: torch.Tensor) -> KeypointInfo:
        heads = self._ov.motion(x) if self._ov is not None else self.models.motion(x)
        return KeypointInfo.from_heads(heads.float())

    def _appearance(self, x: torch.Tensor) -> torch.Tensor:
        return self._ov.appearance(x) if self._ov is not None else self.models.appearance(x).float()

    def _eye_target(self, avatar: _Avatar, neutral: _Neutral, track: FaceTrack) -> float:
        """The eye ratio for the avatar's lids: its own mean ratio scaled by how much the driver's eyes
        opened or closed since calibration, times ``eyes`` (the avatar's own when not retargeting)."""
        own = avatar.eye_own
        if not self.eye_retargeting or avatar.eye_ratios is None or track.landmarks is None:
            return own
        now = float(np.mean(eye_ratios(track.landmarks)))
        target = own * now / neutral.eye_ratio if neutral.eye_ratio else own
        return own + float(self.eyes) * (target - own)

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 (S, S, 3) -> (1, 3, input_size, input_size) float32 in [0, 1] on the device."""
        if image.shape[0] != self.input_size:
            image = cv2.resize(image, (self.input_size, self.input_size), interpolation=cv2.INTER_AREA)
        t = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1).unsqueeze(0)
        return (t.float() / 255.0).contiguous()

    def _driver_box(self, neutral: _Neutral, track: FaceTrack) -> Box:
        """The calibration box moved and scaled as the rigid landmarks moved since (the box of all
        landmarks grows when the mouth opens; a crop that zoomed with it would shrink the face)."""
        frame = rigid_frame(track)
        if frame is None or neutral.centre is None or neutral.spread <= 0:
            assert track.box is not None
            return track.box
        centre, spread = frame
        corners = (neutral.box.reshape(2, 2) - neutral.centre) * (spread / neutral.spread) + centre
        x0, y0, x1, y1 = corners.reshape(4)
        return float(x0), float(y0), float(x1), float(y1)

    def _frame(self, face: np.ndarray, crop: FaceCrop, avatar_image: np.ndarray) -> np.ndarray:
        """Frame an (S, S, 3) face as ``options.framing`` asks (square: as it is; full: pasted back
        into the avatar picture through the crop's inverse transform, with a feathered edge)."""
        if self.options.framing is OutputFraming.FULL:
            return paste_back(avatar_image, face, crop.frame_from_crop, feather_mask(face.shape[0]))
        return face


def _openvino_networks(
    models: LivePortraitModels,
    config: LivePortraitConfig,
    checkpoint: Path,
    cache_dir: Path | None,
    progress: Progress | None,
) -> OpenVinoNetworks:
    """The converted networks, from the cache in ``cache_dir`` (None: a folder in the temp dir)."""
    try:
        from avatarify_app.engines.liveportrait.runtime.openvino import OpenVinoNetworks, weights_key
    except ImportError as exc:  # pragma: no cover - openvino ships with the app's environment
        raise InputError(f"the openvino backend needs the openvino package: {exc}") from exc
    if cache_dir is None:
        cache_dir = Path(tempfile.gettempdir()) / "avatarify-model-cache"
        logger.info("no cache folder given: converted models go to %s", cache_dir)
    key = weights_key(list(find_files(checkpoint).values()), config)
    return OpenVinoNetworks(models, config, key, cache_dir, progress, threads=torch.get_num_threads())


def _select_device(device: str | None) -> torch.device:
    if device in (None, "", "auto", "cpu"):
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from exc
    if chosen.type != "cuda":
        raise InputError(f"the liveportrait engine runs on cpu or cuda, not {device!r}")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} asked for, but torch sees no CUDA GPU here")
    if chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise DeviceError(f"no CUDA device {chosen.index}: torch sees {torch.cuda.device_count()}")
    return chosen
