"""Inference copies of the FOMM networks: batch norm folded into the convs, fast conv algorithms.

``optimize_for_inference`` deep-copies a network and swaps each conv block for a frozen twin that
computes the same function (eval-mode batch norm) with fewer passes over memory and, on the CPU,
NNPACK or Winograd convolutions (``frozen_conv.py``). The networks' own forward code is unchanged, so
the copies keep the FOMM interface; only the parameter names differ (load checkpoints into the
originals, then optimize). Outputs equal the originals' within about 1e-5 (tests/engines/fomm).
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.fomm.frozen_conv import Algorithm, FrozenConv2d, fold_batch_norm, running_stats
from avatarify_app.engines.fomm.layers import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d

ModuleT = TypeVar("ModuleT", bound=nn.Module)


class FoldedBlock(nn.Module):
    """Conv with its batch norm folded in, then ReLU; optionally 2x upsampling before, 2x2 pooling after.

    Stands in for ``SameBlock2d``, ``DownBlock2d`` and ``UpBlock2d`` at inference.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H * 2**up / 2**down, ...)
    """

    def __init__(
        self, block: SameBlock2d | DownBlock2d | UpBlock2d, algorithm: Algorithm | None = None
    ) -> None:
        super().__init__()
        weight, bias = fold_batch_norm(block.conv, block.norm)
        self.upsample = isinstance(block, UpBlock2d)
        self.pool = isinstance(block, DownBlock2d)
        self.conv = FrozenConv2d(
            weight, bias, _padding(block.conv), upsample=self.upsample, algorithm=algorithm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv(x))
        return F.avg_pool2d(out, 2) if self.pool else out


class FoldedResBlock(nn.Module):
    """``ResBlock2d`` at inference: ``norm1`` as a per-channel affine, ``norm2`` folded into ``conv1``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    scale: torch.Tensor  # buffer, (1, C, 1, 1)
    shift: torch.Tensor  # buffer, (1, C, 1, 1)

    def __init__(self, block: ResBlock2d, algorithm: Algorithm | None = None) -> None:
        super().__init__()
        norm = block.norm1
        running_mean, running_var = running_stats(norm)
        scale = norm.weight.detach() / torch.sqrt(running_var + norm.eps)
        self.register_buffer("scale", scale.view(1, -1, 1, 1).clone())
        self.register_buffer("shift", (norm.bias.detach() - running_mean * scale).view(1, -1, 1, 1).clone())
        weight, bias = fold_batch_norm(block.conv1, block.norm2)
        self.conv1 = FrozenConv2d(weight, bias, _padding(block.conv1), algorithm=algorithm)
        self.conv2 = FrozenConv2d(
            block.conv2.weight, block.conv2.bias, _padding(block.conv2), algorithm=algorithm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(torch.addcmul(self.shift, x, self.scale))
        out = F.relu_(self.conv1(out))
        return self.conv2(out).add_(x)


def optimize_for_inference(
    module: ModuleT, algorithm: Algorithm | None = None, *, inplace: bool = False
) -> ModuleT:
    """An eval-mode copy of ``module`` with every conv block frozen (see the module docstring).

    Also freezes the bare 7x7 convs (``kp``, ``jacobian``, ``mask``, ``occlusion``, ``final``).
    ``algorithm`` forces one conv algorithm everywhere (tests); None picks per layer and input size.
    ``inplace``: swap the blocks of ``module`` itself instead of a copy (saves the copy's memory when
    the original is not needed again). Gradients are off in the result.
    """
    optimized = (module if inplace else copy.deepcopy(module)).eval()
    _swap(optimized, algorithm)
    for p in optimized.parameters():
        p.requires_grad_(False)
    return optimized


def _padding(conv: nn.Conv2d) -> int:
    """The zero padding of ``conv`` (the first of its per-side values). Raises ``ValueError`` for a
    string padding (``"same"``, ``"valid"``), which a ``FrozenConv2d`` cannot take."""
    if isinstance(conv.padding, str):
        raise ValueError(f"cannot freeze a conv with padding {conv.padding!r}")
    return conv.padding[0]


def _swap(module: nn.Module, algorithm: Algorithm | None) -> None:
    for name, child in module.named_children():
        if isinstance(child, SameBlock2d | DownBlock2d | UpBlock2d):
            setattr(module, name, FoldedBlock(child, algorithm))
        elif isinstance(child, ResBlock2d):
            setattr(module, name, FoldedResBlock(child, algorithm))
        elif (
            isinstance(child, nn.Conv2d)
            and child.stride == (1, 1)
            and child.groups == 1
            and child.dilation == (1, 1)
            and not isinstance(child.padding, str)
            and child.padding[0] == child.padding[1]
            and child.kernel_size[0] == child.kernel_size[1]
        ):
            setattr(
                module, name, FrozenConv2d(child.weight, child.bias, _padding(child), algorithm=algorithm)
            )
        else:
            _swap(child, algorithm)
