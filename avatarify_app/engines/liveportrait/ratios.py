"""Eye and lip open ratios from FaceMesh landmarks, the inputs of LivePortrait's retargeting MLPs.

The reference computes them on its own 203-point landmarks (InsightFace crop + a landmark model): per eye
the lid gap over the eye's width, and the inner-lip gap over the mouth's width. These are the same
distances on MediaPipe FaceMesh's 478 points: lids 159/145 and 386/374 over corners 33/133 and 263/362;
lips 13/14 over corners 61/291. The eye on the image's left comes first (the subject's right eye in a
non-mirrored picture), as we read the reference's order (its points 0-23 before 24-47).
"""

from __future__ import annotations

import numpy as np

from avatarify_app.tracking.landmarks import (
    LEFT_EYE_BOTTOM,
    LEFT_EYE_INNER,
    LEFT_EYE_OUTER,
    LEFT_EYE_TOP,
    RIGHT_EYE_BOTTOM,
    RIGHT_EYE_INNER,
    RIGHT_EYE_OUTER,
    RIGHT_EYE_TOP,
)

LIP_CORNERS = (61, 291)
INNER_LIP = (13, 14)
_EPS = 1e-6


def _ratio(points: np.ndarray, a: int, b: int, c: int, d: int) -> float:
    gap = float(np.linalg.norm(points[a, :2] - points[b, :2]))
    width = float(np.linalg.norm(points[c, :2] - points[d, :2]))
    return gap / (width + _EPS)


def eye_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """(eye on the image's left, eye on the image's right) lid gap / eye width: about 0.3 open, < 0.1 shut.

    ``landmarks``: (478, 2+) FaceMesh points, any pixel frame (the ratios do not depend on it).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    first = _ratio(points, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM, RIGHT_EYE_OUTER, RIGHT_EYE_INNER)
    second = _ratio(points, LEFT_EYE_TOP, LEFT_EYE_BOTTOM, LEFT_EYE_OUTER, LEFT_EYE_INNER)
    return first, second


def lip_ratio(landmarks: np.ndarray) -> float:
    """Inner-lip gap / mouth width: 0 closed, about 0.5 wide open."""
    points = np.asarray(landmarks, dtype=np.float64)
    return _ratio(points, INNER_LIP[0], INNER_LIP[1], LIP_CORNERS[0], LIP_CORNERS[1])
