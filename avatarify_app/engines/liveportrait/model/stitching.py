"""S and R: the stitching MLP and the eye and lip retargeting MLPs (plain ReLU MLPs)."""

from __future__ import annotations

import torch
from torch import nn

from avatarify_app.engines.liveportrait.config import NUM_KP


class StitchingRetargetingNetwork(nn.Module):
    """Linear -> ReLU -> ... -> Linear, under the name ``mlp`` (keys ``mlp.0``, ``mlp.2``, ...).

    The three released ones (K = 21):
      - stitching: [x_s, x_d] (B, 126) -> (B, 65): a delta for x_d (63) and for its (tx, ty) (2);
      - lip: [x_s, c_s_lip, c_d_lip] (B, 65) -> (B, 63);
      - eye: [x_s, c_s_left_eye, c_s_right_eye, c_d_eye] (B, 66) -> (B, 63).

    Shape:
        x: (B, input_size) -> (B, output_size)
    """

    def __init__(self, input_size: int, hidden_sizes: tuple[int, ...], output_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        sizes = (input_size, *hidden_sizes)
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    """The three MLPs of ``stitching_retargeting_module.pth`` (its entries ``retarget_shoulder``,
    ``retarget_mouth`` and ``retarget_eye``) under the names ``stitching``, ``lip`` and ``eye``."""

    def __init__(
        self,
        stitching_hidden: tuple[int, ...],
        lip_hidden: tuple[int, ...],
        eye_hidden: tuple[int, ...],
        num_kp: int = NUM_KP,
    ) -> None:
        super().__init__()
        n = 3 * num_kp
        self.stitching = StitchingRetargetingNetwork(2 * n, stitching_hidden, n + 2)
        self.lip = StitchingRetargetingNetwork(n + 2, lip_hidden, n)
        self.eye = StitchingRetargetingNetwork(n + 3, eye_hidden, n)
