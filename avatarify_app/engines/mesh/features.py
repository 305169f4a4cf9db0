"""Eye and mouth details the plain warp cannot do: a mouth cavity, and irises kept inside their lids."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatarify_app.tracking import landmarks as lm


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


@dataclass(frozen=True, slots=True)
class MouthTones:
    """Colours of one avatar's mouth, taken from its own picture (RGB float32 (3,) each).

    A grayscale avatar gives gray tones, so what is painted with them stays exactly gray.
    """

    lips: np.ndarray  # median of the lips between their outer and inner contours
    skin: np.ndarray  # median of both cheeks
    teeth: np.ndarray  # the skin, half desaturated and lightened to the face's bright tones

    @classmethod
    def of(cls, image: np.ndarray, points: np.ndarray) -> MouthTones:
        """``image``: the avatar canvas, RGB uint8; ``points``: (478, 2+) its landmarks."""
        h, w = image.shape[:2]
        lips_mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(lips_mask, [np.round(points[list(lm.LIPS_OUTER), :2]).astype(np.int32)], (255,))
        cv2.fillPoly(lips_mask, [np.round(points[list(lm.LIPS_INNER), :2]).astype(np.int32)], (0,))
        face_h = float(np.linalg.norm(points[lm.CHIN, :2] - points[lm.FOREHEAD_TOP, :2]))
        skin_mask = np.zeros((h, w), np.uint8)
        for cheek in _CHEEKS:
            centre = (int(round(points[cheek, 0])), int(round(points[cheek, 1])))
            cv2.circle(skin_mask, centre, max(int(0.05 * face_h), 2), (255,), -1)
        face_mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(face_mask, [np.round(points[list(lm.FACE_OVAL), :2]).astype(np.int32)], (255,))
        lips = _median(image, lips_mask)
        skin = _median(image, skin_mask)
        face = image[face_mask > 0].astype(np.float32)
        bright = float(np.percentile(face.mean(axis=1), 97)) if len(face) else 200.0
        grey = float(skin.mean())
        target = min(max(1.3 * grey, bright), 235.0)
        teeth = (0.5 * skin + 0.5 * grey) * (target / max(grey, 1.0))
        return cls(lips=lips, skin=skin, teeth=np.clip(teeth, 0, 255).astype(np.float32))


_CHEEKS = (50, 280)  # FaceMesh points in the middle of each cheek


def _median(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    picked = image[mask > 0]
    if not len(picked):
        picked = image.reshape(-1, 3)
    return np.median(picked, axis=0).astype(np.float32)


def smooth_ring(points: np.ndarray, samples: int = 4) -> np.ndarray:
    """A closed Catmull-Rom curve through the (N, 2) ring ``points``: (N * samples, 2) float32.

    It passes through every point, so a filled curve is the contour itself, without its corners.
    """
    segments = (np.roll(points, 1, axis=0), points, np.roll(points, -1, axis=0), np.roll(points, -2, axis=0))
    return _catmull_rom(*segments, samples).astype(np.float32)


def _catmull_rom(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, samples: int) -> np.ndarray:
    """``samples`` points of each Catmull-Rom segment from ``p1`` to ``p2`` (each (K, 2)), ``p2`` left out:
    (K * samples, 2)."""
    t = (np.arange(samples, dtype=np.float64) / samples)[None, :, None]
    curve = 0.5 * (
        2 * p1[:, None]
        + (p2 - p0)[:, None] * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3)[:, None] * t**2
        + (3 * p1 - p0 - 3 * p2 + p3)[:, None] * t**3
    )
    return curve.reshape(-1, 2)


# Extra opening (``mouth_opening`` beyond the avatar's) from which the lower teeth show.
_LOWER_TEETH_FROM = 0.08


def paint_mouth_cavity(
    image: np.ndarray,
    points: np.ndarray,
    tones: MouthTones,
    avatar_opening: float,
    upper_lip_hidden: float = 0.0,
) -> None:
    """Paint the inside of the inner-lip contour, in place, where the mouth opened beyond the avatar's.

    ``image``: RGB uint8 canvas; ``points``: (V, 2+) warped landmarks on it; ``tones``: the avatar's
    own colours; ``avatar_opening``: ``mouth_opening`` of the avatar at rest.

    The cavity fills exactly the (smoothed, anti-aliased) inner-lip contour: nothing is drawn outside
    the lips, and nothing while they are closed or pursed (it fades in over the first few percent of
    opening). Its inside is a dark shade of the lips, darker away from them; from a wider opening on,
    upper teeth in the avatar's own light tones show under the upper lip, following the mouth's axis,
    and when the mouth is wide open, a lower, darker row over the lower lip.
    Every colour is a per-channel scaling of the avatar's tones plus gray: a gray avatar stays gray.

    ``upper_lip_hidden`` (``upper_lip_cover``): under a moustache no upper lip edge shows between the
    hair and the cavity, both dark; the upper teeth then show from the first opening on, taller and
    whiter, so the opening reads as a mouth, not as more hair.
    """
    opening = lm.mouth_opening(points) - avatar_opening
    alpha = float(np.clip((opening - 0.01) / 0.03, 0.0, 1.0))
    if alpha <= 0.0:
        return
    ring = points[list(lm.LIPS_INNER), :2].astype(np.float64)
    curve = smooth_ring(ring)
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(curve.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(curve.max(axis=0)).astype(int) + 3, (w, h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4
    outline = _subpixel(curve - [x0, y0], shift)
    cv2.fillPoly(mask, [outline], (255,), cv2.LINE_AA, shift)
    # The mouth's own frame: u along the inner corners, from their middle.
    right, left = points[lm.LIPS_INNER[0], :2], points[lm.LIPS_INNER[10], :2]
    width = max(float(np.linalg.norm(left - right)), 1.0)
    axis_u = (left - right) / width
    # Darker away from the lips, on a scale of the mouth's width (a thin opening stays lip-dark).
    depth = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3).astype(np.float64)
    depth = np.sqrt(np.clip(depth / (0.15 * width), 0.0, 1.0))[..., None]
    rim = 0.5 * tones.lips + 0.05 * tones.skin
    deep = 0.16 * tones.lips + 0.03 * tones.skin
    colour = rim * (1 - depth) + deep * depth
    # Upper teeth under the upper lip, once the mouth is open enough: a band below the upper lip's
    # inner edge, tallest in the middle, gone at the corners, shaded darker towards them.
    gap = float(np.linalg.norm(points[lm.LOWER_INNER_LIP, :2] - points[lm.UPPER_INNER_LIP, :2]))
    hidden = float(np.clip(upper_lip_hidden, 0.0, 1.0))
    start = 0.035 - 0.025 * hidden
    show = float(np.clip((opening - start) / 0.04, 0.0, 1.0))
    teeth_tone = tones.teeth
    if hidden > 0.0:
        grey = max(float(tones.teeth.mean()), 1.0)
        whiter = (0.3 * tones.teeth + 0.7 * grey) * (max(grey, 215.0) / grey)
        teeth_tone = np.clip(tones.teeth * (1 - hidden) + whiter * hidden, 0, 255)
    if hidden > 0.0:
        # A tongue: the lower part of the cavity in a shade of the lips, rising from the lower lip.
        middle = (right + left) / 2
        axis_v = np.array([-axis_u[1], axis_u[0]])
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        v = (gx - middle[0]) * axis_v[0] + (gy - middle[1]) * axis_v[1]
        bottom = float((points[lm.LOWER_INNER_LIP, :2] - middle) @ axis_v)
        tongue = np.clip((v - (bottom - 0.45 * gap)) / max(0.25 * gap, 1.0), 0.0, 1.0) * hidden
        colour = (
            colour * (1 - tongue[..., None]) + (0.55 * tones.lips + 0.05 * tones.skin) * tongue[..., None]
        )
    if show > 0.0:
        middle = (right + left) / 2
        axis_v = np.array([-axis_u[1], axis_u[0]])  # across the mouth, down the face
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        u = (gx - middle[0]) * axis_u[0] + (gy - middle[1]) * axis_u[1]
        v = (gx - middle[0]) * axis_v[0] + (gy - middle[1]) * axis_v[1]
        upper = points[[lm.LIPS_INNER[0], *lm.LIPS_INNER[10:][::-1]], :2] - middle  # corner to corner
        lip_u, lip_v = upper @ axis_u, upper @ axis_v
        order = np.argsort(lip_u)
        top = np.interp(u, lip_u[order], lip_v[order])  # the upper lip's inner edge above each pixel
        reach = max(float(np.abs(lip_u).max()), 1.0)
        across = np.clip(np.abs(u) / reach, 0.0, 1.0)
        height = min((0.5 + 0.15 * hidden) * gap, (0.2 + 0.06 * hidden) * width) * (1 - across**3)
        teeth = np.clip(top + height - v + 0.5, 0.0, 1.0) * np.clip(v - top + 1.5, 0.0, 1.0) * show
        shade = (0.6 + 0.4 * (1 - across**2))[..., None]
        colour = colour * (1 - teeth[..., None]) + (teeth_tone * shade) * teeth[..., None]
        # Lower teeth over the lower lip's inner edge, once the mouth is wide open: a lower, darker
        # band. Without it a wide dark opening under a light band of upper teeth reads as closed lips
        # over a dark chin (FaceMesh puts the lips on the teeth, bench/mesh_quality.py).
        show_lower = float(np.clip((opening - _LOWER_TEETH_FROM) / 0.05, 0.0, 1.0))
        if show_lower > 0.0:
            lower = points[list(lm.LIPS_INNER[:11]), :2] - middle  # corner to corner, along the lower lip
            low_u, low_v = lower @ axis_u, lower @ axis_v
            order = np.argsort(low_u)
            edge = np.interp(u, low_u[order], low_v[order])  # the lower lip's inner edge under each pixel
            height = min(0.25 * gap, 0.15 * width) * (1 - across**2)
            teeth = np.clip(v - (edge - height) + 0.5, 0.0, 1.0) * np.clip(edge - v + 1.5, 0.0, 1.0)
            shade = (0.5 + 0.3 * (1 - across**2))[..., None]
            teeth *= show_lower
            colour = colour * (1 - teeth[..., None]) + (teeth_tone * shade) * teeth[..., None]
    weight = (mask.astype(np.float64) / 255.0 * alpha)[..., None]
    patch = image[y0:y1, x0:x1].astype(np.float64)
    image[y0:y1, x0:x1] = np.clip(patch * (1 - weight) + colour * weight + 0.5, 0, 255).astype(np.uint8)


# How closed (1 - lid gap over the avatar's at rest) an eye is when its lid starts to be painted, and
# when it is painted in full.
_LID_FROM, _LID_FULL = 0.3, 0.7


def paint_closed_eyelids(image: np.ndarray, points: np.ndarray, open_points: np.ndarray) -> None:
    """Paint a closing eye's lid, in place: the skin around the eye over the eye, and a lash line.

    A closing eye squeezes its whole inside (white, iris) into a thin band, which reads as a bright
    line where a lid should be, and stretches the upper lashes into a smear. From 30 % closed (lid gap
    against the same eye open) to 70 %, what the open eye covered (and what the closing one covers) is
    filled in from the skin around it (inpainted: brows, shadows and wrinkles carry on across, so a lid
    under glasses or beside a shadow is not one flat colour), and a lash line, dark and thickest in the
    middle, tapering to the corners, darkens along the seam where the lids meet: a closed eye, not a
    smudge (FaceMesh reads it closed, bench/mesh_quality.py). Colours come from the picture around
    the eye and scalings of it: a gray avatar stays gray. Only a closing eye costs anything (Telea
    inpainting, about 1 ms an eye at 512).
    ``points``: (V, 2+) warped landmarks on ``image``; ``open_points``: the avatar's landmarks moved
    by the head alone (eyes open, where the head is now).
    """
    h, w = image.shape[:2]
    for ring, top, bottom in (
        (lm.RIGHT_EYE, lm.RIGHT_EYE_TOP, lm.RIGHT_EYE_BOTTOM),
        (lm.LEFT_EYE, lm.LEFT_EYE_TOP, lm.LEFT_EYE_BOTTOM),
    ):
        gap = np.linalg.norm(points[top, :2] - points[bottom, :2])
        open_gap = max(float(np.linalg.norm(open_points[top, :2] - open_points[bottom, :2])), 1e-6)
        alpha = float(np.clip((1 - gap / open_gap - _LID_FROM) / (_LID_FULL - _LID_FROM), 0.0, 1.0))
        if alpha <= 0.0:
            continue
        poly = points[list(ring), :2].astype(np.float32)
        open_poly = open_points[list(ring), :2].astype(np.float32)
        both = np.concatenate([poly, open_poly])
        x0, y0 = np.floor(both.min(axis=0)).astype(int) - 6
        x1, y1 = np.ceil(both.max(axis=0)).astype(int) + 7
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        shift = 4
        closing = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(closing, [_subpixel(poly - [x0, y0], shift)], (255,), cv2.LINE_AA, shift)
        both_rings = closing.copy()
        cv2.fillPoly(both_rings, [_subpixel(open_poly - [x0, y0], shift)], (255,), cv2.LINE_AA, shift)
        hole = cv2.dilate(np.where(both_rings > 0, 255, 0).astype(np.uint8), np.ones((3, 3), np.uint8))
        patch = np.ascontiguousarray(image[y0:y1, x0:x1])
        skin = _skin_around(patch, closing)
        if skin is None:
            continue
        filled = cv2.inpaint(patch, hole, 3, cv2.INPAINT_TELEA).astype(np.float32)
        weight = (cv2.GaussianBlur(hole, (5, 5), 0).astype(np.float32) / 255.0 * alpha)[..., None]
        blended = patch.astype(np.float32) * (1 - weight) + filled * weight
        lash = _lash_line(poly - [x0, y0], (y1 - y0, x1 - x0)) * (0.85 * alpha)
        blended = blended * (1 - lash[..., None]) + (0.45 * skin) * lash[..., None]
        image[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _subpixel(poly: np.ndarray, shift: int) -> np.ndarray:
    """(N, 2) int32: ``poly`` in fixed point with ``shift`` fractional bits, for cv2's drawing."""
    return np.round(poly * (1 << shift)).astype(np.int32)


def _skin_around(patch: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """(3,) float32: the median colour of a band 2-4 px outside ``mask``; None when there is none."""
    outer = cv2.dilate(mask, np.ones((9, 9), np.uint8))
    around = np.bitwise_and(outer, np.bitwise_not(cv2.dilate(mask, np.ones((5, 5), np.uint8))))
    if not around.any():
        return None
    return np.median(patch[around > 0].reshape(-1, 3), axis=0).astype(np.float32)


def _lash_line(ring: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 0..1: the lash line of a closing eye, along the middle of its lids.

    ``ring``: (16, 2) an eye's contour (``lm.RIGHT_EYE`` order: the lower lid from the outer corner to
    the inner one, then the upper lid back), in the patch's pixels. The seam is the middle of each
    lower-lid point and the upper-lid point across from it, drawn as one tapered outline along the
    parabola closest to those middles, about a thirtieth of the eye's width thick in the middle,
    thinning to under a pixel at the corners.
    """
    lower = ring[:9]
    upper = np.concatenate([ring[:1], ring[9:][::-1], ring[8:9]])  # outer corner to inner corner
    seam = (lower + upper).astype(np.float64) / 2
    # The seam's points zigzag (the lids' points are not across from each other exactly): the line
    # is the parabola closest to them, in the eye's frame (u from corner to corner, v across).
    origin, corner = seam[0], seam[-1]
    width = float(np.linalg.norm(corner - origin))
    axis_u = (corner - origin) / max(width, 1e-9)
    axis_v = np.array([-axis_u[1], axis_u[0]])
    u, v = (seam - origin) @ axis_u, (seam - origin) @ axis_v
    along = np.linspace(0.0, width, 33)
    across = np.polyval(np.polyfit(u, v, 2), along)
    dense = origin + along[:, None] * axis_u + across[:, None] * axis_v
    place = np.linspace(-1.0, 1.0, len(dense))  # corner to corner
    half = np.maximum(max(width / 30, 1.0) * (1 - place**2), 0.7)[:, None] / 2
    tangent = np.gradient(dense, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    outline = np.concatenate([dense + normal * half, (dense - normal * half)[::-1]])
    shift = 4
    line = np.zeros(shape, np.uint8)
    cv2.fillPoly(line, [_subpixel(outline, shift)], (255,), cv2.LINE_AA, shift)
    return cv2.GaussianBlur(line.astype(np.float32) / 255.0, (0, 0), 0.6)


# FaceMesh points: the upper lip's outer contour from corner to corner, and a line under the nose
# (the top of the skin between the nose and the lip), from the right cheek to the left one.
_UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
_UNDER_NOSE = (92, 165, 98, 97, 2, 326, 327, 391, 322)


def upper_lip_cover(image: np.ndarray, points: np.ndarray) -> float:
    """How much the avatar's upper lip is hidden by hair (a moustache): 0 (bare) to 1.

    The skin between the nose and the upper lip is compared with the cheeks: a moustache is much
    darker than the skin around it (a shadow under the nose is not). A light moustache on dark skin
    is not told apart. ``image``: RGB uint8 canvas; ``points``: (478, 2+) its landmarks.
    """
    h, w = image.shape[:2]
    gray = image.astype(np.float32).mean(axis=2)
    lip = points[list(_UPPER_OUTER_LIP), :2].astype(np.float64)
    nose = points[list(_UNDER_NOSE), :2].astype(np.float64)
    region = np.zeros((h, w), np.uint8)
    cv2.fillPoly(region, [np.round(np.concatenate([lip, nose[::-1]])).astype(np.int32)], (255,))
    face_h = float(np.linalg.norm(points[lm.CHIN, :2] - points[lm.FOREHEAD_TOP, :2]))
    cheeks = np.zeros((h, w), np.uint8)
    for cheek in _CHEEKS:
        centre = (int(round(points[cheek, 0])), int(round(points[cheek, 1])))
        cv2.circle(cheeks, centre, max(int(0.05 * face_h), 2), (255,), -1)
    if not region.any() or not cheeks.any():
        return 0.0
    darker = 1.0 - float(np.median(gray[region > 0])) / max(float(np.median(gray[cheeks > 0])), 1.0)
    return float(np.clip((darker - _BARE_DARKNESS) / _HAIR_DARKNESS, 0.0, 1.0))


# Darker than the cheeks by this share: still bare skin (shade under the nose, a painting's glaze)...
_BARE_DARKNESS = 0.25
# ...and by this much more, all hair.
_HAIR_DARKNESS = 0.15
