"""``FommEngine``: the First Order Motion Model behind the ``Engine`` interface."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming
from avatarify_app.engines.fomm.checkpoint import load_checkpoint
from avatarify_app.engines.fomm.config import FommConfig
from avatarify_app.engines.fomm.device import select_device
from avatarify_app.engines.fomm.frozen_conv import nnpack_threads
from avatarify_app.engines.fomm.keypoints import Keypoints
from avatarify_app.engines.fomm.motion import normalize_kp
from avatarify_app.engines.fomm.optimize import optimize_for_inference
from avatarify_app.engines.fomm.regions import KeypointRegions, scale_regions
from avatarify_app.errors import CheckpointError, InputError, NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.modelstore import app_root, default_models_dir
from avatarify_app.tracking import crop_face, detect_face
from avatarify_app.tracking.crop import FaceCrop, feather_mask, paste_back
from avatarify_app.tracking.landmarks import RIGID

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINTS = ("vox-adv-cpk.pth.tar", "vox-cpk.pth.tar")
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class _Avatar:
    """Everything ``animate`` needs that depends on the avatar alone (tensors on the engine's device)."""

    image: np.ndarray  # RGB uint8 (H, W, 3), as given
    track: FaceTrack
    crop: FaceCrop  # frame_size x frame_size around the face
    source: torch.Tensor  # (1, 3, S, S) in [0, 1], generator dtype
    kp_source: Keypoints  # float32
    features: torch.Tensor  # generator.encode(source)
    source_small: torch.Tensor  # the dense motion network's downsampled source
    rest: np.ndarray  # the output with no motion: the crop (SQUARE) or the image (FULL)


@dataclass(frozen=True, slots=True)
class _Anchor:
    """The calibration frame's face box, relative to the rigid landmarks (centroid and spread)."""

    box: np.ndarray  # (4,) x0, y0, x1, y1 in pixels
    centre: np.ndarray  # (2,)
    spread: float


def resolve_checkpoint(checkpoint: Path | None) -> Path:
    """``checkpoint``, or the first of ``DEFAULT_CHECKPOINTS`` in the models folder.

    Raises ``CheckpointError`` saying where to put one when there is none.
    """
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise CheckpointError(f"FOMM checkpoint {checkpoint} not found")
        return Path(checkpoint)
    models_dir = default_models_dir()
    for name in DEFAULT_CHECKPOINTS:
        if (models_dir / name).is_file():
            return models_dir / name
    raise CheckpointError(
        f"no FOMM checkpoint: put {DEFAULT_CHECKPOINTS[0]} in {models_dir} (avatarify models fetch "
        "vox-adv-cpk), or pass --checkpoint PATH; the weights (CC BY-NC 4.0) are not shipped with the app"
    )


def resolve_config(checkpoint: Path, config: Path | None) -> FommConfig:
    """``config``, else ``models/vox-adv-256.yaml`` for a checkpoint named "*adv*", else ``vox-256.yaml``.

    Both released configs describe the same networks; without the yaml files (an unusual install) the
    built-in vox-256 layout is used.
    """
    if config is not None:
        return FommConfig.from_yaml(Path(config))
    name = "vox-adv-256.yaml" if "adv" in checkpoint.name else "vox-256.yaml"
    path = app_root() / "models" / name
    if path.is_file():
        return FommConfig.from_yaml(path)
    logger.info("%s not found: using the built-in vox-256 network layout", path)
    return FommConfig.vox256()


class FommEngine(Engine):
    """Animate the avatar with FOMM keypoints: relative motion from the calibrated neutral frame.

    Per avatar (``set_avatar``), the face is cropped to the config's frame size (256 for the vox
    checkpoints) and its keypoints, encoder features and downsampled image are cached, so each frame
    runs only the keypoint detector on the driver, the dense motion network and the generator's
    decoder. The driver's crop follows its face box as it was at calibration, moved and scaled with the
    rigid landmarks (eyes, nose, forehead): the box of all landmarks grows when the mouth opens, and a
    crop that zoomed with it would shrink the avatar's face.

    On the CPU, ``animate`` may lower torch's process-wide thread count for the duration of the call
    (``frozen_conv.nnpack_threads``); the caller's setting is restored before it returns.

    Raises (constructor): ``CheckpointError`` (missing or bad checkpoint), ``InputError`` (bad config),
    ``DeviceError`` (a requested device is absent).
    """

    name = "fomm"

    def __init__(
        self,
        options: EngineOptions,
        *,
        checkpoint: Path | None = None,
        config: Path | None = None,
        device: str | None = None,
        fp16: bool = False,
        align_corners: bool = True,
        adapt_movement_scale: bool = True,
        use_relative_jacobian: bool = True,
    ) -> None:
        super().__init__(options)
        checkpoint_path = resolve_checkpoint(checkpoint)
        self.config = resolve_config(checkpoint_path, config)
        compute = select_device(device)
        self.device = compute.device
        self.device_name = compute.label
        self.fp16 = fp16 and self.device.type == "cuda"
        if fp16 and not self.fp16:
            logger.info("fp16 is for CUDA GPUs only: running in float32 on %s", self.device_name)
        self.adapt_movement_scale = adapt_movement_scale
        self.use_relative_jacobian = use_relative_jacobian
        self.frame_size = self.config.frame_size
        kp_detector, generator = load_checkpoint(checkpoint_path, self.config, "cpu", align_corners)
        self._dtype = torch.float16 if self.fp16 else torch.float32
        memory_format = torch.contiguous_format if compute.is_cpu else torch.channels_last
        self._memory_format = memory_format
        self._threads = nnpack_threads if compute.is_cpu else contextlib.nullcontext
        kp_detector = optimize_for_inference(kp_detector, inplace=True)
        # torch's stub for Module.to omits memory_format, which Module.to takes (torch docs).
        self._kp_detector = kp_detector.to(self.device, memory_format=memory_format)  # type: ignore[call-overload]
        self._generator = optimize_for_inference(generator, inplace=True).to(  # type: ignore[call-overload]
            self.device, self._dtype, memory_format=memory_format
        )
        if compute.is_cpu:
            logger.info(
                "FOMM runs on the CPU (%d threads): expect about 0.3 to 0.4 s a frame on 2 cores; a CUDA "
                "GPU makes it real-time",
                torch.get_num_threads(),
            )
        logger.info("FOMM engine ready on %s (%s)", self.device_name, checkpoint_path.name)
        self._avatar: _Avatar | None = None
        self._kp_initial: Keypoints | None = None
        self._regions: KeypointRegions | None = None  # region strengths' calibration (regions.py)
        self._anchor: _Anchor | None = None
        self._last_output: np.ndarray | None = None

    # -- Engine interface ------------------------------------------------------------------------

    def set_avatar(self, image: np.ndarray) -> None:
        _check_image(image, "avatar")
        track = detect_face(image)
        if not track.found or track.box is None:
            raise NoFaceError(
                "no face found in the avatar image: choose a portrait where one face is clearly visible, "
                "facing the camera"
            )
        crop = crop_face(image, track.box, self.frame_size)
        with torch.inference_mode():
            source = self._tensor(crop.image)
            kp_source = self._kp_detector(source.float())
            features = self._generator.encode(source.to(self._dtype))
            small = self._generator.dense_motion_network.downsample(source.to(self._dtype))
        rest = self._frame(crop.image, crop, image)
        self._avatar = _Avatar(image, track, crop, source.to(self._dtype), kp_source, features, small, rest)
        self._last_output = None
        logger.info("avatar set: %dx%d, face box %s", image.shape[1], image.shape[0], track.box)

    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        if not track.found or track.box is None:
            raise NoFaceError("no face in the driving frame: look at the camera, then calibrate again")
        _check_image(image, "driving frame")
        self._anchor = _make_anchor(track)
        crop = self._driver_crop(image, track)
        with torch.inference_mode():
            self._kp_initial = self._kp_detector(self._tensor(crop.image))
        landmarks = track.landmarks
        self._regions = (
            None if landmarks is None else KeypointRegions.calibrate(self._kp_initial, crop, landmarks)
        )
        logger.info("calibrated on a face at %s", track.box)

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        avatar = self._require_avatar()
        if not track.found or track.box is None:
            return self._last_output if self._last_output is not None else avatar.rest
        if self._kp_initial is None:
            self.calibrate(image, track)
        assert self._kp_initial is not None  # calibrate sets it or raises
        _check_image(image, "driving frame")
        crop = self._driver_crop(image, track)
        if self._regions is not None and track.landmarks is not None:
            crop = self._regions.head_crop(image, crop, track.landmarks, self.head)
        with torch.inference_mode(), self._threads():
            kp_driving = self._kp_detector(self._tensor(crop.image))
            kp_norm = normalize_kp(
                avatar.kp_source,
                kp_driving,
                self._kp_initial,
                adapt_movement_scale=self.adapt_movement_scale,
                use_relative_movement=True,
                use_relative_jacobian=self.use_relative_jacobian,
            )
            kp_norm = scale_regions(
                self._regions, avatar.kp_source, kp_norm, self.strength, self.eyes, self.mouth
            )
            out = self._generator(
                avatar.source,
                kp_driving={k: v.to(self._dtype) for k, v in kp_norm.items()},
                kp_source={k: v.to(self._dtype) for k, v in avatar.kp_source.items()},
                source_features=avatar.features,
                source_small=avatar.source_small,
                return_deformed=False,
            )
            prediction = _to_image(out["prediction"])
        self._last_output = self._frame(prediction, avatar.crop, avatar.image)
        return self._last_output

    @property
    def output_shape(self) -> tuple[int, int]:
        if self.options.framing is OutputFraming.FULL and self._avatar is not None:
            return self._avatar.image.shape[0], self._avatar.image.shape[1]
        return self.options.size, self.options.size

    @property
    def avatar_track(self) -> FaceTrack:
        return self._avatar.track if self._avatar is not None else FaceTrack.missing()

    @property
    def is_calibrated(self) -> bool:
        return self._kp_initial is not None

    def close(self) -> None:
        """Drop the networks and caches (GPU memory is returned to torch's allocator)."""
        self._avatar = None
        self._last_output = None
        self._kp_detector = None  # type: ignore[assignment]
        self._generator = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- helpers -----------------------------------------------------------------------------------

    def _require_avatar(self) -> _Avatar:
        if self._avatar is None:
            raise RuntimeError("set_avatar must be called before animate")
        return self._avatar

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 (S, S, 3) -> (1, 3, S, S) float32 in [0, 1] on the device."""
        t = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1).unsqueeze(0)
        return (t.float() / 255.0).contiguous(memory_format=self._memory_format)

    def _driver_crop(self, image: np.ndarray, track: FaceTrack) -> FaceCrop:
        box = track.box if self._anchor is None else _follow_anchor(self._anchor, track)
        if box is None:
            raise NoFaceError("no face in the driving frame")
        return crop_face(image, box, self.frame_size)

    def _frame(self, face: np.ndarray, crop: FaceCrop, avatar_image: np.ndarray) -> np.ndarray:
        """Frame a (S, S, 3) face image as ``options.framing`` asks."""
        if self.options.framing is OutputFraming.FULL:
            return paste_back(avatar_image, face, crop.frame_from_crop, feather_mask(face.shape[0]))
        size = self.options.size
        if face.shape[0] == size:
            return face.copy()
        interpolation = cv2.INTER_CUBIC if size > face.shape[0] else cv2.INTER_AREA
        return cv2.resize(face, (size, size), interpolation=interpolation)


def _check_image(image: np.ndarray, what: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        raise InputError(
            f"the {what} must be an RGB uint8 image (H, W, 3), got {getattr(image, 'dtype', '?')} {shape}"
        )


def _to_image(prediction: torch.Tensor) -> np.ndarray:
    """(1, 3, S, S) in [0, 1] -> RGB uint8 (S, S, 3)."""
    image = (prediction[0].float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return image.permute(1, 2, 0).contiguous().cpu().numpy()


def _rigid_frame(track: FaceTrack) -> tuple[np.ndarray, float] | None:
    """Centroid (2,) and RMS spread (pixels) of the rigid landmarks, None without landmarks."""
    landmarks = track.landmarks
    if landmarks is None or len(landmarks) <= max(RIGID):
        return None
    points = np.asarray(landmarks, dtype=np.float64)[list(RIGID), :2]
    centre = points.mean(axis=0)
    spread = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
    return (centre, spread) if spread > 0 else None


def _make_anchor(track: FaceTrack) -> _Anchor | None:
    frame = _rigid_frame(track)
    if frame is None or track.box is None:
        return None
    return _Anchor(np.asarray(track.box, dtype=np.float64), frame[0], frame[1])


def _follow_anchor(anchor: _Anchor, track: FaceTrack) -> Box:
    """The calibration box moved and scaled as the rigid landmarks moved since calibration."""
    frame = _rigid_frame(track)
    if frame is None:
        assert track.box is not None
        return track.box
    centre, spread = frame
    k = spread / anchor.spread
    corners = (anchor.box.reshape(2, 2) - anchor.centre) * k + centre
    x0, y0, x1, y1 = corners.reshape(4)
    return float(x0), float(y0), float(x1), float(y1)
