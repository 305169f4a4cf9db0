"""Relative landmark motion, moved from the driver's face onto the avatar's.

Convention: 2x3 similarity matrices map pixel (x, y) from one image to another (``dst_from_src``).
"""

from __future__ import annotations

import math
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
        head: (2, 3) the head motion as a similarity of the picture, ``moved_from_rest`` in avatar
            pixels (the roll taken in the image plane): the avatar at rest moved by it is a pose
            without expression, which cannot fold (``folds.py``).
    """

    landmarks: np.ndarray
    head: np.ndarray


def face_axes(points: np.ndarray) -> np.ndarray:
    """(3, 3) the face's own axes in camera coordinates, as columns: x from the subject's right eye's
    outer corner to the left one's, y from the chin to the forehead (made orthogonal to x), z their
    cross product (towards the camera for a frontal face). The same axes as ``tracking.pose``.

    ``points``: (478, 3) landmarks, x and y in pixels, z (FaceMesh's depth) in pixels too. A face
    without depth (z all 0) still gives an orthonormal frame, rolled with its eye line.
    """
    p = points[:, :3].astype(np.float64)
    x_axis = p[lm.LEFT_EYE_OUTER] - p[lm.RIGHT_EYE_OUTER]
    x_axis /= np.linalg.norm(x_axis) + 1e-12
    up = p[lm.FOREHEAD_TOP] - p[lm.CHIN]
    y_axis = up - x_axis * np.dot(up, x_axis)
    y_axis /= np.linalg.norm(y_axis) + 1e-12
    return np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)], axis=1)


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about the unit ``axis`` (Rodrigues)."""
    x, y, z = axis
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * (cross @ cross)


# Where the mouth's opening is moved from a hidden upper lip to the lower lip and the jaw, in face
# units (the eye-centre distance) of the neutral driver, measured up from the line of the mouth corners.
_UPPER_FULL, _UPPER_NONE = 0.0, 0.35  # the upper lip keeps still up to here, the nose moves as it did
_LOWER_FULL, _LOWER_NONE = -0.12, 0.0  # the lower lip and the chin carry the opening below here
_CORNER_FADE = 0.35  # beyond the mouth corners the extra opening fades out over this
# How much of a hidden upper lip's rise goes to the lower lip. Not all of it: hair that keeps quite
# still over a dark opening reads as more hair (FaceMesh sees the mouth closed, bench/mesh_quality.py);
# lifting a little with the opening, it reads as a mouth.
_HIDDEN_SHARE = 0.5
# The head's position is eased to a stop this close to the canvas's edges (fractions of its size): the
# face may drift into the outer 8%, never past the last 1.5% (``_keep_inside``).
_EDGE_ZONE, _EDGE_MARGIN = 0.08, 0.015


class MotionTransfer:
    """Moves the avatar's landmarks as the driver moved since its neutral frame.

    Head motion (a similarity fitted on the rigid points: position, size, roll) is removed from the
    driver; what is left is the expression, a per-landmark displacement in the neutral driver's frame,
    with FaceMesh's depth. Both are taken in the faces' own 3D frames (``face_axes``), not in the
    picture: the expression is turned from the neutral driver's face frame into the avatar's (so a
    turned avatar's lids close along its turned eyes, a smile widens along its turned mouth), scaled by
    ``strength`` and the region strengths (``engines/regions.py``), and the head's roll turns the
    avatar about its own forward axis (a turned face rolls about itself, not about the camera's axis);
    position and size follow the driver's in the picture. For two frontal faces this is close to the
    plain 2D transfer. Each eye's lids travel as far, relative to the avatar's lid gap, as the driver's
    (``_lid_gains``). At the neutral frame the result equals the avatar's landmarks.

    ``canvas`` (width, height), where given: the head's position is eased to a stop near the canvas's
    edges (``_keep_inside``), so a driver drifting across its own picture (a phone held in a hand, its
    face a sixth of the frame, moved at the avatar's scale) never takes the avatar's face out of the
    output. Away from the edges it follows the driver exactly.

    ``upper_lip_hidden`` (0 to 1, ``features.upper_lip_cover``): how much of the avatar's upper lip is
    hidden (a moustache). Up to half of the upper lip's opening motion (``_HIDDEN_SHARE``) is given to
    the lower lip and the jaw instead: the mouth opens as wide, the hair over the lip moves less.

    What depends only on the avatar and the neutral frame (their similarity, the turn between their
    face frames, the region weights) is computed once, here; a call does the per-frame rest.

    Shape: (478, 2+) pixel landmarks in (avatar, driver_neutral, driver); z, where given, in pixels.
    """

    def __init__(
        self,
        avatar: np.ndarray,
        driver_neutral: np.ndarray,
        upper_lip_hidden: float = 0.0,
        canvas: tuple[int, int] | None = None,
    ) -> None:
        self._neutral = driver_neutral[:, :2].astype(np.float64)
        self._neutral_z = _depth(driver_neutral)
        self._avatar_from_neutral = fit_similarity(self._neutral[_RIGID], avatar[_RIGID, :2])
        self._neutral_from_avatar = invert_affine(self._avatar_from_neutral)
        avatar_points = avatar[:, :2].astype(np.float64)
        avatar_z = _depth(avatar)
        self._avatar = np.concatenate([avatar_points, avatar_z[:, None]], axis=1)  # (478, 3)
        self._avatar_in_neutral = transform_points(self._neutral_from_avatar, avatar_points)
        self._regions = region_weights(self._neutral, self._neutral)  # (478, 2) eyes, mouth
        self._lid_gains = _lid_gains(self._avatar_in_neutral, self._neutral)  # (478,)
        self._centre = self._neutral[_RIGID].mean(axis=0)
        scale = math.sqrt(abs(np.linalg.det(self._avatar_from_neutral[:, :2])))
        # A displacement in the neutral driver's camera coordinates -> the avatar's: through the two
        # face frames (the avatar's depth from FaceMesh, as the driver's), times their size ratio.
        neutral_axes = face_axes(np.concatenate([self._neutral, self._neutral_z[:, None]], axis=1))
        avatar_axes = face_axes(self._avatar)
        self._expression_map = scale * avatar_axes @ neutral_axes.T  # (3, 3)
        forward = avatar_axes[:, 2]
        self._roll_axis = forward if forward[2] >= 0 else -forward  # rolling about it turns x to y
        self._avatar_centre = self._avatar[_RIGID].mean(axis=0)
        self._upper_hidden = _HIDDEN_SHARE * float(np.clip(upper_lip_hidden, 0.0, 1.0))
        self._lip_shift = _lip_shift_weights(self._neutral) if self._upper_hidden > 0 else None
        self._canvas = canvas
        self._rest_box = (avatar_points.min(axis=0), avatar_points.max(axis=0))

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
        # Expression: what is left, a displacement per landmark in the neutral face's frame (depth too,
        # at the neutral face's scale).
        neutral_from_current = invert_affine(current_from_neutral)
        driver_in_neutral = transform_points(neutral_from_current, driver[:, :2])
        expression = np.empty((len(driver_in_neutral), 3))
        expression[:, :2] = driver_in_neutral - self._neutral
        shrink = math.sqrt(abs(np.linalg.det(neutral_from_current[:, :2])))
        expression[:, 2] = _depth(driver) * shrink - self._neutral_z
        if self._lip_shift is not None:
            self._shift_opening_down(expression)
        # The one place both are combined: the avatar takes the expression (turned into its own face
        # frame) times its per-landmark gain (strength and the eye/mouth regions), then the head motion
        # (scaled by the head region): position and size in the picture, roll about its own axis.
        gains = (expression_gains(self._regions, strength, eyes, mouth) * self._lid_gains)[:, None]
        posed = self._avatar + gains * (expression @ self._expression_map.T)
        head_motion = partial_similarity(current_from_neutral, self._centre, head)
        moved_head = _compose(self._avatar_from_neutral, _compose(head_motion, self._neutral_from_avatar))
        linear = moved_head[:, :2]
        size = math.sqrt(abs(np.linalg.det(linear)))
        angle = math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1])
        turn = _rotation_about(self._roll_axis, angle)[:2]  # (2, 3): rotated, then seen from the camera
        centre = self._avatar_centre
        landmarks = (posed - centre) @ (size * turn).T + (linear @ centre[:2] + moved_head[:, 2])
        if self._canvas is not None:
            shift = self._keep_inside(transform_points(moved_head, self._avatar[:, :2]))
            landmarks += shift
            moved_head = moved_head.copy()
            moved_head[:, 2] += shift
        return MovedFace(landmarks=landmarks, head=moved_head)

    def _keep_inside(self, head_only: np.ndarray) -> np.ndarray:
        """(2,) the shift that keeps the head-moved face (478, 2) inside the canvas, 0 away from the edges.

        Per axis and side: once the face's box passes the start of the edge zone (the outer
        ``_EDGE_ZONE`` of the canvas, or where the face already is at rest, whichever is further out) the
        rest of its way is eased (tanh) so it comes to a stop at the margin. The head's motion alone is
        looked at, not the expression: the head does not bob as the jaw drops.
        """
        assert self._canvas is not None
        size = np.asarray(self._canvas, np.float64)
        low, high = head_only.min(axis=0), head_only.max(axis=0)
        rest_low, rest_high = self._rest_box
        shift = np.zeros(2)
        for axis in range(2):
            margin, zone = _EDGE_MARGIN * size[axis], _EDGE_ZONE * size[axis]
            limit = size[axis] - 1 - margin
            start = max(limit - zone, rest_high[axis])
            room = max(limit - start, 0.1 * zone)
            if high[axis] > start:
                shift[axis] += start + room * math.tanh((high[axis] - start) / room) - high[axis]
            start = min(margin + zone, rest_low[axis])
            room = max(start - margin, 0.1 * zone)
            if low[axis] < start:
                shift[axis] += start - room * math.tanh((start - low[axis]) / room) - low[axis]
        return shift

    def _shift_opening_down(self, expression: np.ndarray) -> None:
        """Give the upper lip's opening motion to the lower lip and the jaw (``upper_lip_hidden``).

        In the neutral driver's frame, in place on ``expression`` (478, 3): the upper lip's motion
        away from the mouth, along the face's up axis, is taken off the upper lip (fading out towards the
        nose) and added, downwards, to the lower lip and the chin below it, column by column across the
        mouth, so the lips' gap is the same.
        """
        assert self._lip_shift is not None
        up_axis, upper_weight, lower_weight, across, lip_across, lip_ids, reach = self._lip_shift
        rise = np.maximum(expression[lip_ids, :2] @ up_axis, 0.0)  # the upper inner lip's rise, (K,)
        order = np.argsort(lip_across)
        # Across the mouth: the rise over the lip, fading to nothing a little beyond the corners.
        xs = np.concatenate([[-reach], lip_across[order], [reach]])
        lift = np.interp(across, xs, np.concatenate([[0.0], rise[order], [0.0]])) * self._upper_hidden
        move = (upper_weight - lower_weight) * lift  # up-axis units: the upper lip down, the lower too
        expression[:, :2] -= move[:, None] * up_axis[None, :]


_LipShift = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]


def _lip_shift_weights(neutral: np.ndarray) -> _LipShift:
    """What ``MotionTransfer._shift_opening_down`` needs of the (478, 2) neutral driver: its face's up
    axis in the picture (2,), each landmark's weight on the upper lip and on the lower lip and jaw
    (478,), each landmark's place across the mouth (478,), the upper inner lip's (K,) and its indices,
    and how far across the shift reaches (face units)."""
    right = neutral[list(lm.RIGHT_EYE)].mean(axis=0)
    left = neutral[list(lm.LEFT_EYE)].mean(axis=0)
    unit = max(float(np.linalg.norm(left - right)), 1e-6)
    x_axis = (left - right) / unit
    up_axis = np.array([x_axis[1], -x_axis[0]])  # the picture's y points down; up is a quarter turn
    corners = neutral[[lm.LIPS_INNER[0], lm.LIPS_INNER[10]]]
    middle = corners.mean(axis=0)
    height = (neutral - middle) @ up_axis / unit  # (478,) above the mouth corners' line, face units
    across = (neutral - middle) @ x_axis / unit
    half = float(np.abs((corners - middle) @ x_axis).max()) / unit
    upper = (1.0 - _smooth(_UPPER_FULL, _UPPER_NONE, height)) * (height > -0.02)
    lower = _smooth(_LOWER_NONE, _LOWER_FULL, height) * (height < 0.02)
    lip_ids = np.array([lm.LIPS_INNER[0], *lm.LIPS_INNER[10:]])  # corner, upper inner lip, corner
    upper_only = np.zeros(len(neutral), bool)
    upper_only[[*lm.LIPS_INNER[11:], *lm.LIPS_OUTER[11:]]] = True
    lower_only = np.zeros(len(neutral), bool)
    lower_only[[*lm.LIPS_INNER[1:10], *lm.LIPS_OUTER[1:10]]] = True
    # The lips themselves belong to one side whatever their height (a smile lifts the corners).
    upper = np.where(upper_only, 1.0, np.where(lower_only, 0.0, upper))
    lower = np.where(lower_only, 1.0, np.where(upper_only, 0.0, lower))
    return up_axis, upper, lower, across, across[lip_ids], lip_ids, half + _CORNER_FADE


def _lid_gains(avatar_in_neutral: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """(478,) how much further each landmark's expression goes for the avatar's lids to close as the
    driver's do: on each eye, the avatar's lid gap over the driver's (both in the neutral driver's
    frame, at most 2.5 and at least 0.6 times), fading to 1 within a fifth of the eye distance of the
    lids; 1 elsewhere. Without it an avatar with eyes opened wider than the driver's only half
    closes them in a blink."""
    gains = np.ones(len(neutral))
    right = neutral[list(lm.RIGHT_EYE)].mean(axis=0)
    left = neutral[list(lm.LEFT_EYE)].mean(axis=0)
    unit = max(float(np.linalg.norm(left - right)), 1e-6)
    for ring, top, bottom in (
        (lm.RIGHT_EYE, lm.RIGHT_EYE_TOP, lm.RIGHT_EYE_BOTTOM),
        (lm.LEFT_EYE, lm.LEFT_EYE_TOP, lm.LEFT_EYE_BOTTOM),
    ):
        ratio = float(np.linalg.norm(avatar_in_neutral[top] - avatar_in_neutral[bottom])) / max(
            float(np.linalg.norm(neutral[top] - neutral[bottom])), 1e-6
        )
        ratio = float(np.clip(ratio, 0.6, 2.5))
        lids = neutral[list(ring)]
        distance = np.sqrt(((neutral[:, None, :] - lids[None]) ** 2).sum(axis=2)).min(axis=1) / unit
        weight = 1.0 - _smooth(0.03, 0.2, distance)
        gains += weight * (ratio - 1.0)
    return gains


def _smooth(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 at ``edge0``, 1 at ``edge1`` and beyond (either may be the larger), smooth between."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _depth(points: np.ndarray) -> np.ndarray:
    """(478,) float64 depth of (478, 2+) landmarks, from the rigid points' mean (0 without a z column)."""
    if points.shape[1] < 3:
        return np.zeros(len(points))
    z = points[:, 2].astype(np.float64)
    return z - z[_RIGID].mean()


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``outer`` after ``inner``."""
    out = outer[:, :2] @ inner
    out[:, 2] += outer[:, 2]
    return out
