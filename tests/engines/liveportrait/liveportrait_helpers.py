"""Random-weight LivePortrait folders in the released layout, for the tests (never committed).

``released_keys.json`` (beside this file) is the released layout as the reference modules define it:
every key and shape of each state dict, read from the reference code (``shared/design/``). The full-size
folder is made from that file alone, not from our modules, so loading it proves the layout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from avatarify_app.engines.liveportrait.checkpoint import LivePortraitModels
from avatarify_app.engines.liveportrait.model.layers import SpectralNormConv2d

LAYOUT_FILE = Path(__file__).with_name("released_keys.json")
# released_keys.json's names for the three MLPs -> the entries of stitching_retargeting_module.pth
STITCHING_JSON = {
    "stitching_retargeting_module.stitching": "retarget_shoulder",
    "stitching_retargeting_module.lip": "retarget_mouth",
    "stitching_retargeting_module.eye": "retarget_eye",
}
BASE = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")


def released_layout() -> dict[str, dict[str, list[int]]]:
    return json.loads(LAYOUT_FILE.read_text(encoding="utf-8"))


def random_tensor(key: str, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    """A plausible random value for a key: BN variances positive, counters int64, u/v unit vectors."""
    if key.endswith("num_batches_tracked"):
        return torch.tensor(1000, dtype=torch.int64)
    if key.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=gen)
    if key.endswith(("weight_u", "weight_v")):
        v = torch.randn(shape, generator=gen)
        return v / v.norm()
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    return torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))


def write_released_folder(folder: Path, fmt: str = "pth", seed: int = 0) -> Path:
    """Write the five files of the released layout, random weights, in ``base_models/`` and
    ``retargeting_models/`` as the reference ships them. ``fmt``: "pth" or "safetensors"."""
    gen = torch.Generator().manual_seed(seed)
    layout = released_layout()
    states = {part: {k: random_tensor(k, s, gen) for k, s in layout[part].items()} for part in BASE}
    stitching = {
        entry: {k: random_tensor(k, s, gen) for k, s in layout[name].items()}
        for name, entry in STITCHING_JSON.items()
    }
    return write_folder(folder, states, stitching, fmt)


def write_folder(
    folder: Path,
    states: dict[str, dict[str, torch.Tensor]],
    stitching: dict[str, dict[str, torch.Tensor]],
    fmt: str = "pth",
) -> Path:
    """Save base state dicts and the stitching entries as the released files (or safetensors mirrors)."""
    (folder / "base_models").mkdir(parents=True, exist_ok=True)
    (folder / "retargeting_models").mkdir(parents=True, exist_ok=True)
    for part, state in states.items():
        save(state, folder / "base_models" / f"{part}.{fmt}", fmt)
    target = folder / "retargeting_models" / f"stitching_retargeting_module.{fmt}"
    if fmt == "pth":
        # The released file was saved from DDP: keys carry "module." (the loader strips it).
        torch.save({e: {f"module.{k}": v for k, v in s.items()} for e, s in stitching.items()}, target)
    else:
        save({f"{e}.{k}": v for e, s in stitching.items() for k, v in s.items()}, target, fmt)
    return folder


def save(state: dict[str, torch.Tensor], path: Path, fmt: str) -> None:
    if fmt == "pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def save_models(folder: Path, models: LivePortraitModels, fmt: str = "pth") -> Path:
    """Write ``models`` (any config) as a folder in the released form."""
    states = {
        "appearance_feature_extractor": models.appearance.state_dict(),
        "motion_extractor": models.motion.state_dict(),
        "warping_module": models.warping.state_dict(),
        "spade_generator": models.spade.state_dict(),
    }
    stitching = {
        "retarget_shoulder": models.stitching.stitching.state_dict(),
        "retarget_mouth": models.stitching.lip.state_dict(),
        "retarget_eye": models.stitching.eye.state_dict(),
    }
    return write_folder(folder, states, stitching, fmt)


@torch.no_grad()
def randomize_(models: LivePortraitModels, seed: int = 0) -> LivePortraitModels:
    """Random weights that keep activations in range: conv/linear weights ~ N(0, 1/fan_in), biases
    ~ N(0, 0.05^2), BN affine ~ 1 + N(0, 0.1^2) / N(0, 0.1^2), running stats mean 0 var 1; the heads
    of M small (keypoints near the canonical spread, angles of a few degrees), the stitching and
    retargeting MLPs' outputs small (deltas of a few hundredths)."""
    gen = torch.Generator().manual_seed(seed)
    modules: list[nn.Module] = [
        models.appearance,
        models.motion,
        models.warping,
        models.spade,
        models.stitching,
    ]
    for root in modules:
        for name, param in root.named_parameters():
            shape = list(param.shape)
            if name.endswith("weight_orig") or (name.endswith("weight") and param.dim() > 1):
                fan_in = math.prod(shape[1:])
                param.copy_(torch.randn(shape, generator=gen) / math.sqrt(fan_in))
            elif name.endswith("bias"):
                param.copy_(0.05 * torch.randn(shape, generator=gen))
            elif name.endswith("weight"):  # norms
                param.copy_(1 + 0.1 * torch.randn(shape, generator=gen))
            else:  # GRN gamma / beta
                param.copy_(0.1 * torch.randn(shape, generator=gen))
        for name, buf in root.named_buffers():
            if name.endswith("running_mean"):
                buf.zero_()
            elif name.endswith("running_var"):
                buf.fill_(1.0)
            elif name.endswith(("weight_u", "weight_v")):
                v = torch.randn(buf.shape, generator=gen)
                buf.copy_(v / v.norm())
    det = models.motion.detector
    det.fc_kp.weight.mul_(0.3)
    det.fc_exp.weight.mul_(0.05)
    det.fc_exp.bias.mul_(0.2)
    for head in (det.fc_pitch, det.fc_yaw, det.fc_roll):
        head.weight.mul_(0.5)
    det.fc_t.weight.mul_(0.05)
    det.fc_scale.weight.mul_(0.05)
    det.fc_scale.bias.fill_(1.0)
    for mlp in (models.stitching.stitching, models.stitching.lip, models.stitching.eye):
        last = mlp.mlp[-1]
        assert isinstance(last, nn.Linear)
        last.weight.mul_(0.1)
        last.bias.mul_(0.1)
    # u and v as training leaves them (power iteration converged): each SPADE conv's gain is then 1.
    for module in models.spade.modules():
        if isinstance(module, SpectralNormConv2d):
            matrix = module.weight_orig.reshape(module.weight_orig.shape[0], -1)
            u = module.weight_u
            for _ in range(30):
                v = torch.nn.functional.normalize(matrix.t() @ u, dim=0)
                u = torch.nn.functional.normalize(matrix @ v, dim=0)
            module.weight_u.copy_(u)
            module.weight_v.copy_(v)
    return models
