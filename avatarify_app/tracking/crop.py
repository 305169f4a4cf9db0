"""Square face crops by affine transform, with the reverse transform to paste results back.

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


def face_crop_transform(box: Box, size: int, scale: float = 1.8, shift_y: float = -0.05) -> np.ndarray:
    """``crop_from_frame`` for a square crop around a face box, not rotated.

    The crop's side is ``scale`` times the box's longer side, centred on the box, moved up by
    ``shift_y`` of the side (negative = up) to take in hair and forehead.
    """
    x0, y0, x1, y1 = box
    side = scale * max(x1 - x0, y1 - y0, 1.0)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + shift_y * side
    k = size / side
    # Pixel centres: frame point (cx, cy) lands on the crop's centre ((size - 1) / 2).
    return np.array([[k, 0.0, (size - 1) / 2 - k * cx], [0.0, k, (size - 1) / 2 - k * cy]])


def crop_face(image: np.ndarray, box: Box, size: int, scale: float = 1.8, shift_y: float = -0.05) -> FaceCrop:
    """Cut a ``size`` x ``size`` square around ``box``; parts outside the image repeat its border."""
    crop_from_frame = face_crop_transform(box, size, scale, shift_y)
    interpolation = cv2.INTER_AREA if crop_from_frame[0, 0] < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        image, crop_from_frame, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
    )
    return FaceCrop(crop, crop_from_frame, invert_affine(crop_from_frame))


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
