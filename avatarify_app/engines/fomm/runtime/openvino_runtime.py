"""The OpenVINO runtime: the per-frame networks converted once per checkpoint and cached on disk.

First use of a checkpoint (per config, fp32 or int8): the keypoint detector, the generator's per-avatar
part and its per-frame part in two pieces (dense motion, decoder) are exported to ONNX
(``export.py``), read by OpenVINO and saved as OpenVINO IR in the cache folder; int8 also quantizes the
per-frame parts with NNCF, calibrated on driving frames the project ships and made variations of them
(``calibration.py``). Later uses read the IR and compile it (OpenVINO's own compiled-blob cache makes
that quick too). A cache entry that cannot be read back (a damaged or partial file) is rebuilt.

Precision (``precision.py``): each per-frame part is compiled with its own inference precision hint
(``fp32``, ``bf16``, ``fp16``) or from the quantized IR (``int8``); ``auto`` is the fastest plan
measured faithful on this kind of CPU. The label says what the compiled parts report, not only what
was asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avatarify_app.engines.fomm.config import FommConfig
from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.model.keypoints import Keypoints, KPDetector
from avatarify_app.engines.fomm.model.motion import normalize_kp
from avatarify_app.engines.fomm.runtime import export
from avatarify_app.engines.fomm.runtime.base import AvatarTensors, Runtime
from avatarify_app.engines.fomm.runtime.ov import import_nncf, import_openvino
from avatarify_app.engines.fomm.runtime.precision import (
    STEP_PARTS,
    PrecisionPlan,
    offered_precisions,
    resolve_plan,
)

logger = logging.getLogger(__name__)

# Bump when the exported graphs change: old cache entries are then ignored (and can be deleted).
EXPORT_VERSION = 2  # 2: the generator's per-frame part in two (motion, decoder)
PARTS = (*STEP_PARTS, "avatar")
QUANTIZED_PARTS = STEP_PARTS  # those int8 can quantize; the avatar part (once per avatar) stays fp32
# Operations int8 leaves in float (NNCF's ignored scopes, patterns over OpenVINO's node names), per
# quantized part. The int8 mode quantizes only the decoder (precision.FAST_PLANS: the keypoints and
# the dense motion do not survive it, docs/fomm.md); inside the decoder, leaving the up blocks and the
# final conv in float ("/final/.*", "/up_blocks.*") gained 0.5 dB (32.7 against 32.2: the bottleneck
# is where int8 costs), for a third of the decoder's arithmetic back in float: none is left out.
INT8_IGNORED: dict[str, tuple[str, ...]] = {}
INT8_VERSION = 2  # bump when the calibration data or INT8_IGNORED change: old int8 entries are ignored
CALIBRATION_SAMPLES = 48  # about this many generator samples (avatar x driving pairs), spread
_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def config_digest(config: FommConfig, align_corners: bool) -> str:
    """A short hash of everything in the config that changes the exported graphs."""
    text = json.dumps(
        [
            config.common_params,
            config.kp_detector_params,
            config.generator_params,
            config.frame_size,
            align_corners,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class CacheKey:
    """One cache entry: a checkpoint (md5), a network layout, fp32 or int8 IR (``int8_parts``: the
    per-frame parts quantized in it, the others fp32), our export version."""

    checkpoint_md5: str
    config: str
    quantized: bool
    int8_parts: tuple[str, ...] = ("decoder",)

    @property
    def folder(self) -> str:
        version = import_openvino().__version__.split("-")[0]
        kind = f"int8q{INT8_VERSION}-{'+'.join(self.int8_parts)}" if self.quantized else "fp32"
        return f"{self.checkpoint_md5[:16]}-{self.config}-{kind}-ov{version}-v{EXPORT_VERSION}"


class ModelCache:
    """Converted models under ``root`` (the user cache folder): one folder per ``CacheKey``.

    An entry holds ``<part>.xml/.bin`` for each of ``PARTS`` and ``manifest.json`` with each
    file's md5; it is written to a temporary folder and renamed into place, so a half-written entry
    is never read. ``load`` returns None for an absent entry and deletes a damaged one.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: CacheKey) -> Path:
        return self.root / key.folder

    def load(self, key: CacheKey) -> dict[str, Any] | None:
        ov = import_openvino()

        folder = self.path(key)
        if not folder.is_dir():
            return None
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            for name, digest in manifest["files"].items():
                if file_md5(folder / name) != digest:
                    raise ValueError(f"{name} does not match its manifest")
            core = ov.Core()
            return {part: core.read_model(str(folder / f"{part}.xml")) for part in PARTS}
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            logger.warning("the converted model in %s is damaged (%s): rebuilding it", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def store(self, key: CacheKey, models: dict[str, Any]) -> None:
        ov = import_openvino()

        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.root))
        try:
            for part in PARTS:
                ov.save_model(models[part], str(staging / f"{part}.xml"), compress_to_fp16=False)
            files = {p.name: file_md5(p) for p in sorted(staging.iterdir())}
            (staging / "manifest.json").write_text(json.dumps({"files": files}, indent=1), encoding="utf-8")
            target = self.path(key)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        except OSError as exc:  # a read-only or full disk: run without the cache
            logger.warning("could not cache the converted model in %s: %s", self.root, exc)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _compile(
    models: dict[str, Any], device: str, properties: dict[str, dict[str, Any]], blobs: Path
) -> dict[str, Any]:
    """Compile every part for ``device`` with its ``properties[part]``, with OpenVINO's compiled-blob
    cache in ``blobs`` (a quicker start after the first); a blob cache that fails (damaged, or written
    by another instance right now) is bypassed, never fatal."""
    ov = import_openvino()
    core = ov.Core()
    try:
        core.set_property({"CACHE_DIR": str(blobs)})
        return {part: core.compile_model(models[part], device, properties[part]) for part in models}
    except RuntimeError as exc:
        logger.warning("OpenVINO's compiled-model cache in %s failed (%s): compiling without it", blobs, exc)
        shutil.rmtree(blobs, ignore_errors=True)
        core = ov.Core()
        return {part: core.compile_model(models[part], device, properties[part]) for part in models}


def file_md5(path: Path) -> str:
    """The md5 of a file, as lowercase hex (the cache key of a checkpoint, and the manifest)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class OpenVinoRuntime(Runtime):
    """The per-frame networks compiled by OpenVINO for ``device`` ("CPU", or "GPU": an Intel GPU).

    ``kp_detector`` and ``generator`` (float32, eval mode, on the CPU) are the loaded checkpoint: they
    are exported on first use, and not kept (all parts, the avatar's encoder included, run in
    OpenVINO). ``precision``: "auto", "fp32", "bf16", "fp16", "int8", a per-part spec
    ("keypoints=fp32,motion=fp32,decoder=bf16") or a ``PrecisionPlan`` (``precision.py``).
    ``checkpoint_md5`` and ``config`` identify the cache entry. ``progress`` gets sentences for the
    user while a first use converts the model.
    """

    def __init__(
        self,
        kp_detector: KPDetector,
        generator: OcclusionAwareGenerator,
        config: FommConfig,
        *,
        checkpoint_md5: str,
        cache_dir: Path,
        precision: str | PrecisionPlan = "auto",
        device: str = "CPU",
        align_corners: bool = True,
        progress: Progress | None = None,
    ) -> None:
        self.kp_detector = kp_detector.eval()
        self.generator = generator.eval()
        self.size = config.frame_size
        self.device = torch.device("cpu")
        self.conversion_s = 0.0
        offered = offered_precisions(device)
        plan = precision if isinstance(precision, PrecisionPlan) else resolve_plan(precision, offered)
        self._progress = progress or _quiet
        self._cache = ModelCache(cache_dir)
        digest = config_digest(config, align_corners)
        models = self._models(CacheKey(checkpoint_md5, digest, quantized=False))
        if plan.quantized:
            parts = tuple(p for p in STEP_PARTS if plan.of(p) == "int8")
            quantized = self._models(CacheKey(checkpoint_md5, digest, True, parts), models)
            models = {**models, **{p: quantized[p] for p in STEP_PARTS if plan.of(p) == "int8"}}
        base: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
        if device == "CPU":
            # The dense motion's Gaussian heatmaps underflow through denormal floats (below 1e-38)
            # away from the keypoints; x86 CPUs compute those slowly, and flushing them to zero
            # changes nothing visible. (Its effect alone has not been measured here.)
            base["CPU_DENORMALS_OPTIMIZATION"] = True
        properties = {part: dict(base) for part in PARTS}
        properties["avatar"]["INFERENCE_PRECISION_HINT"] = "f32"  # once per avatar: the reference
        for part in STEP_PARTS:
            # int8: the quantized IR; the operations NNCF left in float run in fp32.
            wanted = "fp32" if plan.of(part) == "int8" else plan.of(part)
            if offered and wanted not in offered:  # not native here: fp32 (the label and a warning say so)
                wanted = "fp32"
            properties[part]["INFERENCE_PRECISION_HINT"] = _HINTS[wanted]
        self._compiled = _compile(models, device, properties, Path(cache_dir) / "compiled")
        self._requests = {part: compiled.create_infer_request() for part, compiled in self._compiled.items()}
        actual = {}
        for part in STEP_PARTS:
            hint = self._compiled[part].get_property("INFERENCE_PRECISION_HINT")
            name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
            actual[part] = "int8" if plan.of(part) == "int8" else _NAMES.get(name, name)
        self.plan = PrecisionPlan(**actual)
        self.precision = self.plan.name
        if self.plan != plan:
            logger.warning(
                "OpenVINO on this %s runs %s, not %s (not supported natively)",
                device,
                self.precision,
                plan.name,
            )
        where = "CPU" if device == "CPU" else f"Intel GPU ({device})"
        self.label = f"{where}, OpenVINO {self.precision}"
        self._outputs = len(self._compiled["keypoints"].outputs)
        # Everything runs in OpenVINO from here on: the torch networks (and their memory) can go.
        self.kp_detector = self.generator = None  # type: ignore[assignment]

    # -- conversion ---------------------------------------------------------------------------------

    def _models(self, key: CacheKey, fp32: dict[str, Any] | None = None) -> dict[str, Any]:
        """The cache entry ``key``, converted (and for int8 quantized from ``fp32``) if absent."""
        models = self._cache.load(key)
        if models is not None:
            return models
        started = time.monotonic()
        if key.quantized:
            assert fp32 is not None
            self._progress(
                "Preparing the model for this computer: calibrating int8 on the bundled driving frames..."
            )
            models = self._quantize(fp32, key.int8_parts)
        else:
            self._progress(
                "Preparing the model for this computer (first use of this checkpoint): converting it..."
            )
            models = self._export()
        self._cache.store(key, models)
        self.conversion_s += time.monotonic() - started
        self._progress(
            f"The model is ready for this computer ({self.conversion_s:.0f} s; it loads at once from now on)."
        )
        # Read back what was stored, so this run computes what the next ones will.
        return self._cache.load(key) or models

    def _export(self) -> dict[str, Any]:
        ov = import_openvino()

        with tempfile.TemporaryDirectory(prefix="avatarify-export-") as tmp:
            folder = Path(tmp)
            export.export_keypoints(self.kp_detector, self.size, folder / "keypoints.onnx")
            export.export_avatar(self.generator, self.size, folder / "avatar.onnx")
            source = torch.rand(1, 3, self.size, self.size)
            avatar = self._torch_prepare(source)
            example = export.generator_inputs(avatar.kp_source, avatar)
            export.export_split_generator(self.generator, example, folder)
            return {part: ov.convert_model(str(folder / f"{part}.onnx")) for part in PARTS}

    def _quantize(self, models: dict[str, Any], parts: tuple[str, ...]) -> dict[str, Any]:
        """``parts`` of ``models`` quantized (the others as they are)."""
        nncf = import_nncf()
        from avatarify_app.engines.fomm.runtime.calibration import calibration_faces

        avatars, driving = calibration_faces(self.size)
        if not avatars or len(driving) < 2:
            raise RuntimeError("int8 calibration found no faces in the bundled demo and avatars")
        to_tensor = _image_tensor
        motion_graph = export.MotionGraph(self.generator).eval()
        motion_samples: list[tuple[np.ndarray, ...]] = []
        decoder_samples: list[tuple[np.ndarray, ...]] = []
        with torch.no_grad():
            kp_driving = [self._torch_keypoints(to_tensor(face)) for face in driving]
            prepared = [self._torch_prepare(to_tensor(face)) for face in avatars]
            pairs = [(a, d) for a in range(len(avatars)) for d in range(1, len(driving))]
            # Every n-th pair, n = pairs // CALIBRATION_SAMPLES (so 1-2x that many), spread over all.
            for a, d in pairs[:: max(1, len(pairs) // CALIBRATION_SAMPLES)]:
                avatar = prepared[a]
                moved = normalize_kp(avatar.kp_source, kp_driving[d], kp_driving[0], True, True, True)
                inputs = export.generator_inputs(moved, avatar)
                motion_inputs = (*inputs[:4], inputs[5])
                deformation, occlusion = motion_graph(*motion_inputs)
                motion_samples.append(tuple(t.numpy() for t in motion_inputs))
                decoder_samples.append((inputs[4].numpy(), deformation.numpy(), occlusion.numpy()))
            kp_samples = [to_tensor(face).numpy() for face in avatars + driving]
        options = {"preset": nncf.QuantizationPreset.MIXED, "fast_bias_correction": True}
        samples: dict[str, list[Any]] = {
            "keypoints": kp_samples,
            "motion": motion_samples,
            "decoder": decoder_samples,
        }
        # NNCF draws its progress bars on stdout, which belongs to the app's output (render's summary,
        # a benchmark's JSON): they go to stderr; the user sees our own progress sentences anyway.
        quantized = dict(models)
        with contextlib.redirect_stdout(sys.stderr):
            for part in (p for p in QUANTIZED_PARTS if p in parts):
                data = samples[part]
                ignored = INT8_IGNORED.get(part)
                scope = nncf.IgnoredScope(patterns=list(ignored), validate=False) if ignored else None
                quantized[part] = nncf.quantize(
                    models[part], nncf.Dataset(data), subset_size=len(data), ignored_scope=scope, **options
                )
        return quantized

    def _torch_keypoints(self, image: torch.Tensor) -> Keypoints:
        with torch.no_grad():
            return self.kp_detector(image)

    def _torch_prepare(self, source: torch.Tensor) -> AvatarTensors:
        with torch.no_grad():
            assert self.generator.dense_motion_network is not None  # the vox layout has one
            return AvatarTensors(
                self._torch_keypoints(source),
                self.generator.encode(source),
                self.generator.dense_motion_network.downsample(source),
            )

    # -- Runtime ------------------------------------------------------------------------------------

    def keypoints(self, image: torch.Tensor) -> Keypoints:
        result = self._requests["keypoints"].infer([image.numpy()])
        outputs = [torch.from_numpy(np.array(result[i])) for i in range(self._outputs)]
        return dict(zip(export.KEYPOINT_OUTPUTS, outputs, strict=False))

    def prepare(self, source: torch.Tensor) -> AvatarTensors:
        result = self._requests["avatar"].infer([source.numpy()])
        features, small = (torch.from_numpy(np.array(result[i])) for i in range(2))
        return AvatarTensors(self.keypoints(source), features, small)

    def generate(self, kp_driving: Keypoints, avatar: AvatarTensors) -> torch.Tensor:
        inputs = [t.contiguous().numpy() for t in export.generator_inputs(kp_driving, avatar)]
        motion = self._requests["motion"].infer([*inputs[:4], inputs[5]])
        deformation, occlusion = (np.array(motion[i]) for i in range(2))
        result = self._requests["decoder"].infer([inputs[4], deformation, occlusion])
        return torch.from_numpy(np.array(result[0]))

    def close(self) -> None:
        self._requests.clear()
        self._compiled.clear()


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (S, S, 3) -> (1, 3, S, S) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
