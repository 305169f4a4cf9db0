"""The dense motion network: from two keypoint sets to a dense backward flow and an occlusion map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.fomm.model.keypoints import Keypoints
from avatarify_app.engines.fomm.model.layers import (
    AntiAliasInterpolation2d,
    Hourglass,
    inverse_2x2,
    make_coordinate_grid,
)


def kp2gaussian(value: torch.Tensor, height: int, width: int, kp_variance: float) -> torch.Tensor:
    """An unnormalized Gaussian bump ``exp(-|z - kp|^2 / (2 variance))`` around each keypoint.

    Shape:
        value: (B, K, 2) in [-1, 1] -> (B, K, H, W)
    """
    grid = make_coordinate_grid(height, width, value.dtype, value.device)  # (H, W, 2)
    diff = grid.view(1, 1, height, width, 2) - value[:, :, None, None, :]  # (B, K, H, W, 2)
    return torch.exp(-0.5 * (diff**2).sum(-1) / kp_variance)


def sparse_motions(kp_source: Keypoints, kp_driving: Keypoints, height: int, width: int) -> torch.Tensor:
    """The K + 1 candidate backward flows: identity (background), then one per keypoint.

    Keypoint k maps a driving-frame point z to ``kp_src + J_src J_drv^-1 (z - kp_drv)`` in the source
    (first-order Taylor expansion around the keypoint); without jacobians, ``kp_src + z - kp_drv``.

    Shape:
        returns (B, K + 1, H, W, 2), grid_sample coordinates in [-1, 1]
    """
    value_src, value_drv = kp_source["value"], kp_driving["value"]
    b, k, _ = value_drv.shape
    identity = make_coordinate_grid(height, width, value_src.dtype, value_src.device).view(
        1, 1, height, width, 2
    )
    coords = identity - value_drv.view(b, k, 1, 1, 2)  # (B, K, H, W, 2)
    if "jacobian" in kp_driving:
        jacobian = kp_source["jacobian"] @ inverse_2x2(kp_driving["jacobian"])  # (B, K, 2, 2)
        coords = torch.einsum("bkij,bkhwj->bkhwi", jacobian, coords)
    driving_to_source = coords + value_src.view(b, k, 1, 1, 2)
    return torch.cat([identity.expand(b, 1, height, width, 2), driving_to_source], dim=1)


class DenseMotionNetwork(nn.Module):
    """Predict the dense motion from the sparse keypoint motions, at ``scale_factor`` of the image size.

    The Hourglass sees, for each of the K + 1 motions, a heatmap channel (Gaussian of the driving minus
    Gaussian of the source keypoint, zero for the background) and the source warped by that motion:
    (K + 1) * (C + 1) channels, motion-major. ``mask`` gives a softmax over the motions whose weighted sum
    is the ``deformation``; ``occlusion`` a sigmoid map of where the warped source can be trusted.

    Shape:
        source_image: (B, C, H, W); keypoints as ``KPDetector`` returns them
        returns, with h, w = H * scale_factor, W * scale_factor:
            'sparse_deformed': (B, K + 1, C, h, w), 'mask': (B, K + 1, h, w),
            'deformation': (B, h, w, 2) backward flow in [-1, 1], 'occlusion_map': (B, 1, h, w)
    """

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        num_channels: int,
        estimate_occlusion_map: bool = False,
        scale_factor: float = 1,
        kp_variance: float = 0.01,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        self.hourglass = Hourglass(
            block_expansion, (num_kp + 1) * (num_channels + 1), num_blocks, max_features
        )
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion: nn.Conv2d | None = (
            nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
            if estimate_occlusion_map
            else None
        )
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def downsample(self, source_image: torch.Tensor) -> torch.Tensor:
        """The source at the motion network's resolution (cacheable per avatar)."""
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def forward(
        self,
        source_image: torch.Tensor,
        kp_driving: Keypoints,
        kp_source: Keypoints,
        *,
        source_small: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``source_small``: ``downsample(source_image)`` if already computed."""
        small = self.downsample(source_image) if source_small is None else source_small
        b, c, h, w = small.shape
        k1 = self.num_kp + 1
        heatmap = kp2gaussian(kp_driving["value"], h, w, self.kp_variance) - kp2gaussian(
            kp_source["value"], h, w, self.kp_variance
        )
        heatmap = torch.cat([heatmap.new_zeros(b, 1, h, w), heatmap], dim=1)  # (B, K + 1, h, w)
        motions = sparse_motions(kp_source, kp_driving, h, w)  # (B, K + 1, h, w, 2)
        repeated = small.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        deformed = F.grid_sample(
            repeated, motions.reshape(b * k1, h, w, 2), align_corners=self.align_corners
        ).view(b, k1, c, h, w)
        x = torch.cat([heatmap.unsqueeze(2), deformed], dim=2).view(b, k1 * (c + 1), h, w)
        prediction = self.hourglass(x)
        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K + 1, h, w)
        deformation = torch.einsum("bkhwi,bkhw->bhwi", motions, mask)
        out = {"sparse_deformed": deformed, "mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))
        return out
