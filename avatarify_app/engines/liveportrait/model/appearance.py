"""F, the appearance feature extractor: the source face -> a 3D feature volume (computed once per avatar)."""

from __future__ import annotations

import torch
from torch import nn

from avatarify_app.engines.liveportrait.config import AppearanceParams
from avatarify_app.engines.liveportrait.model.layers import DownBlock2d, ResBlock3d, SameBlock2d


class AppearanceFeatureExtractor(nn.Module):
    """2D encoder, a 1x1 conv to ``max_features`` channels, reshaped into (reshape_channel, reshape_depth)
    and refined by ``num_resblocks`` 3D residual blocks.

    Shape:
        source: (B, 3, S, S) in [0, 1] -> (B, reshape_channel, reshape_depth, S/4, S/4)
        (released: (B, 3, 256, 256) -> (B, 32, 16, 64, 64))
    """

    def __init__(self, params: AppearanceParams) -> None:
        super().__init__()
        self.reshape_channel = params.reshape_channel
        self.reshape_depth = params.reshape_depth
        self.first = SameBlock2d(3, params.block_expansion)
        widths = [
            min(params.max_features, params.block_expansion * 2**i) for i in range(params.num_down_blocks + 1)
        ]
        self.down_blocks = nn.ModuleList(
            DownBlock2d(widths[i], widths[i + 1]) for i in range(params.num_down_blocks)
        )
        self.second = nn.Conv2d(widths[-1], params.max_features, 1)
        self.resblocks_3d = nn.Sequential()
        for i in range(params.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(params.reshape_channel))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        out = self.first(source)
        for block in self.down_blocks:
            out = block(out)
        out = self.second(out)
        b, _, h, w = out.shape
        volume = out.view(b, self.reshape_channel, self.reshape_depth, h, w)
        return self.resblocks_3d(volume)
