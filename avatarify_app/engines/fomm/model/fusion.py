"""Batch norms folded into the convolutions before them, with ``torch.nn.utils.fusion`` (eval mode).

For the torch runtime: one kernel per conv block instead of two (on a GPU the step is bound by kernel
launches). The OpenVINO runtime folds batch norms itself when it compiles a model.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from avatarify_app.engines.fomm.model.layers import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold, in place, every batch norm that directly follows a conv; returns ``module`` in eval mode.

    ``SameBlock2d``, ``DownBlock2d`` and ``UpBlock2d`` (conv -> norm) and ``ResBlock2d``'s ``norm2``
    (after ``conv1``) are folded, the norm replaced by ``nn.Identity``; ``ResBlock2d``'s ``norm1``
    comes before its conv (pre-activation) and stays. The state dict's names change: load
    checkpoints before folding.
    """
    module.eval()
    for block in module.modules():
        if isinstance(block, SameBlock2d | DownBlock2d | UpBlock2d) and isinstance(
            block.norm, nn.BatchNorm2d
        ):
            block.conv = fuse_conv_bn_eval(block.conv, block.norm)
            block.norm = nn.Identity()  # type: ignore[assignment]
        elif isinstance(block, ResBlock2d) and isinstance(block.norm2, nn.BatchNorm2d):
            block.conv1 = fuse_conv_bn_eval(block.conv1, block.norm2)
            block.norm2 = nn.Identity()  # type: ignore[assignment]
    return module
