"""W, the warping module: dense 3D motion from the keypoints (with an occlusion map) warps the source's
feature volume, which two 2D layers turn into the decoder's input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.liveportrait.config import NUM_KP, WarpingParams
from avatarify_app.engines.liveportrait.model.layers import Hourglass3d, SameBlock2d

KP_VARIANCE = 0.01


def make_coordinate_grid_3d(
    depth: int,
    height: int,
    width: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> torch.Tensor:
    """The [-1, 1]^3 grid of voxel centres, ends included: ``grid[z, y, x] = (x_n, y_n, z_n)`` with
    ``x_n = 2 x / (W - 1) - 1`` (x right, y down, z inwards).

    Shape:
        returns (D, H, W, 3)
    """

    def axis(n: int) -> torch.Tensor:
        return 2 * (torch.arange(n, dtype=dtype, device=device) / (n - 1)) - 1

    z, y, x = torch.meshgrid(axis(depth), axis(height), axis(width), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def keypoint_gaussians(kp: torch.Tensor, grid: torch.Tensor, variance: float = KP_VARIANCE) -> torch.Tensor:
    """``exp(-|grid - kp|^2 / (2 variance))`` for each keypoint.

    Shape:
        kp: (B, K, 3), grid: (D, H, W, 3) -> (B, K, D, H, W)
    """
    diff = grid[None, None] - kp[:, :, None, None, None, :]
    return torch.exp(-0.5 * (diff * diff).sum(-1) / variance)


def warp_volume(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Trilinear sampling of ``volume`` at ``grid`` ((x, y, z) in [-1, 1], ``align_corners=False``: -1
    and 1 are the outer faces of the end voxels, as the reference samples), zeros outside.

    Shape:
        volume: (B, C, D, H, W), grid: (B, D', H', W', 3) -> (B, C, D', H', W')
    """
    return F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def warp_volume_4d(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``warp_volume`` written with 4-D ``grid_sample`` only (for runtimes whose GridSample is 2-D,
    such as OpenVINO's): the same trilinear sample, up to float rounding.

    Each depth slice gets a zero row above and below, and the slices are stacked into one
    (B, C, D (H + 2), W) image. A point's two depth neighbours z0 and z0 + 1 are sampled bilinearly
    in their slices (rows ``k (H + 2) + 1 + y``, y clamped to [-1, H]: the zero rows give the zero
    padding without reaching into the next slice) and blended by the depth fraction; neighbours
    outside [0, D - 1] count as zero.

    Shape:
        volume: (B, C, D, H, W), grid: (B, D', H', W', 3) -> (B, C, D', H', W')
    """
    b, c, d, h, w = volume.shape
    out_shape = grid.shape[1:4]
    padded = F.pad(volume, (0, 0, 1, 1))  # (B, C, D, H + 2, W)
    stacked = padded.reshape(b, c, d * (h + 2), w)
    points = grid.reshape(b, -1, 1, 3)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    fy = ((y + 1) * h - 1) / 2  # pixel-centre coordinates (align_corners=False)
    fz = ((z + 1) * d - 1) / 2
    fy = fy.clamp(-1.0, float(h))
    z0 = torch.floor(fz)
    wz = fz - z0
    rows = d * (h + 2)
    out = volume.new_zeros(b, c, points.shape[1], 1)
    for k, weight in ((z0, 1 - wz), (z0 + 1, wz)):
        valid = ((k >= 0) & (k <= d - 1)).to(volume.dtype)
        row = k.clamp(0, d - 1) * (h + 2) + 1 + fy
        yn = (2 * row + 1) / rows - 1
        sample = F.grid_sample(
            stacked, torch.stack([x, yn], dim=-1), mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (B, C, N, 1)
        out = out + sample * (weight * valid).unsqueeze(1)
    return out.reshape(b, c, *out_shape)


@dataclass(frozen=True, slots=True)
class SourceMotionCache:
    """What dense motion needs that depends on the source alone (computed once per avatar):
    ``compressed`` (B, compress, D, H, W) the compressed volume, ``grid`` (D, H, W, 3) the identity
    grid, ``source_gaussians`` (B, K, D, H, W) the source keypoints' Gaussians."""

    compressed: torch.Tensor
    grid: torch.Tensor
    source_gaussians: torch.Tensor


@dataclass(frozen=True, slots=True)
class DenseMotion:
    """``deformation`` (B, D, H, W, 3): where each output voxel samples the source volume;
    ``mask`` (B, K+1, D, H, W): the softmax weights of the K+1 sparse motions (background first);
    ``occlusion_map`` (B, 1, H, W) in (0, 1), or None."""

    deformation: torch.Tensor
    mask: torch.Tensor
    occlusion_map: torch.Tensor | None


class DenseMotionNetwork(nn.Module):
    """Dense motion from K keypoint pairs over a compressed copy of the feature volume.

    For keypoint k the sparse motion maps a driving point z to ``z - kp_driving_k + kp_source_k``
    (translation only), plus the identity for the background. The compressed volume (``compress``
    channels, BatchNorm, ReLU) is warped by each; with the difference of the driving and source
    Gaussians (variance 0.01) as one more channel per motion, the hourglass predicts a softmax ``mask``
    over the motions (a 7x7x7 conv) and, from its output flattened over depth, an occlusion map (7x7).

    Shape:
        feature: (B, C, D, H, W), kp_driving, kp_source: (B, K, 3) -> DenseMotion
    """

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        feature_channel: int,
        reshape_depth: int,
        compress: int,
        estimate_occlusion_map: bool = True,
    ) -> None:
        super().__init__()
        self.num_kp = num_kp
        self.sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = warp_volume
        self.hourglass = Hourglass3d(block_expansion, (num_kp + 1) * (compress + 1), num_blocks, max_features)
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, 7, padding=3)
        self.compress = nn.Conv3d(feature_channel, compress, 1)
        self.norm = nn.BatchNorm3d(compress, affine=True)
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters * reshape_depth, 1, 7, padding=3)
            if estimate_occlusion_map
            else None
        )

    def sparse_motions(
        self, grid: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor
    ) -> torch.Tensor:
        """(D, H, W, 3) grid -> (B, K+1, D, H, W, 3): the identity, then ``grid - kp_d + kp_s`` per kp."""
        b = kp_source.shape[0]
        shift = (kp_source - kp_driving)[:, :, None, None, None, :]
        moved = grid[None, None] + shift
        identity = grid[None, None].expand(b, 1, *grid.shape)
        return torch.cat([identity, moved], dim=1)

    def prepare(self, feature: torch.Tensor, kp_source: torch.Tensor) -> SourceMotionCache:
        """The source-only part of ``forward``: feature (B, C, D, H, W), kp_source (B, K, 3)."""
        _, _, d, h, w = feature.shape
        compressed = F.relu(self.norm(self.compress(feature)))
        grid = make_coordinate_grid_3d(d, h, w, kp_source.dtype, kp_source.device)
        return SourceMotionCache(compressed, grid, keypoint_gaussians(kp_source, grid))

    def forward(
        self,
        feature: torch.Tensor,
        kp_driving: torch.Tensor,
        kp_source: torch.Tensor,
        cache: SourceMotionCache | None = None,
    ) -> DenseMotion:
        """``cache``: ``prepare(feature, kp_source)``, to skip the source-only work."""
        b, _, d, h, w = feature.shape
        k1 = self.num_kp + 1
        cache = cache if cache is not None else self.prepare(feature, kp_source)
        feature, grid = cache.compressed, cache.grid  # (B, compress, D, H, W), (D, H, W, 3)
        motions = self.sparse_motions(grid, kp_driving, kp_source)  # (B, K+1, D, H, W, 3)
        repeated = feature.unsqueeze(1).expand(b, k1, *feature.shape[1:]).reshape(b * k1, -1, d, h, w)
        deformed = self.sample(repeated, motions.reshape(b * k1, d, h, w, 3))
        deformed = deformed.view(b, k1, -1, d, h, w)  # (B, K+1, compress, D, H, W)
        heat = keypoint_gaussians(kp_driving, grid) - cache.source_gaussians  # (B, K, D, H, W)
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1).unsqueeze(2)
        net_in = torch.cat([heat, deformed], dim=2).view(b, -1, d, h, w)  # (B, (K+1)(compress+1), D, H, W)
        prediction = self.hourglass(net_in)
        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K+1, D, H, W)
        deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)  # (B, D, H, W, 3)
        occlusion = None
        if self.occlusion is not None:
            occlusion = torch.sigmoid(self.occlusion(prediction.reshape(b, -1, h, w)))
        return DenseMotion(deformation, mask, occlusion)


class WarpingNetwork(nn.Module):
    """W: warp the source volume by the dense motion (trilinear ``grid_sample``, ``align_corners=False``
    as in the reference), flatten depth into channels, ``third`` (3x3 conv, BN, LeakyReLU) and
    ``fourth`` (1x1 conv), times the occlusion map.

    Shape:
        feature_3d: (B, C, D, H, W), kp_driving, kp_source: (B, K, 3)
        -> (B, block_expansion * 2**num_down_blocks, H, W) and the DenseMotion
        (released: (1, 32, 16, 64, 64) -> (1, 256, 64, 64))
    """

    def __init__(self, params: WarpingParams, num_kp: int = NUM_KP) -> None:
        super().__init__()
        width = params.block_expansion * 2**params.num_down_blocks
        self.dense_motion_network = DenseMotionNetwork(
            params.dense_block_expansion,
            params.dense_num_blocks,
            params.dense_max_features,
            num_kp,
            params.reshape_channel,
            params.dense_reshape_depth,
            params.compress,
        )
        self.third = SameBlock2d(params.max_features, width, lrelu=True)
        self.fourth = nn.Conv2d(width, width, 1)

    def use_4d_sampling(self, on: bool = True) -> None:
        """Sample with ``warp_volume_4d`` (2-D grid samples only, for export) instead of 5-D."""
        self.dense_motion_network.sample = warp_volume_4d if on else warp_volume

    def prepare(self, feature_3d: torch.Tensor, kp_source: torch.Tensor) -> SourceMotionCache:
        """The source-only part of the dense motion, for ``forward``'s ``cache`` (once per avatar)."""
        return self.dense_motion_network.prepare(feature_3d, kp_source)

    def forward(
        self,
        feature_3d: torch.Tensor,
        kp_driving: torch.Tensor,
        kp_source: torch.Tensor,
        cache: SourceMotionCache | None = None,
    ) -> tuple[torch.Tensor, DenseMotion]:
        motion = self.dense_motion_network(feature_3d, kp_driving, kp_source, cache)
        out = self.dense_motion_network.sample(feature_3d, motion.deformation)
        b, c, d, h, w = out.shape
        out = self.fourth(self.third(out.view(b, c * d, h, w)))
        if motion.occlusion_map is not None:
            out = out * motion.occlusion_map
        return out, motion
