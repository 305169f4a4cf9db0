"""Relative landmark motion, moved from the driver's face onto the avatar's.

Convention: 2x3 similarity matrices map pixel (x, y) from one image to another (``dst_from_src``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarify_app.engines.regions import expression_gains, partial_similarity, region_weights
from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.crop import fit_similarity, invert_affine, transform_points

_RIGID = list(lm.RIGID)


@dataclass(frozen=True, slots=True)
class MovedFace:
    """The avatar's landmarks for one driving frame.

    Attributes:
        landmarks: (478, 2) float64 avatar pixels, expression and head motion applied.
        head: (2, 3) the head motion alone, ``moved_from_rest`` in avatar pixels: the avatar at rest
            moved by it is the pose without expression, which cannot fold (``folds.py``).
    """

    landmarks: np.ndarray
    head: np.ndarray


class MotionTransfer:
    """Moves the avatar's landmarks as the driver moved since its neutral frame.

    Head motion (a similarity fitted on the rigid points: position, size, roll) is removed from the
    driver; what is left is the expression, a per-landmark displacement in the neutral driver's frame.
    It is scaled by ``strength``, carried into the avatar's frame, and the driver's head motion is put
    back on top. At the neutral frame the result equals the avatar's landmarks. Region strengths
    (``engines/regions.py``) scale the expression of the eyes and the mouth, and the head motion.

    What depends only on the avatar and the neutral frame (their similarity, the avatar seen in the
    neutral driver's frame) is computed once, here; a call does the per-frame rest.

    Shape: (478, 2+) pixel landmarks in (avatar, driver_neutral, driver).
    """

    def __init__(self, avatar: np.ndarray, driver_neutral: np.ndarray) -> None:
        self._neutral = driver_neutral[:, :2].astype(np.float64)
        self._avatar_from_neutral = fit_similarity(self._neutral[_RIGID], avatar[_RIGID, :2])
        self._neutral_from_avatar = invert_affine(self._avatar_from_neutral)
        avatar_points = avatar[:, :2].astype(np.float64)
        self._avatar_in_neutral = transform_points(self._neutral_from_avatar, avatar_points)
        self._regions = region_weights(self._neutral, self._neutral)  # (478, 2) eyes, mouth
        self._centre = self._neutral[_RIGID].mean(axis=0)

    def __call__(
        self,
        driver: np.ndarray,
        strength: float = 1.0,
        eyes: float = 1.0,
        mouth: float = 1.0,
        head: float = 1.0,
    ) -> MovedFace:
        # Head motion: a similarity of the rigid points since the neutral frame.
        current_from_neutral = fit_similarity(self._neutral[_RIGID], driver[_RIGID, :2])
        # Expression: what is left, a displacement per landmark in the neutral face's frame.
        driver_in_neutral = transform_points(invert_affine(current_from_neutral), driver[:, :2])
        expression = driver_in_neutral - self._neutral
        # The one place both are combined: the avatar (seen in the neutral frame) takes the expression
        # times its per-landmark gain (strength and the eye/mouth regions), then the head motion (scaled
        # by the head region), and goes back to avatar pixels.
        gains = expression_gains(self._regions, strength, eyes, mouth)[:, None]
        posed = self._avatar_in_neutral + gains * expression
        head_motion = partial_similarity(current_from_neutral, self._centre, head)
        moved_head = _compose(self._avatar_from_neutral, head_motion)
        landmarks = transform_points(moved_head, posed)
        return MovedFace(landmarks=landmarks, head=_compose(moved_head, self._neutral_from_avatar))


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``outer`` after ``inner``."""
    out = outer[:, :2] @ inner
    out[:, 2] += outer[:, 2]
    return out
