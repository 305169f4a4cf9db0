"""Random vox-256 FOMM weights that behave like a trained model's, for fidelity and speed figures.

The recipe of ``shared/design/fomm_checkpoint.md`` (last section): conv weights N(0, 1/fan_in), biases
N(0, 0.05^2); batch norm affine 1 + N(0, 0.1^2) and N(0, 0.1^2); running statistics from a training-mode
pass (momentum 1) over real photos (scikit-image's chelsea, coffee, rocket, immunohistochemistry,
retina, hubble_deep_field, centre-cropped to 256) and affine-warped copies, then perturbed
(mean += 0.05 std N, var *= exp(0.1 N)); output heads rescaled on that batch (keypoint logits std 0.25,
jacobian head's non-bias part std 0.25 with bias [1, 0, 0, 1] + N(0, 0.05^2), mask logits std 1,
occlusion logits mean 0.5 / std 1, final logits std 1); the anti-alias kernels as constructed.

Needs scikit-image (the photos: ``pip install .[bench]``). The drawn networks are saved in the original
checkpoint layout under the user cache folder, so later runs load them in a second.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from avatarify_app.config import user_cache_dir  # noqa: E402
from avatarify_app.engines.fomm.checkpoint import load_checkpoint  # noqa: E402
from avatarify_app.engines.fomm.config import FommConfig, build_models  # noqa: E402
from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator  # noqa: E402
from avatarify_app.engines.fomm.model.keypoints import KPDetector  # noqa: E402

logger = logging.getLogger(__name__)

CONFIG = REPO / "models" / "vox-256.yaml"
PHOTOS = ("chelsea", "coffee", "rocket", "immunohistochemistry", "retina", "hubble_deep_field")
RECIPE_VERSION = 1


def photo_batch(size: int = 256, seed: int = 0) -> torch.Tensor:
    """The six photos centre-cropped to ``size`` and one affine-warped copy of each: (12, 3, S, S)."""
    import skimage.data
    import skimage.transform

    images = []
    for name in PHOTOS:
        image = getattr(skimage.data, name)()[..., :3]
        side = min(image.shape[:2])
        y, x = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        square = skimage.transform.resize(image[y : y + side, x : x + side], (size, size), anti_aliasing=True)
        images.append(torch.from_numpy(np.asarray(square, dtype=np.float32)).permute(2, 0, 1))
    photos = torch.stack(images)
    g = torch.Generator().manual_seed(seed)
    angle = (torch.rand(len(photos), generator=g) - 0.5) * math.radians(16)
    scale = 1 + (torch.rand(len(photos), generator=g) - 0.5) * 0.16
    shift = (torch.rand(len(photos), 2, generator=g) - 0.5) * 0.1
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(photos.shape), align_corners=False)
    warped = F.grid_sample(photos, grid, padding_mode="reflection", align_corners=False)
    return torch.cat([photos, warped]).clamp(0, 1)


def _output_of(module: torch.nn.Module, run) -> torch.Tensor:
    captured: dict[str, torch.Tensor] = {}
    hook = module.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    try:
        with torch.no_grad():
            run()
    finally:
        hook.remove()
    return captured["out"]


def _rescale(conv: torch.nn.Conv2d, out: torch.Tensor, std: float, mean: float | None = None) -> None:
    """Scale ``conv`` so its output (``out`` now) has this std; with ``mean``, shift it there too."""
    with torch.no_grad():
        k = std / float(out.std())
        conv.weight.mul_(k)
        conv.bias.mul_(k)
        if mean is not None:
            conv.bias.add_(mean - float(out.mean()) * k)


def _bn_pass(network: torch.nn.Module, run) -> None:
    """Running statistics of every batch norm from one training-mode pass (momentum 1)."""
    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.momentum = 1.0
    network.train()
    with torch.no_grad():
        run()
    network.eval()
    for m in norms:
        m.momentum = 0.1


def draw_networks(seed: int = 0) -> tuple[KPDetector, OcclusionAwareGenerator]:
    """The vox-256 networks drawn by the recipe (module docstring), eval mode."""
    g = torch.Generator().manual_seed(seed)
    kp, gen = build_models(FommConfig.from_yaml(CONFIG))
    with torch.no_grad():
        for module in (*kp.modules(), *gen.modules()):
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) / math.sqrt(fan_in))
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.05)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(1 + torch.randn(module.weight.shape, generator=g) * 0.1)
                module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.1)
    photos = photo_batch(seed=seed)
    n = len(photos) // 2
    source, driving = photos, torch.cat([photos[n:], photos[:n]])  # each photo against a warped copy

    def kp_heads() -> None:
        kp.eval()
        _rescale(kp.kp, _output_of(kp.kp, lambda: kp(photos)), 0.25)
        assert kp.jacobian is not None
        out = _output_of(kp.jacobian, lambda: kp(photos))
        with torch.no_grad():
            k = 0.25 / float((out - kp.jacobian.bias.view(1, -1, 1, 1)).std())
            kp.jacobian.weight.mul_(k)
            identity = torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(kp.num_kp)
            kp.jacobian.bias.copy_(identity + torch.randn(identity.shape, generator=g) * 0.05)

    def run_generator() -> None:
        with torch.no_grad():
            gen(source, kp_source=kp(source), kp_driving=kp(driving), return_deformed=False)

    def motion_heads() -> None:
        network = gen.dense_motion_network
        assert network is not None
        assert network.occlusion is not None
        _rescale(network.mask, _output_of(network.mask, run_generator), 1.0)
        _rescale(network.occlusion, _output_of(network.occlusion, run_generator), 1.0, mean=0.5)

    _bn_pass(kp, lambda: kp(photos))
    kp_heads()
    _bn_pass(gen, run_generator)
    motion_heads()
    _bn_pass(gen, run_generator)  # the mask and occlusion moved the decoder's inputs
    with torch.no_grad():
        for module in (*kp.modules(), *gen.modules()):
            if isinstance(module, torch.nn.BatchNorm2d):
                std = module.running_var.sqrt()
                module.running_mean.add_(0.05 * std * torch.randn(std.shape, generator=g))
                module.running_var.mul_(torch.exp(0.1 * torch.randn(std.shape, generator=g)))
    kp_heads()
    motion_heads()
    _rescale(gen.final, _output_of(gen.final, run_generator), 1.0)
    return kp.eval(), gen.eval()


def vox_checkpoint(seed: int = 0) -> Path:
    """A checkpoint file (original layout) of ``draw_networks(seed)``, drawn once and cached."""
    folder = user_cache_dir() / "bench"
    path = folder / f"vox-256-random-seed{seed}-recipe{RECIPE_VERSION}.pth.tar"
    if not path.is_file():
        logger.info("drawing random vox-256 weights (seed %d) into %s", seed, path)
        kp, gen = draw_networks(seed)
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        torch.save({"kp_detector": kp.state_dict(), "generator": gen.state_dict()}, partial)
        partial.rename(path)
    return path


def load_vox(seed: int = 0) -> tuple[KPDetector, OcclusionAwareGenerator]:
    """Fresh copies of the drawn networks (from the cached checkpoint)."""
    return load_checkpoint(vox_checkpoint(seed), FommConfig.from_yaml(CONFIG), "cpu")
