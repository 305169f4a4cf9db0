"""Loading the original FOMM vox checkpoints safely, with errors that say what is wrong.

A checkpoint is a ``torch.save``d dict with ``kp_detector`` and ``generator`` state dicts (other entries,
such as the discriminator and optimizer states of the full training file, are ignored). The released
files use torch's legacy (non-zip) format with storages tagged ``cuda:0``: they load on the CPU through
``map_location``. Loading always uses ``weights_only=True``, so a file can never run code.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from avatarify_app.engines.fomm.config import FommConfig, build_models
from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.model.keypoints import KPDetector
from avatarify_app.errors import CheckpointError

logger = logging.getLogger(__name__)

PARTS = ("kp_detector", "generator")
_MAX_LISTED = 5


def read_checkpoint(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Read ``path`` onto the CPU and return its ``kp_detector`` and ``generator`` state dicts.

    Raises ``CheckpointError`` when the file is missing, not a torch file or damaged ("not a
    checkpoint"), contains pickled code ("refused: contains code"), or lacks one of the two entries.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc):
            raise CheckpointError(
                f"{path.name} refused: contains code (a pickled Python object that could run when loaded); "
                "use the original FOMM checkpoint file"
            ) from exc
        raise CheckpointError(f"{path.name} is not a checkpoint: {_first_line(exc)}") from exc
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, ImportError, IndexError) as exc:
        raise CheckpointError(
            f"{path.name} is not a checkpoint, or it is damaged (truncated download?): {_first_line(exc)}"
        ) from exc
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"{path.name} is not a checkpoint: it holds a {type(data).__name__}, expected a dict with "
            "'kp_detector' and 'generator'"
        )
    for part in PARTS:
        if part not in data:
            found = ", ".join(sorted(map(str, data.keys()))[:8]) or "nothing"
            raise CheckpointError(
                f"{path.name} has no {part!r} entry (found: {found}): is it a FOMM vox checkpoint?"
            )
        if not isinstance(data[part], Mapping):
            raise CheckpointError(
                f"{path.name}: {part!r} is a {type(data[part]).__name__}, expected a state dict of tensors"
            )
    return {part: remap_state_dict(part, data[part]) for part in PARTS}


def remap_state_dict(part: str, state_dict: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Translate a checkpoint's keys to this implementation's names (the one place for it).

    The original vox files already match, except that files saved from ``DataParallel`` prefix every
    key with ``module.``, which is stripped. ``part`` is "kp_detector" or "generator".
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        name = str(key)
        if name.startswith("module."):
            name = name[len("module.") :]
        out[name] = value  # type: ignore[assignment]  # shape and type checked by load_state_dict
    return out


def load_state_dict(module: nn.Module, state_dict: Mapping[str, object], part: str, source: str) -> None:
    """Strictly load ``state_dict`` into ``module``; ``num_batches_tracked`` may be missing (older files).

    Raises ``CheckpointError`` listing the first few missing, unexpected and mis-shaped keys.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        f"{k} {tuple(getattr(v, 'shape', ()))} (expected {tuple(expected[k].shape)})"
        for k, v in state_dict.items()
        if k in expected and (not isinstance(v, torch.Tensor) or v.shape != expected[k].shape)
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if keys:
            more = f" and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:_MAX_LISTED])}{more}")
    if problems:
        raise CheckpointError(
            f"{source}: the {part} weights do not fit the config ({'; '.join(problems)}): "
            "is the config the one this checkpoint was trained with?"
        )
    bad = [
        k
        for k, v in state_dict.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise CheckpointError(
            f"{source}: the {part} weights contain NaN or infinite values "
            f"({', '.join(bad[:_MAX_LISTED])}{more}): "
            "the file is damaged or comes from a diverged training run"
        )
    full = dict(state_dict)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in full:
            full[key] = value
    module.load_state_dict(full, strict=True)


def load_checkpoint(
    checkpoint_path: Path,
    config_path: Path | FommConfig,
    device: str | torch.device = "cpu",
    align_corners: bool = True,
) -> tuple[KPDetector, OcclusionAwareGenerator]:
    """Build the networks of ``config_path`` and load ``checkpoint_path`` into them, in eval mode.

    ``align_corners``: how ``grid_sample`` maps coordinates; True reproduces the torch 1.0 behaviour the
    released checkpoints were trained with. Raises ``CheckpointError`` (bad checkpoint) or ``InputError``
    (bad config).
    """
    config = config_path if isinstance(config_path, FommConfig) else FommConfig.from_yaml(Path(config_path))
    kp_detector, generator = build_models(config, align_corners=align_corners)
    state = read_checkpoint(Path(checkpoint_path))
    name = Path(checkpoint_path).name
    load_state_dict(kp_detector, state["kp_detector"], "kp_detector", name)
    load_state_dict(generator, state["generator"], "generator", name)
    logger.info("loaded FOMM checkpoint %s onto %s", checkpoint_path, device)
    return kp_detector.to(device).eval(), generator.to(device).eval()


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
    text = (useful or lines or [type(exc).__name__])[0]
    return text if len(text) < 200 else text[:197] + "..."
