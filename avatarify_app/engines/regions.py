"""Region strengths: how much of the eyes, the mouth and the head the avatar copies (both engines).

The driver's motion is split in two. The *head* motion is a similarity (position, size, roll) of the
rigid landmarks; ``partial_similarity`` scales it. What is left is *expression*; soft weights say how much
each point belongs to the eyes (lids, brows, irises) and to the mouth (lips, jaw, chin, lower cheeks),
and ``expression_gains`` turns them into one gain per point. Points of neither region (nose, forehead,
temples) follow the overall strength alone. The weights fall off smoothly with the distance from each
region, so a scaled region blends into its unscaled surroundings without a seam.

Convention: pixel coordinates (x, y); the weights depend only on where a point sits in the face's own
frame (origin between the eyes, x along the eye line, unit = the distance between the eye centres), so
they are the same for any face size, position or roll.
"""

from __future__ import annotations

import math

import numpy as np

from avatarify_app.tracking import landmarks as lm

RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
EYE_CORE = (
    *lm.RIGHT_EYE, *lm.LEFT_EYE, lm.RIGHT_IRIS_CENTER, *lm.RIGHT_IRIS_RING, lm.LEFT_IRIS_CENTER,
    *lm.LEFT_IRIS_RING, *RIGHT_BROW, *LEFT_BROW,
)  # fmt: skip
MOUTH_CORE = (*lm.LIPS_OUTER, *lm.LIPS_INNER)
NOSE_BOTTOM = 2  # just under the nose tip (subnasale)
MOUTH_CORNERS = (61, 291)

# Fall-offs in face units (eye-centre distances): full weight up to NEAR, none beyond FAR.
EYE_NEAR, EYE_FAR = 0.05, 0.55
MOUTH_NEAR, MOUTH_FAR = 0.05, 0.45
JAW_TOP, JAW_FULL = -0.15, 0.2  # the jaw's weight rises from this far above the nose's bottom to this
# far below the mouth corners
FACE_NEAR, FACE_FAR = 0.2, 0.5  # the jaw's weight ends this far off the face (neck, background)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin (2,), unit x axis (2,) and unit length of the face frame of (478, 2+) ``landmarks``."""
    points = landmarks[:, :2].astype(np.float64)
    right = points[list(lm.RIGHT_EYE)].mean(axis=0)
    left = points[list(lm.LEFT_EYE)].mean(axis=0)
    axis = left - right
    unit = max(float(np.hypot(*axis)), 1e-6)
    return (right + left) / 2, axis / unit, unit


def region_weights(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """How much each of ``points`` belongs to the eyes and to the mouth of the face ``landmarks``.

    Eyes: 1 on the lids, irises and brows, falling to 0 half the eye distance away. Mouth: 1 on the
    lips and on the face below the mouth corners (jaw, chin), falling to 0 towards the nose and off
    the face. Where both reach a point their sum is kept at most 1.

    Shape:
        points (N, 2+) and landmarks (478, 2+) in the same pixels -> (N, 2) float64 [eyes, mouth]
    """
    origin, axis, unit = _face_frame(landmarks)
    rotation = np.array([axis, [-axis[1], axis[0]]])  # rows: the face's x and y axes in pixels

    def to_face(p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, np.float64)[:, :2] - origin) @ rotation.T / unit

    q = to_face(points)
    face = to_face(landmarks)

    def distance_to(core: tuple[int, ...] | range) -> np.ndarray:
        diff = q[:, None, :] - face[list(core)][None, :, :]
        return np.sqrt((diff**2).sum(axis=2)).min(axis=1)

    eyes = 1.0 - _smoothstep(EYE_NEAR, EYE_FAR, distance_to(EYE_CORE))
    near_lips = 1.0 - _smoothstep(MOUTH_NEAR, MOUTH_FAR, distance_to(MOUTH_CORE))
    nose_y = float(face[NOSE_BOTTOM, 1])
    corners_y = float(face[list(MOUTH_CORNERS), 1].mean())
    below = _smoothstep(nose_y + JAW_TOP, max(corners_y + JAW_FULL, nose_y + JAW_TOP + 1e-3), q[:, 1])
    on_face = 1.0 - _smoothstep(FACE_NEAR, FACE_FAR, distance_to(range(lm.NUM_LANDMARKS)))
    mouth = np.maximum(near_lips, below * on_face)
    weights = np.stack([eyes, mouth], axis=1)
    total = weights.sum(axis=1, keepdims=True)
    return np.where(total > 1.0, weights / np.maximum(total, 1e-12), weights)


def expression_gains(weights: np.ndarray, strength: float, eyes: float, mouth: float) -> np.ndarray:
    """The gain of each point's expression motion: ``strength`` times its regions' strengths, blended.

    ``weights``: (N, 2) from ``region_weights``. A point fully in the eyes gets ``strength * eyes``, one
    of neither region ``strength``. With ``eyes == mouth == 1`` every gain is exactly ``strength``.

    Shape:
        returns (N,) float64
    """
    if eyes == 1.0 and mouth == 1.0:
        return np.full(len(weights), float(strength))
    return strength * (1.0 + weights[:, 0] * (eyes - 1.0) + weights[:, 1] * (mouth - 1.0))


def partial_similarity(current_from_neutral: np.ndarray, centre: np.ndarray, amount: float) -> np.ndarray:
    """``amount`` of a similarity's motion: 0 = none (identity), 1 = all of it, 2 = twice as much.

    The 2x3 similarity is taken as a scale, a rotation and the displacement of ``centre`` (the neutral
    face's centre, in pixels); the scale grows geometrically, the angle and the displacement linearly.
    """
    if amount == 1.0:
        return current_from_neutral
    a, b = current_from_neutral[0, 0], current_from_neutral[1, 0]
    scale = max(math.hypot(a, b), 1e-12) ** amount
    angle = math.atan2(b, a) * amount
    linear = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = np.asarray(centre, np.float64)
    moved = current_from_neutral[:, :2] @ centre + current_from_neutral[:, 2]
    target = centre + amount * (moved - centre)
    return np.concatenate([linear, (target - linear @ centre)[:, None]], axis=1)
