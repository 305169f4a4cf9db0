"""G, the SPADE decoder: warped features -> the animated face, twice the input's side."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.liveportrait.config import SpadeParams
from avatarify_app.engines.liveportrait.model.layers import SPADEResnetBlock


class SPADEDecoder(nn.Module):
    """``fc`` (3x3, C -> 2C), six SPADE residual blocks at 2C (``G_middle_0..5``), nearest 2x up,
    ``up_0`` (2C -> C), 2x up, ``up_1`` (C -> out_channels), LeakyReLU 0.2, ``conv_img`` (3x3 to 12
    channels and PixelShuffle 2 when ``upscale`` > 1, else to 3), sigmoid. Every SPADE block is
    conditioned on the decoder's input.

    Shape:
        feature: (B, C, h, w) -> (B, 3, 4h * upscale, 4w * upscale) in (0, 1)
        (released: (1, 256, 64, 64) -> (1, 3, 512, 512))
    """

    def __init__(self, params: SpadeParams) -> None:
        super().__init__()
        c = min(params.max_features, params.block_expansion * 2**params.num_down_blocks)
        hidden = params.spade_hidden
        self.fc = nn.Conv2d(c, 2 * c, 3, padding=1)
        for i in range(6):
            self.add_module(f"G_middle_{i}", SPADEResnetBlock(2 * c, 2 * c, c, hidden))
        self.up_0 = SPADEResnetBlock(2 * c, c, c, hidden)
        self.up_1 = SPADEResnetBlock(c, params.out_channels, c, hidden)
        self.conv_img: nn.Module
        if params.upscale > 1:
            self.conv_img = nn.Sequential(
                nn.Conv2d(params.out_channels, 3 * params.upscale**2, 3, padding=1),
                nn.PixelShuffle(params.upscale),
            )
        else:
            self.conv_img = nn.Conv2d(params.out_channels, 3, 3, padding=1)

    def middle(self, i: int) -> SPADEResnetBlock:
        block = getattr(self, f"G_middle_{i}")
        assert isinstance(block, SPADEResnetBlock)
        return block

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.fc(feature)
        for i in range(6):
            x = self.middle(i)(x, feature)
        x = self.up_0(F.interpolate(x, scale_factor=2.0, mode="nearest"), feature)
        x = self.up_1(F.interpolate(x, scale_factor=2.0, mode="nearest"), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))
