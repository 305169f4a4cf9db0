"""Loading the released LivePortrait weights from a folder, safely, with errors that say what is wrong.

The released human model is five files (the reference's ``pretrained_weights/liveportrait/``):
``base_models/{appearance_feature_extractor,motion_extractor,warping_module,spade_generator}.pth``
(each a plain state dict) and ``retargeting_models/stitching_retargeting_module.pth`` (a dict of three
state dicts: ``retarget_shoulder`` the stitching MLP, ``retarget_mouth`` the lip MLP, ``retarget_eye``
the eye MLP, whose keys may carry a DDP ``module.`` prefix). Each file may instead be a ``.safetensors``
mirror of the same tensors; the stitching mirror is flat, its keys prefixed by the entry name
(``retarget_shoulder.mlp.0.weight``). The folder may hold the files directly or in those two subfolders.

Loading always uses ``weights_only=True`` (or safetensors, which holds no code), so a file never runs
code.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from avatarify_app.engines.liveportrait.model import (
    AppearanceFeatureExtractor,
    MotionExtractor,
    SPADEDecoder,
    StitchingRetargeting,
    WarpingNetwork,
)
from avatarify_app.errors import CheckpointError

logger = logging.getLogger(__name__)

BASE_PARTS = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
STITCHING_PART = "stitching_retargeting_module"
PARTS = (*BASE_PARTS, STITCHING_PART)
# The stitching file's entries -> our module names.
STITCHING_ENTRIES = {"retarget_shoulder": "stitching", "retarget_mouth": "lip", "retarget_eye": "eye"}
SUBFOLDERS = ("", "base_models", "retargeting_models")
SUFFIXES = (".pth", ".safetensors")
_DESCRIPTIONS = {
    "appearance_feature_extractor": "the appearance feature extractor (F)",
    "motion_extractor": "the motion extractor (M)",
    "warping_module": "the warping module (W)",
    "spade_generator": "the SPADE decoder (G)",
    "stitching_retargeting_module": "the stitching and retargeting MLPs (S, R)",
}


@dataclass(frozen=True, slots=True)
class LivePortraitModels:
    """The five networks, loaded, in eval mode, on one device."""

    appearance: AppearanceFeatureExtractor
    motion: MotionExtractor
    warping: WarpingNetwork
    spade: SPADEDecoder
    stitching: StitchingRetargeting

    def to(self, device: str | torch.device) -> LivePortraitModels:
        for module in (self.appearance, self.motion, self.warping, self.spade, self.stitching):
            module.to(device)
        return self


def build_models(config: LivePortraitConfig | None = None) -> LivePortraitModels:
    """The five networks of ``config`` (default: the released layout) with fresh weights, in eval mode."""
    config = config or LivePortraitConfig.released()
    config.check()
    models = LivePortraitModels(
        AppearanceFeatureExtractor(config.appearance),
        MotionExtractor(config.motion),
        WarpingNetwork(config.warping),
        SPADEDecoder(config.spade),
        StitchingRetargeting(config.stitching_hidden, config.lip_hidden, config.eye_hidden),
    )
    for module in (models.appearance, models.motion, models.warping, models.spade, models.stitching):
        module.eval().requires_grad_(False)
    return models


def find_files(folder: Path) -> dict[str, Path]:
    """The file of each part in ``folder`` (``.pth`` before ``.safetensors``, the folder itself before
    ``base_models/`` and ``retargeting_models/``).

    Raises ``CheckpointError`` naming every missing part at once.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = (
            "is a file, expected the folder that holds"
            if folder.exists()
            else "not found: expected a folder with"
        )
        raise CheckpointError(f"LivePortrait weights folder {folder} {what} the five released .pth files")
    found: dict[str, Path] = {}
    for part in PARTS:
        for sub in SUBFOLDERS:
            hits = [folder / sub / f"{part}{suffix}" for suffix in SUFFIXES]
            hit = next((p for p in hits if p.is_file()), None)
            if hit is not None:
                found[part] = hit
                break
    missing = [f"{part}.pth" for part in PARTS if part not in found]
    if missing:
        raise CheckpointError(
            f"{folder} lacks {', '.join(missing)} (or the .safetensors mirror): a LivePortrait folder "
            "holds appearance_feature_extractor, motion_extractor, warping_module, spade_generator and "
            "stitching_retargeting_module (docs/liveportrait.md says where to get them)"
        )
    return found


def read_file(path: Path) -> Mapping[str, object]:
    """The top-level mapping stored in ``path`` (.pth with ``weights_only``, or .safetensors), on the CPU.

    Raises ``CheckpointError`` for a missing, damaged or truncated file, or one that holds code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} not found")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or "global" in str(exc):
            raise CheckpointError(
                f"{path.name} refused: it contains code (a pickled Python object that would run when "
                "loaded); use the released LivePortrait file"
            ) from exc
        raise CheckpointError(f"{path.name} is not a checkpoint: {_first_line(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - any failure to read means a damaged or foreign file
        raise CheckpointError(
            f"{path.name} is not a checkpoint, or it is damaged (truncated download?): {_first_line(exc)}"
        ) from exc
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"{path.name} is not a LivePortrait checkpoint: it holds a {type(data).__name__}, expected a "
            "dict of tensors"
        )
    return data


def _read_safetensors(path: Path) -> Mapping[str, object]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as exc:  # pragma: no cover - safetensors ships with the app's environment
        raise CheckpointError(
            f"{path.name}: reading .safetensors needs the safetensors package (pip install safetensors), "
            "or use the .pth file"
        ) from exc
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path.name} is not a safetensors file, or it is damaged (truncated download?): "
            f"{_first_line(exc)}"
        ) from exc


def strip_prefix(state_dict: Mapping[str, object]) -> dict[str, object]:
    """Keys without a leading DDP ``module.`` (the one translation the released files need)."""
    return {(str(k)[7:] if str(k).startswith("module.") else str(k)): v for k, v in state_dict.items()}


def stitching_entries(data: Mapping[str, object], name: str) -> dict[str, dict[str, object]]:
    """The three state dicts of the stitching file, by our module names (``stitching``, ``lip``, ``eye``).

    Accepts the released nested dict and a flat mirror whose keys start with the entry names.
    """
    out: dict[str, dict[str, object]] = {}
    for entry, module_name in STITCHING_ENTRIES.items():
        nested = data.get(entry)
        if isinstance(nested, Mapping):
            out[module_name] = strip_prefix(nested)
            continue
        prefix = entry + "."
        flat = {str(k)[len(prefix) :]: v for k, v in data.items() if str(k).startswith(prefix)}
        if not flat:
            found = ", ".join(sorted(map(str, data.keys()))[:6]) or "nothing"
            raise CheckpointError(
                f"{name} has no {entry!r} entry (found: {found}): is it LivePortrait's "
                "stitching_retargeting_module.pth?"
            )
        out[module_name] = strip_prefix(flat)
    return out


def load_state_dict(module: nn.Module, state_dict: Mapping[str, object], source: str, what: str) -> None:
    """Strictly load ``state_dict`` into ``module``.

    Raises ``CheckpointError`` naming the first mismatch (a key missing, unexpected or of another
    shape) with the counts of each kind, or the first tensor holding NaN or infinity.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        k
        for k, v in state_dict.items()
        if k in expected and (not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(expected[k].shape))
    ]
    if missing or unexpected or misshaped:
        if misshaped:
            key = misshaped[0]
            value = state_dict[key]
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            first = f"{key} is {got}, expected {tuple(expected[key].shape)}"
        elif missing:
            first = f"{missing[0]} is missing"
        else:
            first = f"{unexpected[0]} is not part of it"
        raise CheckpointError(
            f"{source} does not hold {what} of the released layout: {first} "
            f"({len(misshaped)} mis-shaped, {len(missing)} missing, {len(unexpected)} unexpected keys)"
        )
    for key, value in state_dict.items():
        assert isinstance(value, torch.Tensor)
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(
                f"{source}: {key} holds NaN or infinite values: the file is damaged or comes from a "
                "diverged training run"
            )
    full = dict(state_dict)
    for key, value in expected.items():  # older files may lack the BatchNorm counters
        full.setdefault(key, value)
    module.load_state_dict(full, strict=True)


def load_models(
    folder: Path, config: LivePortraitConfig | None = None, device: str | torch.device = "cpu"
) -> LivePortraitModels:
    """Build the networks of ``config`` (default: the released layout) and load the five files of
    ``folder`` into them, in eval mode, on ``device``. Raises ``CheckpointError``."""
    files = find_files(Path(folder))
    models = build_models(config)
    targets: dict[str, nn.Module] = {
        "appearance_feature_extractor": models.appearance,
        "motion_extractor": models.motion,
        "warping_module": models.warping,
        "spade_generator": models.spade,
    }
    for part in BASE_PARTS:
        path = files[part]
        load_state_dict(targets[part], strip_prefix(read_file(path)), path.name, _DESCRIPTIONS[part])
    path = files[STITCHING_PART]
    entries = stitching_entries(read_file(path), path.name)
    for module_name, state in entries.items():
        module = getattr(models.stitching, module_name)
        load_state_dict(module, state, f"{path.name} ({module_name})", f"the {module_name} MLP")
    logger.info("loaded LivePortrait weights from %s onto %s", folder, device)
    return models.to(device)


def layout_of(folder: Path) -> LivePortraitConfig:
    """The network sizes ``folder``'s weights were made with: the released layout, or one of the small
    layouts tests and benchmarks write (``LivePortraitConfig.small`` / ``tiny``), told apart by the
    shapes of the appearance and warping files. Raises ``CheckpointError`` for a folder it cannot read."""
    files = find_files(Path(folder))

    def shapes(path: Path) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in strip_prefix(read_file(path)).items() if hasattr(v, "shape")}

    tiny, small = LivePortraitConfig.tiny(), LivePortraitConfig.small()
    built = build_models(tiny)
    if shapes(files["appearance_feature_extractor"]) != _shapes(built.appearance):
        return LivePortraitConfig.released()
    warping = shapes(files["warping_module"])
    return tiny if warping == _shapes(built.warping) else small


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _first_line(exc: BaseException) -> str:
    """The informative line of torch's (long) load error message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    boilerplate = (
        "Weights only load failed",
        "In PyTorch",
        "Please file an issue",
        "Check the documentation",
    )
    useful = [line for line in lines if not line.startswith(boilerplate)]
    text = (useful or lines or [type(exc).__name__])[0].split(" This is an internal")[0]
    return text if len(text) < 200 else text[:197] + "..."
