"""The keypoint maths of LivePortrait: head-pose bins to degrees, the rotation, the transformed keypoints
``x = s (x_c R + exp) + t``, relative motion from a neutral driving frame, stitching and retargeting.

Convention: keypoints are row vectors (B, K, 3), so rotations act on the right (``x_c @ R``); ``R`` is
``(Rz(roll) Ry(yaw) Rx(pitch))^T``. Angles in degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from avatarify_app.engines.liveportrait.config import NUM_BINS, NUM_KP
from avatarify_app.engines.liveportrait.model.motion_extractor import MotionOutput
from avatarify_app.engines.liveportrait.model.stitching import StitchingRetargeting

# Keypoints that the reference's region options move ("eyes" and "lip" in animation_region).
EYE_KEYPOINTS = (11, 13, 15, 16, 18)
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)
LIP_NORMALIZE_THRESHOLD = 0.03  # a source lip ratio above this is closed before animating


def bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """The expected angle under the softmax of 66 bins of 3 degrees: ``3 * sum(p_i * i) - 97.5``.

    Shape:
        logits: (B, 66) -> (B,)
    """
    if logits.shape[-1] != NUM_BINS:
        raise ValueError(f"expected {NUM_BINS} head-pose bins, got {tuple(logits.shape)}")
    idx = torch.arange(NUM_BINS, dtype=logits.dtype, device=logits.device)
    return (F.softmax(logits, dim=-1) * idx).sum(-1) * 3 - 97.5


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """``(Rz(roll) @ Ry(yaw) @ Rx(pitch))^T`` from angles in degrees, for row-vector keypoints.

    Shape:
        pitch, yaw, roll: (B,) or (B, 1) -> (B, 3, 3)
    """
    x, y, z = (torch.deg2rad(a.reshape(-1)) for a in (pitch, yaw, roll))
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()], -1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1).view(-1, 3, 3)
    rz = torch.stack([z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one], -1).view(-1, 3, 3)
    return (rz @ ry @ rx).transpose(1, 2)


@dataclass(frozen=True, slots=True)
class KeypointInfo:
    """One face's motion parameters. Shapes: ``kp`` and ``exp`` (B, K, 3); ``pitch``, ``yaw``, ``roll``
    (B,) degrees; ``rotation`` (B, 3, 3); ``t`` (B, 3); ``scale`` (B, 1)."""

    kp: torch.Tensor
    exp: torch.Tensor
    pitch: torch.Tensor
    yaw: torch.Tensor
    roll: torch.Tensor
    rotation: torch.Tensor
    t: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def from_heads(cls, out: MotionOutput) -> KeypointInfo:
        b = out.kp.shape[0]
        pitch, yaw, roll = bins_to_degrees(out.pitch), bins_to_degrees(out.yaw), bins_to_degrees(out.roll)
        return cls(
            kp=out.kp.reshape(b, -1, 3),
            exp=out.exp.reshape(b, -1, 3),
            pitch=pitch,
            yaw=yaw,
            roll=roll,
            rotation=rotation_matrix(pitch, yaw, roll),
            t=out.t,
            scale=out.scale,
        )


def transform_keypoints(
    kp: torch.Tensor, rotation: torch.Tensor, exp: torch.Tensor, scale: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """Eq. 2 of the paper, ``x = s (x_c R + exp) + t`` with t's z component dropped.

    Shape:
        kp, exp: (B, K, 3); rotation: (B, 3, 3); scale: (B, 1); t: (B, 3) -> (B, K, 3)
    """
    x = (kp @ rotation + exp) * scale[..., None]
    shift = torch.cat([t[:, :2], torch.zeros_like(t[:, 2:])], dim=1)
    return x + shift[:, None, :]


def source_keypoints(info: KeypointInfo) -> torch.Tensor:
    """x_s: the source's transformed keypoints (B, K, 3)."""
    return transform_keypoints(info.kp, info.rotation, info.exp, info.scale, info.t)


def rotation_power(rotation: torch.Tensor, power: float | torch.Tensor) -> torch.Tensor:
    """``R^power`` (the same axis, ``power`` times the angle), by Rodrigues' formula in float64; a power
    of exactly 1 returns R itself. ``power`` may be a 0-dim tensor: then there is no host-side branch
    (``torch.where`` picks R where it is 1), so the function can be captured in a CUDA graph.

    Shape:
        rotation: (B, 3, 3), power: float or () -> (B, 3, 3)
    """
    if not isinstance(power, torch.Tensor):
        if power == 1.0:
            return rotation
        power = torch.tensor(float(power), device=rotation.device)
    r = rotation.double()
    cos = ((r.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1.0, 1.0)
    angle = torch.arccos(cos)
    axis = torch.stack([r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]], -1)
    norm = axis.norm(dim=-1, keepdim=True)
    axis = torch.where(norm > 1e-9, axis / norm.clamp_min(1e-12), torch.zeros_like(axis))
    theta = (angle * power.double())[:, None, None]
    kx, ky, kz = axis.unbind(-1)
    zero = torch.zeros_like(kx)
    k = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).view(-1, 3, 3)
    eye = torch.eye(3, dtype=r.dtype, device=r.device).expand_as(r)
    out = eye + theta.sin() * k + (1 - theta.cos()) * (k @ k)
    return torch.where(power == 1, rotation, out.to(rotation.dtype))


@dataclass(frozen=True, slots=True)
class RegionGains:
    """How much of the driver's change since the neutral frame reaches the avatar: ``expression`` for
    all expression deltas, times ``eyes`` on ``EYE_KEYPOINTS`` and ``mouth`` on ``LIP_KEYPOINTS``;
    ``head`` for rotation, translation and scale. All 1: the reference's relative motion exactly."""

    expression: float = 1.0
    eyes: float = 1.0
    mouth: float = 1.0
    head: float = 1.0

    def expression_weights(self, num_kp: int = NUM_KP) -> torch.Tensor:
        """(K, 1) weights of the expression change per keypoint."""
        w = torch.full((num_kp, 1), float(self.expression))
        w[list(EYE_KEYPOINTS)] *= self.eyes
        w[list(LIP_KEYPOINTS)] *= self.mouth
        return w


def relative_driving_keypoints(
    source: KeypointInfo, driving: KeypointInfo, neutral: KeypointInfo, gains: RegionGains | None = None
) -> torch.Tensor:
    """The reference's relative motion ("pose-friendly", its default), with region gains:

    ``R = (R_d R_d0^T)^head R_s``, ``exp = exp_s + w (exp_d - exp_d0)``,
    ``s = s_s (s_d / s_d0)^head``, ``t = t_s + head (t_d - t_d0)`` (z set to 0), and
    ``x_d = s (x_c,s R + exp) + t``. ``neutral`` is the calibrated driving frame (the reference's first).

    Shape:
        -> (B, K, 3)
    """
    gains = gains or RegionGains()
    weights = gains.expression_weights(source.kp.shape[1]).to(source.exp)
    return relative_motion(source, driving, neutral, weights, torch.tensor(float(gains.head)).to(source.t))


def relative_motion(
    source: KeypointInfo,
    driving: KeypointInfo,
    neutral: KeypointInfo,
    weights: torch.Tensor,
    head: torch.Tensor,
) -> torch.Tensor:
    """``relative_driving_keypoints`` with the gains as tensors on the keypoints' device: ``weights``
    (``RegionGains.expression_weights``) and ``head``. No host-side branch or copy: CUDA graphs capture it.

    Shape:
        weights: (K, 1), head: () -> (B, K, 3)
    """
    relative = driving.rotation @ neutral.rotation.transpose(1, 2)
    rotation = rotation_power(relative, head) @ source.rotation
    exp = source.exp + weights * (driving.exp - neutral.exp)
    ratio = driving.scale / neutral.scale
    scale = source.scale * torch.where(head == 1, ratio, ratio.clamp_min(1e-6) ** head)
    t = source.t + head * (driving.t - neutral.t)
    t = torch.cat([t[:, :2], torch.zeros_like(t[:, 2:])], dim=1)
    return (source.kp @ rotation + exp) * scale[..., None] + t[:, None, :]


def stitch(mlps: StitchingRetargeting, x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
    """Stitching: ``delta = S([x_s, x_d])``; x_d moves by its first 3K values and (x, y) by the last two.

    Shape:
        x_s, x_d: (B, K, 3) -> (B, K, 3)
    """
    b, k, _ = x_d.shape
    delta = mlps.stitching(torch.cat([x_s.reshape(b, -1), x_d.reshape(b, -1)], dim=1))
    moved = x_d + delta[:, : 3 * k].reshape(b, k, 3)
    txy = delta[:, 3 * k : 3 * k + 2].reshape(b, 1, 2)
    return moved + torch.cat([txy, torch.zeros_like(txy[..., :1])], dim=-1)


def retarget_lip(mlps: StitchingRetargeting, x_s: torch.Tensor, lip_ratios: torch.Tensor) -> torch.Tensor:
    """R_lip(x_s; c_s_lip, c_d_lip): (B, K, 3) keypoints and (B, 2) ratios -> (B, K, 3) delta."""
    b, k, _ = x_s.shape
    return mlps.lip(torch.cat([x_s.reshape(b, -1), lip_ratios], dim=1)).reshape(b, k, 3)


def retarget_eye(mlps: StitchingRetargeting, x_s: torch.Tensor, eye_ratios: torch.Tensor) -> torch.Tensor:
    """R_eye(x_s; c_s_left, c_s_right, c_d_eye): (B, K, 3) and (B, 3) -> (B, K, 3) delta."""
    b, k, _ = x_s.shape
    return mlps.eye(torch.cat([x_s.reshape(b, -1), eye_ratios], dim=1)).reshape(b, k, 3)
