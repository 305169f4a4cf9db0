"""The occlusion-aware generator: encode the source, warp its features by the dense motion, decode."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.fomm.model.dense_motion import DenseMotionNetwork
from avatarify_app.engines.fomm.model.keypoints import Keypoints
from avatarify_app.engines.fomm.model.layers import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d


def warp(x: torch.Tensor, deformation: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Backward-warp ``x`` by ``deformation``, resized bilinearly to ``x``'s size first if needed.

    Shape:
        x: (B, C, H, W); deformation: (B, h, w, 2) in [-1, 1] -> (B, C, H, W)
    """
    h, w = x.shape[2:]
    if deformation.shape[1:3] != (h, w):
        deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear")
        deformation = deformation.permute(0, 2, 3, 1)
    return F.grid_sample(x, deformation, align_corners=align_corners)


class OcclusionAwareGenerator(nn.Module):
    """Render the source image as posed by the driving keypoints.

    ``first`` and ``down_blocks`` encode the source (they depend on the avatar alone: pass their output as
    ``source_features`` to skip them, see ``encode``); the features are warped by the dense motion,
    multiplied by the occlusion map, then ``bottleneck`` (residual blocks ``r0``, ``r1``...),
    ``up_blocks`` and ``final`` decode them; a sigmoid gives the image.

    Shape:
        source_image: (B, C, H, W) float in [0, 1]; keypoints as ``KPDetector`` returns them
        returns 'prediction' (B, C, H, W) in [0, 1], 'deformed' (B, C, H, W) (the source warped, only
        when ``return_deformed``), and the dense motion's 'mask', 'sparse_deformed', 'deformation',
        'occlusion_map' (see ``DenseMotionNetwork``)
    """

    def __init__(
        self,
        num_channels: int,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: dict | None = None,
        estimate_jacobian: bool = False,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        self.dense_motion_network: DenseMotionNetwork | None = None
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp,
                num_channels=num_channels,
                estimate_occlusion_map=estimate_occlusion_map,
                align_corners=align_corners,
                **dense_motion_params,
            )
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                min(max_features, block_expansion * (2**i)),
                min(max_features, block_expansion * (2 ** (i + 1))),
            )
            for i in range(num_down_blocks)
        )
        self.up_blocks = nn.ModuleList(
            UpBlock2d(
                min(max_features, block_expansion * (2 ** (num_down_blocks - i))),
                min(max_features, block_expansion * (2 ** (num_down_blocks - i - 1))),
            )
            for i in range(num_down_blocks)
        )
        features = min(max_features, block_expansion * (2**num_down_blocks))
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(features))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.num_channels = num_channels
        self.estimate_jacobian = estimate_jacobian
        self.align_corners = align_corners

    def encode(self, source_image: torch.Tensor) -> torch.Tensor:
        """The source's features (``first`` then ``down_blocks``): constant per avatar, cache them.

        Shape:
            source_image: (B, C, H, W) -> (B, F, H / 2**n, W / 2**n), n = num_down_blocks
        """
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Bottleneck, up blocks, final conv and sigmoid: the (B, C, H, W) image in [0, 1]."""
        out = self.bottleneck(features)
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(self.final(out))

    def forward(
        self,
        source_image: torch.Tensor,
        kp_driving: Keypoints,
        kp_source: Keypoints,
        *,
        source_features: torch.Tensor | None = None,
        source_small: torch.Tensor | None = None,
        return_deformed: bool = True,
    ) -> dict[str, torch.Tensor]:
        """``source_features``: ``encode(source_image)`` and ``source_small``: the dense motion network's
        ``downsample(source_image)``, when cached. ``return_deformed``: also warp the full-size source
        (a picture for debugging, not needed for the prediction)."""
        out = self.encode(source_image) if source_features is None else source_features
        result: dict[str, torch.Tensor] = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image, kp_driving, kp_source, source_small=source_small)
            result.update(motion)
            out = warp(out, motion["deformation"], self.align_corners)
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                if occlusion.shape[2:] != out.shape[2:]:
                    occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear")
                out = out * occlusion
            if return_deformed:
                result["deformed"] = warp(source_image, motion["deformation"], self.align_corners)
        result["prediction"] = self.decode(out)
        return result
