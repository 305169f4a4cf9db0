"""Building blocks of the FOMM networks: conv blocks, the Hourglass (a U-Net) and anti-alias downsampling.

Module and parameter names equal the keys of the original vox checkpoints (``conv``, ``norm``,
``encoder.down_blocks.N``, ``decoder.up_blocks.N``, ``down.weight``), so a strict ``load_state_dict``
proves the architecture.

Convention: coordinates are normalized to [-1, 1], x before y, as ``F.grid_sample`` reads them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_coordinate_grid(
    height: int, width: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """The [-1, 1] x [-1, 1] grid of pixel centres, corners included (the ``align_corners=True`` view).

    Shape:
        returns (H, W, 2): ``grid[i, j] = (x_j, y_i)`` with ``x_j = 2 j / (W - 1) - 1``.
    """
    x = torch.arange(width, dtype=dtype, device=device)
    y = torch.arange(height, dtype=dtype, device=device)
    x = 2 * (x / (width - 1)) - 1
    y = 2 * (y / (height - 1)) - 1
    yy = y.view(-1, 1).expand(height, width)
    xx = x.view(1, -1).expand(height, width)
    return torch.stack([xx, yy], dim=2)


def inverse_2x2(matrix: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of 2x2 matrices, computed in float32 (any device; ``torch.inverse`` has no
    half-precision kernels and not every backend has it), returned in the input's dtype.

    Shape:
        matrix: (..., 2, 2) -> (..., 2, 2)
    """
    m = matrix.float()
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    inverse = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return (inverse / (a * d - b * c)[..., None, None]).to(matrix.dtype)


class AntiAliasInterpolation2d(nn.Module):
    """Band-limited downsampling: a Gaussian blur then keeping every ``1 / scale``-th pixel.

    The blur's sigma is ``(1 / scale - 1) / 2`` and its kernel ``2 * round(4 sigma) + 1`` wide (13 for
    scale 0.25); the kernel is the buffer ``weight`` (C, 1, k, k), stored in the checkpoints. The border
    is zero-padded, as in the original.

    Shape:
        x: (B, C, H, W) -> (B, C, ceil(H * scale), ceil(W * scale))
    """

    weight: torch.Tensor  # buffer

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1
        self.ka = kernel_size // 2
        self.kb = self.ka - 1 if kernel_size % 2 == 0 else self.ka
        mean = (kernel_size - 1) / 2
        axis = torch.arange(kernel_size, dtype=torch.float32)
        gauss = torch.exp(-((axis - mean) ** 2) / (2 * sigma**2))
        kernel = gauss[:, None] * gauss[None, :]
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.expand(channels, 1, kernel_size, kernel_size).clone())
        self.groups = channels
        self.scale = scale
        self.int_inv_scale = int(1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        # The original blurs every pixel, then keeps every int_inv_scale-th: a strided conv computes
        # just those (16x fewer multiply-adds at scale 0.25), same values.
        return F.conv2d(out, weight=self.weight, groups=self.groups, stride=self.int_inv_scale)


class SameBlock2d(nn.Module):
    """Conv, batch norm, ReLU at the same resolution (the generator's ``first``).

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H, W) with the padding that keeps the size
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """Conv, batch norm, ReLU, then 2x2 average pooling.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H // 2, W // 2)
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class UpBlock2d(nn.Module):
    """Nearest-neighbour 2x upsampling, then conv, batch norm, ReLU.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, 2 H, 2 W)
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=2)
        return F.relu(self.norm(self.conv(out)))


class ResBlock2d(nn.Module):
    """Pre-activation residual block: ``x + conv2(relu(norm2(conv1(relu(norm1(x))))))``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, in_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(in_features, affine=True)
        self.norm2 = nn.BatchNorm2d(in_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class Encoder(nn.Module):
    """The Hourglass's contracting half: ``num_blocks`` down blocks, channels doubling up to a cap.

    Block ``i`` maps ``in_features`` (i = 0) or ``min(max_features, block_expansion * 2**i)`` channels
    to ``min(max_features, block_expansion * 2**(i + 1))``.

    Shape:
        x: (B, C_in, H, W) -> list of num_blocks + 1 maps: the input, then (B, C_i, H / 2**i, W / 2**i)
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                in_features if i == 0 else min(max_features, block_expansion * (2**i)),
                min(max_features, block_expansion * (2 ** (i + 1))),
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """The Hourglass's expanding half: up blocks, each output concatenated with the matching skip.

    Shape:
        skips: the Encoder's list -> (B, block_expansion + C_in, H, W); ``out_filters`` is that width
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            in_filters = (1 if i == num_blocks - 1 else 2) * min(
                max_features, block_expansion * (2 ** (i + 1))
            )
            out_filters = min(max_features, block_expansion * (2**i))
            blocks.append(UpBlock2d(in_filters, out_filters))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        out = skips[-1]
        for i, block in enumerate(self.up_blocks):
            out = torch.cat([block(out), skips[-2 - i]], dim=1)
        return out


class Hourglass(nn.Module):
    """A U-Net: ``Encoder`` then ``Decoder`` with skip connections.

    Shape:
        x: (B, in_features, H, W) -> (B, block_expansion + in_features, H, W); H, W divisible by
        2**num_blocks
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
