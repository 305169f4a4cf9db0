"""Relative motion (the FOMM demo's ``normalize_kp``): move the avatar's keypoints as the driver moves.

Convention: keypoints as ``KPDetector`` returns them, ``value`` (B, K, 2) in [-1, 1], ``jacobian``
(B, K, 2, 2).
"""

from __future__ import annotations

import numpy as np
import torch

from avatarify_app.engines.fomm.model.keypoints import Keypoints
from avatarify_app.engines.fomm.model.layers import inverse_2x2


def convex_hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of (N, 2) points (Andrew's monotone chain, then the shoelace formula).

    Fewer than three points, or collinear ones, have area 0.
    """
    pts = np.unique(np.asarray(points, dtype=np.float64).reshape(-1, 2), axis=0)  # sorted by x, then y
    if len(pts) < 3:
        return 0.0

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    def half(seq: np.ndarray) -> list[np.ndarray]:
        chain: list[np.ndarray] = []
        for p in seq:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    hull = np.array(lower[:-1] + upper[:-1])
    if len(hull) < 3:
        return 0.0
    x, y = hull[:, 0], hull[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def movement_scale(kp_source: Keypoints, kp_driving_initial: Keypoints) -> torch.Tensor:
    """``sqrt(hull area of the source keypoints / hull area of the initial driving keypoints)``.

    Makes a small face in the avatar move as much, relatively, as a large face in the driver. A
    degenerate initial hull (area 0) gives 1.

    Shape:
        returns (B,) on the keypoints' device and dtype
    """
    src = kp_source["value"].detach().float().cpu().numpy()
    ini = kp_driving_initial["value"].detach().float().cpu().numpy()
    scales = []
    for s, i in zip(src, ini, strict=True):
        area_ini = convex_hull_area(i)
        scales.append(np.sqrt(convex_hull_area(s) / area_ini) if area_ini > 0 else 1.0)
    return torch.tensor(scales, dtype=kp_source["value"].dtype, device=kp_source["value"].device)


def relative_motion(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_driving_initial: Keypoints,
    scale: torch.Tensor | float = 1.0,
    use_relative_jacobian: bool = True,
) -> Keypoints:
    """Move the source's keypoints by the driver's motion since its initial (neutral) frame.

    ``value = kp_src + (kp_drv - kp_drv_initial) * scale`` and, with ``use_relative_jacobian``,
    ``jacobian = (J_drv J_drv_initial^-1) J_src``. ``scale``: a float or a (B,) tensor, usually
    ``movement_scale`` computed once at calibration (so this step stays on the keypoints' device, with
    static shapes, as a CUDA graph needs). The inputs are not modified.
    """
    diff = kp_driving["value"] - kp_driving_initial["value"]
    if isinstance(scale, torch.Tensor):
        diff = diff * scale.view(-1, 1, 1)
    elif scale != 1.0:
        diff = diff * scale
    kp_new = dict(kp_driving)
    kp_new["value"] = kp_source["value"] + diff
    if use_relative_jacobian:
        jacobian_diff = kp_driving["jacobian"] @ inverse_2x2(kp_driving_initial["jacobian"])
        kp_new["jacobian"] = jacobian_diff @ kp_source["jacobian"]
    return kp_new


def normalize_kp(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_driving_initial: Keypoints,
    adapt_movement_scale: bool = False,
    use_relative_movement: bool = False,
    use_relative_jacobian: bool = False,
) -> Keypoints:
    """The keypoints to animate the source with, as the FOMM demo computes them.

    With relative movement: ``relative_motion`` with ``movement_scale`` as the scale when
    ``adapt_movement_scale``, else 1. Without relative movement the driving keypoints are returned as
    they are (absolute motion). The inputs are not modified.
    """
    if not use_relative_movement:
        return dict(kp_driving)
    scale = movement_scale(kp_source, kp_driving_initial) if adapt_movement_scale else 1.0
    return relative_motion(kp_source, kp_driving, kp_driving_initial, scale, use_relative_jacobian)


def scale_motion(kp_source: Keypoints, kp_target: Keypoints, strength: float | torch.Tensor) -> Keypoints:
    """Move only ``strength`` of the way from ``kp_source`` to ``kp_target`` (1 = all the way).

    ``strength``: one number for every keypoint, or one gain per keypoint, a (K,) tensor (the region
    strengths, ``engines/fomm/regions.py``). Values and jacobians are interpolated linearly, so with
    relative motion this scales the driver's displacement: ``kp_src + strength * s * (kp_drv -
    kp_drv_initial)``. Tensor arithmetic only, so it can be captured in a CUDA graph.
    """
    if isinstance(strength, float | int) and strength == 1.0:
        return dict(kp_target)
    value = kp_source["value"]
    gain: float | torch.Tensor = strength
    if isinstance(strength, torch.Tensor):
        gain = strength.to(value.dtype)
        if gain.ndim == 1:  # (K,) -> (1, K, 1), against values (B, K, 2)
            gain = gain.view(1, -1, 1)
    out = {"value": value + gain * (kp_target["value"] - value)}
    if "jacobian" in kp_target and "jacobian" in kp_source:
        jacobian_gain = gain.unsqueeze(-1) if isinstance(gain, torch.Tensor) and gain.ndim == 3 else gain
        jacobian = kp_source["jacobian"]
        out["jacobian"] = jacobian + jacobian_gain * (kp_target["jacobian"] - jacobian)
    return out
