"""3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3) in plain torch GEMMs: the CPU fallback
when torch has no NNPACK (``frozen_conv.py``).

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each 6x6 input tile
gives a 4x4 output tile with 36 multiplications per channel pair instead of 144, so the 3x3 convs of
the generator's bottleneck and decoder need 4x fewer multiply-adds. The transforms are GEMMs with the
Kronecker products of the small matrices, and the 36 element-wise products one batched GEMM.

Accuracy: about 1e-5 of the output's scale in float32 (the transforms hold small integers and
the filter transform is computed in float64).

Convention: NCHW float32 tensors; stride 1, zero padding 1 (the output has the input's size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_BT = torch.tensor(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=torch.float64,
)
_G = torch.tensor(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=torch.float64,
)
_AT = torch.tensor(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    dtype=torch.float64,
)
_KB = torch.kron(_BT, _BT).float()  # (36, 36): vec(BT d B) = KB vec(d), row-major tiles
_KA = torch.kron(_AT, _AT).float()  # (16, 36)
# Up-block phases: a nearest-neighbour 2x upsampling then a 3x3 conv equals, for each output phase
# (row parity a, column parity b), a 3x3 conv of the low-resolution input whose taps are sums of the
# original taps: row r of the kernel is R[a] @ rows. Exact (up to summation order).
_PHASE = torch.tensor(
    [[[1, 0, 0], [0, 1, 1], [0, 0, 0]], [[0, 0, 0], [1, 1, 0], [0, 0, 1]]],
    dtype=torch.float64,
)


def filter_transform(weight: torch.Tensor) -> torch.Tensor:
    """Winograd-domain filters for ``winograd_conv3x3``.

    Shape:
        weight: (C_out, C_in, 3, 3) -> (36, C_out, C_in) float32
    """
    u = _G @ weight.detach().double().cpu() @ _G.T  # (C_out, C_in, 6, 6)
    return u.reshape(weight.shape[0], weight.shape[1], 36).permute(2, 0, 1).contiguous().float()


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The four phase kernels of "2x nearest upsampling, then ``weight``", on the low-resolution grid.

    Shape:
        weight: (C_out, C_in, 3, 3) -> (4 * C_out, C_in, 3, 3), phase-major: (row parity, column parity)
    """
    w = weight.detach().double()
    phases = [torch.einsum("pi,oxij,qj->oxpq", _PHASE[a], w, _PHASE[b]) for a in (0, 1) for b in (0, 1)]
    return torch.cat(phases, dim=0).to(weight.dtype)


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` with ``u = filter_transform(weight)``.

    Shape:
        x: (B, C_in, H, W); u: (36, C_out, C_in) -> (B, C_out, H, W)
    """
    b, c, h, w = x.shape
    c_out = u.shape[1]
    th, tw = -(-h // 4), -(-w // 4)  # tiles; the padded margin's outputs are cut off at the end
    xp = F.pad(x, (1, 1 + 4 * tw - w, 1, 1 + 4 * th - h))
    d = xp.unfold(2, 6, 4).unfold(3, 6, 4)  # (B, C, th, tw, 6, 6), a view
    d = d.permute(4, 5, 1, 0, 2, 3).reshape(36, c * b * th * tw)  # the one gather copy
    v = (_KB.to(x.device, x.dtype) @ d).view(36, c, b * th * tw)  # input tiles, Winograd domain
    m = torch.bmm(u, v)  # (36, C_out, T)
    y = (_KA.to(x.device, x.dtype) @ m.view(36, -1)).view(4, 4, c_out, b, th, tw)  # output tiles
    out = y.permute(3, 2, 4, 0, 5, 1)  # (B, C_out, th, 4, tw, 4)
    if bias is not None:
        out = torch.add(out, bias.view(1, -1, 1, 1, 1, 1))
    out = out.reshape(b, c_out, 4 * th, 4 * tw)
    return out if (4 * th, 4 * tw) == (h, w) else out[:, :, :h, :w].contiguous()
