"""Building blocks of the LivePortrait networks: 2D/3D conv blocks, the 3D hourglass, SPADE, ConvNeXt parts.

Module and parameter names equal the keys of the released state dicts (``conv``, ``norm``,
``encoder.down_blocks.N``, ``mlp_shared.0``, ``weight_orig``/``weight_u``/``weight_v``...), so a strict
``load_state_dict`` proves the architecture. BatchNorms are used in eval mode (running statistics).

Convention: 3D volumes are (B, C, D, H, W); sampling grids hold (x, y, z) in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SameBlock2d(nn.Module):
    """conv (k x k, same size) -> BatchNorm -> ReLU (or LeakyReLU 0.01).

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H, W)
    """

    def __init__(
        self, in_features: int, out_features: int, kernel_size: int = 3, lrelu: bool = False
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.lrelu = lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(x))
        return F.leaky_relu(out) if self.lrelu else F.relu(out)


class DownBlock2d(nn.Module):
    """conv 3x3 -> BatchNorm -> ReLU -> average pool 2x2.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H/2, W/2)
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, 3, padding=1)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class ResBlock3d(nn.Module):
    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x)))))), 3x3x3 convs.

    Shape:
        x: (B, C, D, H, W) -> (B, C, D, H, W)
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(features, features, 3, padding=1)
        self.conv2 = nn.Conv3d(features, features, 3, padding=1)
        self.norm1 = nn.BatchNorm3d(features, affine=True)
        self.norm2 = nn.BatchNorm3d(features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class DownBlock3d(nn.Module):
    """conv 3x3x3 -> BatchNorm -> ReLU -> average pool (1, 2, 2): depth is kept.

    Shape:
        x: (B, C_in, D, H, W) -> (B, C_out, D, H/2, W/2)
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, 3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), (1, 2, 2))


class UpBlock3d(nn.Module):
    """nearest upsampling (1, 2, 2) -> conv 3x3x3 -> BatchNorm -> ReLU.

    Shape:
        x: (B, C_in, D, H, W) -> (B, C_out, D, 2H, 2W)
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, 3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return F.relu(self.norm(self.conv(out)))


def _width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * 2**level)


class Encoder3d(nn.Module):
    """The hourglass's contracting half: ``num_blocks`` DownBlock3d; returns every level, input first.

    Shape:
        x: (B, C_in, D, H, W) -> [x, (B, c_1, D, H/2, W/2), ..., (B, c_n, D, H/2**n, W/2**n)]
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock3d(
                in_features if i == 0 else _width(block_expansion, max_features, i),
                _width(block_expansion, max_features, i + 1),
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder3d(nn.Module):
    """The expanding half: each UpBlock3d's output is concatenated with the skip of its level, then a
    final conv 3x3x3 -> BatchNorm -> ReLU over ``block_expansion + in_features`` channels.

    Shape:
        levels from ``Encoder3d`` -> (B, block_expansion + C_in, D, H, W)
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            widen = 1 if i == num_blocks - 1 else 2
            blocks.append(
                UpBlock3d(
                    widen * _width(block_expansion, max_features, i + 1),
                    _width(block_expansion, max_features, i),
                )
            )
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, 3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        out = levels[-1]
        for block, skip in zip(self.up_blocks, reversed(levels[:-1]), strict=True):
            out = torch.cat([block(out), skip], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass3d(nn.Module):
    """A 3D U-Net that halves H and W (never D) ``num_blocks`` times.

    Shape:
        x: (B, C_in, D, H, W) -> (B, block_expansion + C_in, D, H, W)
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        self.encoder = Encoder3d(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder3d(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class SpectralNormConv2d(nn.Module):
    """A conv whose weight is divided by its spectral norm as estimated by the stored vectors.

    The released decoder was trained with ``torch.nn.utils.spectral_norm``; in inference the estimate
    is not refined (no power iteration): ``sigma = u . (W v)`` with ``W = weight_orig`` reshaped to
    (C_out, C_in*k*k), and the conv uses ``weight_orig / sigma``. ``weight_u`` (C_out,) and ``weight_v``
    (C_in*k*k,) are buffers, as in the released files.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H, W)
    """

    weight_u: torch.Tensor
    weight_v: torch.Tensor

    def __init__(self, in_features: int, out_features: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        self.weight_orig = nn.Parameter(torch.empty(out_features, in_features, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight_orig, a=5**0.5)
        self.register_buffer("weight_u", F.normalize(torch.randn(out_features), dim=0, eps=1e-12))
        self.register_buffer(
            "weight_v", F.normalize(torch.randn(in_features * kernel_size * kernel_size), dim=0, eps=1e-12)
        )

    def weight(self) -> torch.Tensor:
        """The normalized weight (C_out, C_in, k, k)."""
        matrix = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        sigma = torch.dot(self.weight_u, torch.mv(matrix, self.weight_v))
        return self.weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class SPADE(nn.Module):
    """Spatially adaptive normalization: instance-normalize x (no affine), then scale and shift it by
    maps computed from the segmentation input (resized to x's size, nearest).

    Shape:
        x: (B, C, H, W), segmap: (B, C_seg, h, w) -> (B, C, H, W)
    """

    def __init__(self, norm_features: int, label_features: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_features, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_features, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_features, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = F.instance_norm(x, eps=1e-5)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """x_s + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x)))))), lrelu slope 0.2; the shortcut
    ``x_s = conv_s(norm_s(x))`` (1x1, no bias) when C_in != C_out, else x. Convs are spectral-normed.

    Shape:
        x: (B, C_in, H, W), seg: (B, C_seg, h, w) -> (B, C_out, H, W)
    """

    def __init__(self, fin: int, fout: int, label_features: int, hidden: int = 128) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = SpectralNormConv2d(fin, fmiddle, 3)
        self.conv_1 = SpectralNormConv2d(fmiddle, fout, 3)
        if self.learned_shortcut:
            self.conv_s = SpectralNormConv2d(fin, fout, 1, bias=False)
        self.norm_0 = SPADE(fin, label_features, hidden)
        self.norm_1 = SPADE(fmiddle, label_features, hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_features, hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, H, W): biased variance, eps inside the root.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    """Global response normalization (ConvNeXt V2), channels last:
    ``gamma * (x * N) + beta + x`` with ``N = G / (mean_C G + 1e-6)``, ``G`` the L2 norm over H, W.

    Shape:
        x: (B, H, W, C) -> (B, H, W, C)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sqrt((x * x).sum(dim=(1, 2), keepdim=True))
        n = g / (g.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * n) + self.beta + x
