"""Helpers for the FOMM tests: tiny configs, randomized networks, checkpoints in the original layout."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch

from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.model.keypoints import KPDetector

# Small enough for milliseconds per forward, with every part of the vox layout (jacobians, occlusion,
# anti-alias downsampling, several hourglass levels). Frames are 64x64 (``frame_shape``).
TINY_MODEL_PARAMS: dict[str, Any] = {
    "common_params": {"num_kp": 5, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1,
        "block_expansion": 8,
        "max_features": 32,
        "scale_factor": 0.5,
        "num_blocks": 3,
    },
    "generator_params": {
        "block_expansion": 8,
        "max_features": 32,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 2,
        "estimate_occlusion_map": True,
        "dense_motion_params": {
            "block_expansion": 8,
            "max_features": 32,
            "num_blocks": 3,
            "scale_factor": 0.5,
        },
    },
}
TINY_FRAME = 64


def tiny_config_dict(**overrides: Any) -> dict[str, Any]:
    params = copy.deepcopy(TINY_MODEL_PARAMS)
    params["common_params"].update(overrides)
    return {"dataset_params": {"frame_shape": [TINY_FRAME, TINY_FRAME, 3]}, "model_params": params}


def randomize_(*modules: torch.nn.Module, seed: int = 0) -> None:
    """Give batch norms non-trivial statistics and the jacobian head non-zero weights, as trained
    networks have (fresh ones fold to identities and hide mistakes)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in modules:
            for m in module.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=generator) * 0.2 - 0.1)
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
                    m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
                    m.bias.copy_(torch.rand(m.bias.shape, generator=generator) * 0.2 - 0.1)
            if isinstance(module, KPDetector) and module.jacobian is not None:
                module.jacobian.weight.copy_(
                    torch.randn(module.jacobian.weight.shape, generator=generator) * 0.01
                )


def save_original_layout(
    path: Path, kp_detector: KPDetector, generator: OcclusionAwareGenerator, *, legacy: bool = True
) -> Path:
    """Write a checkpoint as the FOMM training code did: a dict with both state dicts and training
    leftovers, legacy (non-zip) serialization."""
    torch.save(
        {
            "kp_detector": kp_detector.state_dict(),
            "generator": generator.state_dict(),
            "discriminator": {"down_blocks.0.conv.weight": torch.zeros(2, 3, 4, 4)},
            "optimizer_generator": {"state": {}, "param_groups": []},
            "epoch": 99,
        },
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    return path


def spread_output_(kp_detector: KPDetector, generator: OcclusionAwareGenerator, images: torch.Tensor) -> None:
    """Scale the generator's final conv so its prediction spreads over [0, 1] (pre-sigmoid std 1.5):
    errors are then measured on a picture, not on a flat grey."""
    features: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        kp = kp_detector(images[:1])
        hook = generator.final.register_forward_hook(lambda m, i, o: features.setdefault("out", o))
        generator(images[:1], kp_source=kp, kp_driving=kp)
        hook.remove()
        generator.final.weight.mul_(1.5 / features["out"].std())
        generator.final.bias.zero_()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def smooth_images(count: int, size: int = TINY_FRAME, seed: int = 1) -> torch.Tensor:
    """Smooth random images (count, 3, size, size) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 8, 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
