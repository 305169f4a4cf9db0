"""Square face crops by affine transform, with the reverse transform to paste results back.

Where a crop reaches past the picture, the missing part is a blurred continuation of it, feathered in
(``fill_outside``): border replication would show as smears.

Convention: 2x3 float64 matrices map pixel (x, y) of one image to pixel (x, y) of another, named
``dst_from_src`` (``crop_from_frame`` maps frame pixels to crop pixels), as ``cv2.warpAffine`` takes them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class FaceCrop:
    """A square crop of a frame. ``image``: RGB uint8 (size, size, 3)."""

    image: np.ndarray
    crop_from_frame: np.ndarray  # (2, 3)
    frame_from_crop: np.ndarray  # (2, 3)


def invert_affine(dst_from_src: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix (``src_from_dst``)."""
    return cv2.invertAffineTransform(np.asarray(dst_from_src, dtype=np.float64))


def transform_points(dst_from_src: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2+) points; extra columns (z) are scaled by the matrix scale."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[:, :2] = points[:, :2] @ dst_from_src[:, :2].T + dst_from_src[:, 2]
    if out.shape[1] > 2:
        out[:, 2:] *= np.sqrt(abs(np.linalg.det(dst_from_src[:, :2])))
    return out.astype(points.dtype)


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


def face_crop_transform(
    box: Box,
    size: int,
    scale: float = 1.8,
    shift_y: float = -0.05,
    inside: tuple[int, int] | None = None,
    min_scale: float = 1.3,
) -> np.ndarray:
    """``crop_from_frame`` for a square crop around a face box, not rotated.

    The crop's side is ``scale`` times the box's longer side, centred on the box, moved up by
    ``shift_y`` of the side (negative = up) to take in hair and forehead.

    ``inside``: the picture's (width, height), to keep the crop inside it where the picture allows:
    the square is shifted (the face may move off centre, never closer than a margin to the crop's
    edge), and where the picture is too small for it, shrunk down to ``min_scale`` times the box. What
    still reaches past the picture is left to ``crop_face``'s fill.
    """
    x0, y0, x1, y1 = box
    longest = max(x1 - x0, y1 - y0, 1.0)
    side = scale * longest
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + shift_y * side
    if inside is not None:
        side = float(np.clip(min(inside), min(min_scale, scale) * longest, side))
        margin = (min(min_scale, scale) - 1) / 2 * longest
        centre = []
        for c, lo, hi, extent in ((cx, x0, x1, inside[0]), (cy, y0, y1, inside[1])):
            half = side / 2
            # Inside the picture, whose pixels span -0.5 to extent - 0.5 (centres on integers).
            c = float(np.clip(c, min(half, extent - half), max(half, extent - half))) - 0.5
            c = float(np.clip(c, hi + margin - half, lo - margin + half))  # the face keeps its margin
            centre.append(c)
        cx, cy = centre
    k = size / side
    # Pixel centres: frame point (cx, cy) lands on the crop's centre ((size - 1) / 2).
    return np.array([[k, 0.0, (size - 1) / 2 - k * cx], [0.0, k, (size - 1) / 2 - k * cy]])


def crop_face(
    image: np.ndarray,
    box: Box,
    size: int,
    scale: float = 1.8,
    shift_y: float = -0.05,
    keep_inside: bool = False,
) -> FaceCrop:
    """Cut a ``size`` x ``size`` square around ``box``.

    ``keep_inside``: prefer a square inside the picture (shifted, then shrunk down to the face's own
    margin: ``face_crop_transform``), for avatars; a driver's crop keeps its geometry so that motion
    in it stays the face's own. Parts past the picture are filled by ``fill_outside``, never by
    repeating the border.
    """
    h, w = image.shape[:2]
    crop_from_frame = face_crop_transform(box, size, scale, shift_y, inside=(w, h) if keep_inside else None)
    interpolation = cv2.INTER_AREA if crop_from_frame[0, 0] < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        image, crop_from_frame, (size, size), flags=interpolation, borderMode=cv2.BORDER_REFLECT_101
    )
    crop = fill_outside(crop, _picture_in_crop(crop_from_frame, (w, h)))
    return FaceCrop(crop, crop_from_frame, invert_affine(crop_from_frame))


def _picture_in_crop(crop_from_frame: np.ndarray, image_size: tuple[int, int]) -> tuple[float, ...]:
    """The picture's (x0, y0, x1, y1) edges in crop pixels (the crop is not rotated)."""
    w, h = image_size
    (ax0, ay0), (ax1, ay1) = transform_points(crop_from_frame, np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]]))
    return ax0, ay0, ax1, ay1


def fill_outside(crop: np.ndarray, picture: tuple[float, ...], feather: float = 0.04) -> np.ndarray:
    """Replace what lies outside ``picture`` (x0, y0, x1, y1 in crop pixels) with a blurred continuation.

    ``crop`` must hold the picture mirrored at its edges outside it (``cv2.BORDER_REFLECT_101``): that
    continuation is blurred, lightly next to the picture and heavily far from it, so neither a mirrored
    feature nor a smear shows; the blend reaches ``feather`` of the side into the picture so no seam
    shows at its edge. A crop inside the picture is returned as it is. RGB uint8 (S, S, 3) in and out.
    """
    size = crop.shape[0]
    x0, y0, x1, y1 = picture
    if x0 <= 0 and y0 <= 0 and x1 >= crop.shape[1] - 1 and y1 >= size - 1:
        return crop
    xs = np.arange(crop.shape[1], dtype=np.float32)
    ys = np.arange(size, dtype=np.float32)
    # Signed distance to the picture's edge along each axis: positive inside, negative outside.
    inside = np.minimum(np.minimum(xs - x0, x1 - xs)[None, :], np.minimum(ys - y0, y1 - ys)[:, None])
    width = max(feather * size, 2.0)
    sharp = _smoothstep(inside / width)
    far = _smoothstep(-inside / (6 * width))
    near_blur = cv2.GaussianBlur(crop, (0, 0), width)
    small = cv2.resize(crop, (max(size // 16, 1), max(crop.shape[0] // 16, 1)), interpolation=cv2.INTER_AREA)
    far_blur = cv2.resize(
        cv2.GaussianBlur(small, (0, 0), 2.0), (crop.shape[1], size), interpolation=cv2.INTER_LINEAR
    )
    blurred = near_blur * (1 - far[..., None]) + far_blur * far[..., None]
    out = crop * sharp[..., None] + blurred * (1 - sharp[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@functools.lru_cache(maxsize=8)
def feather_mask(size: int, margin: float = 0.12) -> np.ndarray:
    """A (size, size) float32 mask, 1 in the middle, falling smoothly to 0 within ``margin`` of each edge.

    Cached (pasting back runs every frame); the array is read-only.
    """
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / max(margin * size, 1.0), 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible band at the ramp's ends
    mask = np.outer(ramp, ramp).astype(np.float32)
    mask.setflags(write=False)
    return mask


def paste_back(
    frame: np.ndarray, crop: np.ndarray, frame_from_crop: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Blend ``crop`` (RGB uint8, (S, S, 3)) into a copy of ``frame`` through ``frame_from_crop``.

    ``mask``: (S, S) float32 in [0, 1], the weight of the crop. Pixels the crop does not reach stay
    byte-identical.
    """
    h, w = frame.shape[:2]
    warped = cv2.warpAffine(crop, frame_from_crop, (w, h), flags=cv2.INTER_LINEAR)
    weight = cv2.warpAffine(mask, frame_from_crop, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    out = frame.copy()
    touched = weight[..., 0] > 0
    blended = warped.astype(np.float32) * weight + frame.astype(np.float32) * (1 - weight)
    out[touched] = np.clip(blended[touched] + 0.5, 0, 255).astype(np.uint8)
    return out
