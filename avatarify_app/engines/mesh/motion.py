"""Relative landmark motion, moved from the driver's face onto the avatar's.

Convention: 2x3 similarity matrices map pixel (x, y) from one image to another (``dst_from_src``).
"""

from __future__ import annotations

import numpy as np

from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.crop import invert_affine, transform_points

_RIGID = list(lm.RIGID)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (scale, rotation, translation) taking (N, 2) ``src`` onto ``dst``.

    Returns the 2x3 ``dst_from_src``. Solved in closed form with complex numbers: a = s * e^(i theta).
    """
    s = src[:, 0].astype(np.float64) + 1j * src[:, 1]
    d = dst[:, 0].astype(np.float64) + 1j * dst[:, 1]
    s_mean, d_mean = s.mean(), d.mean()
    sc, dc = s - s_mean, d - d_mean
    a = np.vdot(sc, dc) / max(np.vdot(sc, sc).real, 1e-12)
    t = d_mean - a * s_mean
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]])


def transfer_motion(
    avatar: np.ndarray,
    driver_neutral: np.ndarray,
    driver: np.ndarray,
    strength: float = 1.0,
) -> np.ndarray:
    """The avatar's landmarks moved as the driver moved since its neutral frame.

    Head motion (a similarity fitted on the rigid points: position, size, roll) is removed from the
    driver; what is left is the expression, a per-landmark displacement in the neutral driver's frame.
    It is scaled by ``strength``, carried into the avatar's frame, and the driver's head motion is put
    back on top. At the neutral frame the result equals ``avatar``.

    Shape: (478, 2+) pixel landmarks in, (478, 2) float64 out (avatar pixels).
    """
    avatar_from_neutral = fit_similarity(driver_neutral[_RIGID, :2], avatar[_RIGID, :2])
    current_from_neutral = fit_similarity(driver_neutral[_RIGID, :2], driver[_RIGID, :2])
    expression = transform_points(invert_affine(current_from_neutral), driver[:, :2]) - driver_neutral[:, :2]
    posed = transform_points(invert_affine(avatar_from_neutral), avatar[:, :2].astype(np.float64))
    posed = posed + strength * expression
    return transform_points(avatar_from_neutral, transform_points(current_from_neutral, posed))
