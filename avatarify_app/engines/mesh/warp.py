"""Piecewise-affine image warp over a triangle mesh."""

from __future__ import annotations

import functools

import cv2
import numpy as np


def triangle_affines(dst_points: np.ndarray, src_points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """For each triangle, the 2x3 matrix ``src_from_dst`` mapping its destination corners to its source ones.

    Shape:
        dst_points, src_points: (V, 2) float pixels; triangles: (T, 3) int
        returns (T, 2, 3) float64; degenerate destination triangles get the identity (they cover no
        pixel anyway).
    """
    dst = dst_points[triangles][..., :2].astype(np.float64)  # (T, 3, 2)
    src = src_points[triangles][..., :2].astype(np.float64)
    # Edge vectors as 2x2 columns: linear = src_edges @ inv(dst_edges), in closed form (a batched
    # np.linalg.solve costs ~9 ms for 950 triangles here, this ~0.1 ms).
    d1, d2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    s1, s2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    ok = np.abs(det) > 1e-9
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    # inv(dst_edges) = [[d2y, -d2x], [-d1y, d1x]] / det
    affines = np.zeros((len(triangles), 2, 3))
    for row in range(2):
        affines[:, row, 0] = (s1[:, row] * d2[:, 1] - s2[:, row] * d1[:, 1]) * inv_det
        affines[:, row, 1] = (-s1[:, row] * d2[:, 0] + s2[:, row] * d1[:, 0]) * inv_det
    affines[~ok, 0, 0] = affines[~ok, 1, 1] = 1.0
    affines[:, :, 2] = src[:, 0] - np.einsum("tij,tj->ti", affines[:, :, :2], dst[:, 0])
    affines[~ok, :, 2] = 0.0
    return affines


@functools.lru_cache(maxsize=4)
def _coarse_centres(roi: tuple[int, int, int, int], sw: int, sh: int) -> tuple[np.ndarray, np.ndarray]:
    """Canvas (x, y) of the centres of an (sh, sw) grid laid over ``roi``: read-only float32 arrays.

    The warp area is fixed per avatar, so this is built once instead of every frame.
    """
    x0, y0, x1, y1 = roi
    kx, ky = sw / (x1 - x0), sh / (y1 - y0)
    gy, gx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    fx = (gx + 0.5) / kx - 0.5 + x0  # canvas pixel x lands on (x - x0 + 0.5) * kx - 0.5
    fy = (gy + 0.5) / ky - 0.5 + y0
    fx.setflags(write=False)
    fy.setflags(write=False)
    return fx, fy


def backward_map(
    dst_points: np.ndarray,
    src_points: np.ndarray,
    triangles: np.ndarray,
    roi: tuple[int, int, int, int],
    scale: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates for every destination pixel of ``roi``, for ``cv2.remap``.

    The map is computed on a grid ``scale`` times as fine and resized up: it is piecewise linear and
    continuous, so the error is a fraction of a pixel near triangle edges (half resolution cuts the
    cost 4x: bench/mesh_engine.py). Pixels outside every triangle map to themselves.

    Convention: pixel centres at integer (x, y), origin top-left of the whole canvas; ``roi`` is
    (x0, y0, x1, y1) with x1, y1 exclusive.
    Shape: returns two float32 arrays (y1 - y0, x1 - x0).
    """
    x0, y0, x1, y1 = roi
    w, h = x1 - x0, y1 - y0
    sw, sh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
    kx, ky = sw / w, sh / h
    # Destination triangles on the coarse grid: canvas pixel x lands on (x - x0 + 0.5) * k - 0.5.
    coarse = np.empty_like(dst_points, dtype=np.float64)
    coarse[:, 0] = (dst_points[:, 0] - x0 + 0.5) * kx - 0.5
    coarse[:, 1] = (dst_points[:, 1] - y0 + 0.5) * ky - 0.5
    ids = np.full((sh, sw), -1, dtype=np.int32)
    shift = 4  # sub-pixel bits for fillConvexPoly
    corners = np.round(coarse[triangles] * (1 << shift)).astype(np.int32)  # (T, 3, 2)
    for t, tri in enumerate(corners):
        cv2.fillConvexPoly(ids, tri, (t,), lineType=cv2.LINE_8, shift=shift)

    fx, fy = _coarse_centres(roi, sw, sh)
    affines = triangle_affines(dst_points, src_points, triangles).astype(np.float32)
    inside = ids >= 0
    m = affines[ids[inside]]  # (N, 2, 3)
    px, py = fx[inside], fy[inside]
    # Work with displacements: they are 0 where nothing moves, so the identity stays exact after resizing.
    dx: np.ndarray = np.zeros((sh, sw), np.float32)
    dy: np.ndarray = np.zeros((sh, sw), np.float32)
    dx[inside] = m[:, 0, 0] * px + m[:, 0, 1] * py + m[:, 0, 2] - px
    dy[inside] = m[:, 1, 0] * px + m[:, 1, 1] * py + m[:, 1, 2] - py
    if (sw, sh) != (w, h):
        dx = cv2.resize(dx, (w, h), interpolation=cv2.INTER_LINEAR)
        dy = cv2.resize(dy, (w, h), interpolation=cv2.INTER_LINEAR)
    map_x = dx + np.arange(x0, x1, dtype=np.float32)[None, :]
    map_y = dy + np.arange(y0, y1, dtype=np.float32)[:, None]
    return map_x, map_y


def warp_mesh(
    image: np.ndarray,
    src_points: np.ndarray,
    dst_points: np.ndarray,
    triangles: np.ndarray,
    roi: tuple[int, int, int, int],
    scale: float = 0.5,
) -> np.ndarray:
    """Move ``image``'s mesh from ``src_points`` to ``dst_points``; pixels outside ``roi`` are copied.

    ``image``: RGB uint8 (H, W, 3); points (V, 2) canvas pixels. Returns a new image.
    """
    map_x, map_y = backward_map(dst_points, src_points, triangles, roi, scale)
    x0, y0, x1, y1 = roi
    out = image.copy()
    out[y0:y1, x0:x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out
