"""Eye and mouth details the plain warp cannot do: a mouth cavity, and irises kept inside their lids."""

from __future__ import annotations

import cv2
import numpy as np

from avatarify_app.tracking import landmarks as lm

_CAVITY_RGB = np.array([52, 18, 20], np.float32)  # a dark, warm mouth interior
_CAVITY_DEEP_RGB = np.array([14, 4, 6], np.float32)
_TEETH_RGB = np.array([226, 218, 200], np.float32)


def keep_irises_in_eyes(points: np.ndarray) -> np.ndarray:
    """Clamp each iris centre between its lids, so a blink closes the eye instead of folding the mesh.

    ``points``: (V, 2) float, modified copy returned.
    """
    out = points.copy()
    for centre, top, bottom in (
        (lm.RIGHT_IRIS_CENTER, lm.RIGHT_EYE_TOP, lm.RIGHT_EYE_BOTTOM),
        (lm.LEFT_IRIS_CENTER, lm.LEFT_EYE_TOP, lm.LEFT_EYE_BOTTOM),
    ):
        lo, hi = sorted((out[top, 1], out[bottom, 1]))
        mid = (lo + hi) / 2
        half = (hi - lo) / 2 * 0.6
        out[centre, 1] = np.clip(out[centre, 1], mid - half, mid + half)
    return out


def paint_mouth_cavity(image: np.ndarray, points: np.ndarray, avatar_opening: float) -> None:
    """Darken the inside of the inner-lip contour, in place, where the mouth opened beyond the avatar's.

    ``image``: RGB uint8 canvas; ``points``: (V, 2+) warped landmarks on it; ``avatar_opening``:
    ``mouth_opening`` of the avatar at rest. The cavity fades in over the first few percent of extra
    opening, so a closed mouth stays untouched, and is darker towards its middle.
    """
    opening = lm.mouth_opening(points)
    alpha = float(np.clip((opening - avatar_opening - 0.01) / 0.04, 0.0, 1.0))
    if alpha <= 0.0:
        return
    poly = points[list(lm.LIPS_INNER), :2].astype(np.float32)
    x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 3
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4
    cv2.fillPoly(
        mask, [np.round((poly - [x0, y0]) * (1 << shift)).astype(np.int32)], (255,), cv2.LINE_AA, shift
    )
    weight = (mask.astype(np.float32) / 255.0 * alpha)[..., None]
    # Darker in the middle of the opening: distance from the lips, normalised.
    depth = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
    depth = (depth / max(float(depth.max()), 1.0))[..., None]
    colour = _CAVITY_RGB * (1 - depth) + _CAVITY_DEEP_RGB * depth
    # A hint of upper teeth under the upper lip: a mouth reads as open, to people and to FaceMesh.
    upper = points[lm.UPPER_INNER_LIP, 1] - y0
    gap = max(points[lm.LOWER_INNER_LIP, 1] - points[lm.UPPER_INNER_LIP, 1], 1.0)
    rows = np.arange(y1 - y0, dtype=np.float32)[:, None, None]
    teeth = np.clip(1.0 - (rows - upper) / (0.22 * gap), 0.0, 1.0) * (depth > 0.05)
    colour = colour * (1 - teeth) + _TEETH_RGB * teeth
    patch = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(patch * (1 - weight) + colour * weight + 0.5, 0, 255).astype(np.uint8)


def paint_closed_eyelids(image: np.ndarray, points: np.ndarray, rest: np.ndarray) -> None:
    """Cover nearly closed eyes with eyelid skin, in place.

    A closing eye squeezes its whole inside (white, iris) into a thin band, which reads as a bright
    line where a lid should be. From half closed (lid gap against the avatar's at rest) to 90 % closed
    the band fades into the colour of the skin around the eye.
    ``points``: (V, 2+) warped landmarks on ``image``; ``rest``: the avatar's landmarks at rest.
    """
    h, w = image.shape[:2]
    for ring, top, bottom in (
        (lm.RIGHT_EYE, lm.RIGHT_EYE_TOP, lm.RIGHT_EYE_BOTTOM),
        (lm.LEFT_EYE, lm.LEFT_EYE_TOP, lm.LEFT_EYE_BOTTOM),
    ):
        gap = np.linalg.norm(points[top, :2] - points[bottom, :2])
        rest_gap = max(float(np.linalg.norm(rest[top, :2] - rest[bottom, :2])), 1e-6)
        alpha = float(np.clip((1 - gap / rest_gap - 0.5) / 0.4, 0.0, 1.0))
        if alpha <= 0.0:
            continue
        poly = points[list(ring), :2].astype(np.float32)
        x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 6
        x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 7
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        shift = 4
        cv2.fillPoly(
            mask, [np.round((poly - [x0, y0]) * (1 << shift)).astype(np.int32)], (255,), cv2.LINE_AA, shift
        )
        core = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        around = np.bitwise_and(
            cv2.dilate(mask, np.ones((9, 9), np.uint8)),
            np.bitwise_not(cv2.dilate(mask, np.ones((5, 5), np.uint8))),
        )
        patch = image[y0:y1, x0:x1]
        if not around.any():
            continue
        skin = np.median(patch[around > 0].reshape(-1, 3), axis=0).astype(np.float32)
        weight = (cv2.GaussianBlur(core, (3, 3), 0).astype(np.float32) / 255.0 * alpha)[..., None]
        blended = patch.astype(np.float32) * (1 - weight) + skin * weight
        image[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
