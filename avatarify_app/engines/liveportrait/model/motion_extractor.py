"""M, the motion extractor: a ConvNeXt-V2 backbone and linear heads for the implicit keypoints,
the head pose (pitch, yaw and roll as 66 bins each), translation, expression deltas and scale."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.liveportrait.config import NUM_BINS, NUM_KP, MotionParams
from avatarify_app.engines.liveportrait.model.layers import GRN, ChannelsFirstLayerNorm


@dataclass(frozen=True, slots=True)
class MotionOutput:
    """The raw heads of M for a batch of B faces (before ``keypoints.KeypointInfo.from_heads``).

    Shapes: ``kp`` (B, 3K) canonical keypoints; ``pitch``/``yaw``/``roll`` (B, 66) bin logits;
    ``t`` (B, 3); ``exp`` (B, 3K) expression deltas; ``scale`` (B, 1). K = 21.
    """

    kp: torch.Tensor
    pitch: torch.Tensor
    yaw: torch.Tensor
    roll: torch.Tensor
    t: torch.Tensor
    exp: torch.Tensor
    scale: torch.Tensor

    def float(self) -> MotionOutput:
        """The same heads in float32 (after a half-precision pass)."""
        return MotionOutput(*(getattr(self, f.name).float() for f in fields(self)))


class ConvNeXtBlock(nn.Module):
    """depthwise 7x7 conv -> LayerNorm (channels last) -> Linear 4x -> GELU -> GRN -> Linear back, + x.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    """ConvNeXt V2 (a 4x4 stride-4 stem, three 2x2 stride-2 downsamplings, ``depths`` blocks per stage),
    global average pooling and a final LayerNorm, then the heads ``fc_*``.

    Shape:
        x: (B, 3, S, S) -> MotionOutput (S a multiple of 32)
    """

    def __init__(self, params: MotionParams, num_kp: int = NUM_KP, num_bins: int = NUM_BINS) -> None:
        super().__init__()
        dims = params.dims
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), ChannelsFirstLayerNorm(dims[0]))]
        )
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2))
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*[ConvNeXtBlock(dims[i]) for _ in range(params.depths[i])]) for i in range(4)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.fc_kp = nn.Linear(dims[-1], 3 * num_kp)
        self.fc_scale = nn.Linear(dims[-1], 1)
        self.fc_pitch = nn.Linear(dims[-1], num_bins)
        self.fc_yaw = nn.Linear(dims[-1], num_bins)
        self.fc_roll = nn.Linear(dims[-1], num_bins)
        self.fc_t = nn.Linear(dims[-1], 3)
        self.fc_exp = nn.Linear(dims[-1], 3 * num_kp)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, dims[-1]): the pooled, normalized backbone features."""
        for down, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(down(x))
        return self.norm(x.mean(dim=(-2, -1)))

    def forward(self, x: torch.Tensor) -> MotionOutput:
        f = self.features(x)
        return MotionOutput(
            kp=self.fc_kp(f),
            pitch=self.fc_pitch(f),
            yaw=self.fc_yaw(f),
            roll=self.fc_roll(f),
            t=self.fc_t(f),
            exp=self.fc_exp(f),
            scale=self.fc_scale(f),
        )


class MotionExtractor(nn.Module):
    """M: the backbone under the name ``detector`` (the released keys start with ``detector.``).

    Shape:
        x: (B, 3, S, S) in [0, 1] -> MotionOutput
    """

    def __init__(self, params: MotionParams) -> None:
        super().__init__()
        self.detector = ConvNeXtV2(params)

    def forward(self, x: torch.Tensor) -> MotionOutput:
        return self.detector(x)
