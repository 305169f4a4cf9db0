"""The keypoint detector: K keypoints and a 2x2 jacobian around each, found without supervision."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.fomm.model.layers import AntiAliasInterpolation2d, Hourglass, make_coordinate_grid

Keypoints = dict[str, torch.Tensor]  # {'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}


def heatmap_to_keypoints(heatmap: torch.Tensor) -> torch.Tensor:
    """Soft-argmax: the expected (x, y) of each heatmap on the [-1, 1] grid.

    Shape:
        heatmap: (B, K, H, W), each map summing to 1 -> (B, K, 2)
    """
    grid = make_coordinate_grid(heatmap.shape[2], heatmap.shape[3], heatmap.dtype, heatmap.device)
    return (heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3))


class KPDetector(nn.Module):
    """Find K keypoints, and a 2x2 jacobian around each, in one image.

    The image is first downsampled by ``scale_factor`` (anti-aliased, ``down``), an Hourglass
    (``predictor``) extracts features, ``kp`` (7x7, no padding) gives one heatmap per keypoint: a softmax
    over space of ``logits / temperature``. The keypoint is the heatmap's expected coordinate; the
    jacobian is the heatmap-weighted mean of the ``jacobian`` map (whose bias starts at the identity).

    Shape:
        image: (B, C, H, W) float in [0, 1]
        returns {'value': (B, K, 2) as (x, y) in [-1, 1], 'jacobian': (B, K, 2, 2)} (no 'jacobian'
        unless ``estimate_jacobian``)
    """

    def __init__(
        self,
        block_expansion: int,
        num_kp: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        temperature: float,
        estimate_jacobian: bool = False,
        scale_factor: float = 1,
        single_jacobian_map: bool = False,
        pad: int = 0,
    ) -> None:
        super().__init__()
        self.predictor = Hourglass(block_expansion, num_channels, num_blocks, max_features)
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        self.jacobian: nn.Conv2d | None
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(
                self.predictor.out_filters, 4 * self.num_jacobian_maps, kernel_size=(7, 7), padding=pad
            )
            with torch.no_grad():
                self.jacobian.weight.zero_()
                assert self.jacobian.bias is not None  # nn.Conv2d has a bias unless bias=False
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, image: torch.Tensor) -> Keypoints:
        x = self.down(image) if self.scale_factor != 1 else image
        features = self.predictor(x)
        logits = self.kp(features)
        b, k, h, w = logits.shape
        heatmap = F.softmax(logits.reshape(b, k, h * w) / self.temperature, dim=2).reshape(b, k, h, w)
        out = {"value": heatmap_to_keypoints(heatmap)}
        if self.jacobian is not None:
            jacobian_map = self.jacobian(features).reshape(b, self.num_jacobian_maps, 4, h, w)
            jacobian = (heatmap.unsqueeze(2) * jacobian_map).sum(dim=(3, 4))  # (B, K, 4)
            out["jacobian"] = jacobian.reshape(b, k, 2, 2)
        return out
