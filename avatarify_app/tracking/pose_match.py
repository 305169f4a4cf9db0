"""How closely the driver's face matches the avatar's: head pose and expression, as one score.

Calibration takes the driver's current frame as the neutral pose, so it works best when the driver
holds the avatar's pose and expression (same head turn, mouth and eyes as open as the avatar's). The
score guides the user towards that moment and can trigger calibration automatically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from avatarify_app.frames import FaceTrack
from avatarify_app.tracking.landmarks import eye_opening, mouth_opening


@dataclass(frozen=True, slots=True)
class PoseMatchTolerances:
    """The difference at which each part of the match has fallen to about 37 % (a Gaussian's 1/e).

    Angles in degrees; openings in the units of ``landmarks.mouth_opening`` (gap / face height) and
    ``landmarks.eye_opening`` (lid gap / eye width).
    """

    yaw_deg: float = 15.0
    pitch_deg: float = 15.0
    roll_deg: float = 12.0
    mouth: float = 0.08
    eyes: float = 0.15


def pose_match(driver: FaceTrack, avatar: FaceTrack, tolerances: PoseMatchTolerances | None = None) -> float:
    """Score in [0, 1]: 1 when the driver's head pose and expression equal the avatar's.

    The score is the product of one Gaussian term per difference (yaw, pitch, roll, mouth opening, eye
    opening), each ``exp(-(difference / tolerance)^2)``, so any one large difference brings it down.
    Roll is compared on the circle (179 deg and -179 deg are 2 deg apart). Returns 0.0 when either face
    is missing (``found`` False, or no landmarks or pose).
    """
    tol = tolerances or PoseMatchTolerances()
    d_pose, d_points = driver.pose, driver.landmarks
    a_pose, a_points = avatar.pose, avatar.landmarks
    if not (driver.found and avatar.found) or d_pose is None or a_pose is None:
        return 0.0
    if d_points is None or a_points is None:
        return 0.0
    terms = (
        _angle_difference(d_pose.yaw, a_pose.yaw) / tol.yaw_deg,
        _angle_difference(d_pose.pitch, a_pose.pitch) / tol.pitch_deg,
        _angle_difference(d_pose.roll, a_pose.roll) / tol.roll_deg,
        (mouth_opening(d_points) - mouth_opening(a_points)) / tol.mouth,
        (eye_opening(d_points) - eye_opening(a_points)) / tol.eyes,
    )
    score = math.exp(-sum(t * t for t in terms))
    return min(max(score, 0.0), 1.0)


def _angle_difference(a_deg: float, b_deg: float) -> float:
    """Smallest signed difference a - b in degrees, in (-180, 180]."""
    d = (a_deg - b_deg) % 360.0
    return d - 360.0 if d > 180.0 else d


class AutoCalibrator:
    """Says when to calibrate by itself: once the match has stayed at or above ``threshold`` for
    ``hold_s`` seconds. It fires once per such stretch; the match must drop below ``threshold``
    before it can fire again.

    Feed it ``update(score, t)`` for every frame (``t`` in seconds, ``time.monotonic()``).
    """

    def __init__(self, threshold: float = 0.9, hold_s: float = 1.0) -> None:
        self.threshold = threshold
        self.hold_s = hold_s
        self._since: float | None = None  # when the current stretch above threshold began
        self._fired = False

    def update(self, score: float, t: float) -> bool:
        """True when calibration should happen now."""
        if score < self.threshold:
            self._since, self._fired = None, False
            return False
        if self._since is None:
            self._since = t
        if not self._fired and t - self._since >= self.hold_s:
            self._fired = True
            return True
        return False

    def reset(self) -> None:
        """Forget the current stretch (a new avatar: the pose to match has changed)."""
        self._since, self._fired = None, False
