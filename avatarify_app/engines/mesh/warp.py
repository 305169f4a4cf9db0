"""Piecewise-affine image warp over a triangle mesh."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np


def displacement_planes(dst_points: np.ndarray, src_points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle, the displacement ``source - destination`` of its affine map, as a plane.

    Points are complex numbers ``x + iy`` here: the displacement at canvas (x, y) inside triangle t is
    ``planes[t, 0] * x + planes[t, 1] * y + planes[t, 2]``. The affine map taking the destination
    corners to the source ones is ``z -> a z + b conj(z) + c``, solved in closed form (a batched
    ``np.linalg.solve`` cost ~9 ms for 950 triangles). Degenerate destination triangles get no
    displacement (they cover no pixel anyway).

    Shape: dst_points, src_points (V, 2+) float pixels; triangles (T, 3) int; returns (T, 3) complex128.
    """
    dst = (dst_points[:, 0] + 1j * dst_points[:, 1])[triangles]  # (T, 3)
    src = (src_points[:, 0] + 1j * src_points[:, 1])[triangles]
    d1, d2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    s1, s2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = d1 * d2.conj() - d1.conj() * d2  # 2i times minus the real determinant of the edges
    ok = np.abs(det) > 2e-9
    det[~ok] = 1.0
    a = (s1 * d2.conj() - s2 * d1.conj()) / det
    b = (d1 * s2 - d2 * s1) / det
    planes = np.stack(
        [a + b - 1.0, 1j * (a - b - 1.0), src[:, 0] - a * dst[:, 0] - b * dst[:, 0].conj()], axis=1
    )
    planes[~ok] = 0.0
    return planes


@dataclass(frozen=True, slots=True)
class Spans:
    """Runs of pixels inside triangles, one per row of each triangle that covers any pixel.

    Attributes (all (R,) intp, in triangle order): ``triangle``, the triangle's index; ``row``, the
    pixel row; ``start``, the first pixel column; ``count``, how many pixels the run covers (>= 1).
    """

    triangle: np.ndarray
    row: np.ndarray
    start: np.ndarray
    count: np.ndarray


def triangle_spans(corners: np.ndarray, shape: tuple[int, int]) -> Spans:
    """Where each triangle lies on an (H, W) pixel grid, as horizontal runs of pixels.

    ``corners``: (T, 3, 2) float (x, y), pixel centres at integer coordinates; ``shape``: (H, W).
    A pixel belongs to a triangle when its centre is inside it. Centres on an edge follow a half-open
    rule (lower bounds in x and y included, upper ones not), so a mesh without folds gives every pixel
    to exactly one triangle, with no gap along shared edges. Flat triangles cover nothing.

    All triangles at once, in a few array operations: one ``cv2.fillConvexPoly`` call per triangle
    cost ~3 ms a frame for FaceMesh's ~950, in the Python loop as much as in OpenCV.
    """
    h, w = shape
    pts = np.asarray(corners, np.float64)
    # Corners sorted top to bottom: (T,) each.
    order = np.argsort(pts[..., 1], axis=1, kind="stable") + 3 * np.arange(len(pts))[:, None]
    (tx, mx, bx), (ty, my, by) = pts[..., 0].ravel()[order].T, pts[..., 1].ravel()[order].T
    area = (mx - tx) * (by - ty) - (bx - tx) * (my - ty)
    # Each triangle in two pieces, above and below its middle corner (2t and 2t + 1); a piece's rows
    # have their centre in [its top, its bottom) and lie between the long edge (top to bottom) and a
    # short one. An edge's crossing is computed from its upper end, alike in both triangles along it.
    first = np.clip(np.ceil(_pieces(ty, my)), 0, h).astype(np.intp)
    stop = np.clip(np.ceil(_pieces(my, by)), 0, h).astype(np.intp)
    rows = np.where(np.repeat(area, 2) != 0, np.maximum(stop - first, 0), 0)
    piece = np.repeat(np.arange(len(rows)), rows)  # (R,) one per row of each piece
    row = first[piece] + np.arange(len(piece)) - np.repeat(np.cumsum(rows) - rows, rows)
    crossings = []
    long_edge = (np.repeat(tx, 2), np.repeat(ty, 2), np.repeat(bx, 2), np.repeat(by, 2))
    short_edge = (_pieces(tx, mx), _pieces(ty, my), _pieces(mx, bx), _pieces(my, by))
    for x0, y0, x1, y1 in (long_edge, short_edge):
        slope = np.divide(x1 - x0, y1 - y0, out=np.zeros_like(x0), where=y1 != y0)
        crossings.append(np.take(x0, piece) + (row - np.take(y0, piece)) * np.take(slope, piece))
    start = np.clip(np.ceil(np.minimum(*crossings)), 0, w).astype(np.intp)
    count = np.clip(np.ceil(np.maximum(*crossings)), 0, w).astype(np.intp) - start
    keep = count > 0
    triangle = piece // 2
    return Spans(triangle[keep], row[keep], start[keep], count[keep])


def _pieces(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(2T,) the values of each triangle's upper and lower piece, interleaved."""
    return np.stack([upper, lower], axis=1).reshape(-1)


@functools.lru_cache(maxsize=4)
def _identity_map(roi: tuple[int, int, int, int]) -> np.ndarray:
    """(y1 - y0, x1 - x0, 2) float32: the canvas (x, y) of each pixel of ``roi``; read-only.

    The warp area is fixed per avatar, so this is built once instead of every frame.
    """
    x0, y0, x1, y1 = roi
    grid = np.empty((y1 - y0, x1 - x0, 2), np.float32)
    grid[..., 0] = np.arange(x0, x1, dtype=np.float32)[None, :]
    grid[..., 1] = np.arange(y0, y1, dtype=np.float32)[:, None]
    grid.setflags(write=False)
    return grid


def backward_map(
    dst_points: np.ndarray,
    src_points: np.ndarray,
    triangles: np.ndarray,
    roi: tuple[int, int, int, int],
    scale: float = 0.5,
) -> np.ndarray:
    """Source coordinates for every destination pixel of ``roi``, for ``cv2.remap``.

    The map is computed on a grid ``scale`` times as fine and resized up: it is piecewise linear and
    continuous, so the error is a fraction of a pixel near triangle edges (half resolution cuts the
    cost 4x: bench/mesh_engine.py). Pixels outside every triangle map to themselves.

    Convention: pixel centres at integer (x, y), origin top-left of the whole canvas; ``roi`` is
    (x0, y0, x1, y1) with x1, y1 exclusive.
    Shape: returns (y1 - y0, x1 - x0, 2) float32, the source (x, y) of each pixel.
    """
    x0, y0, x1, y1 = roi
    w, h = x1 - x0, y1 - y0
    sw, sh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
    kx, ky = sw / w, sh / h
    # Destination triangles on the coarse grid: canvas pixel x lands on (x - x0 + 0.5) * k - 0.5.
    coarse = np.empty((len(dst_points), 2))
    coarse[:, 0] = (dst_points[:, 0] - x0 + 0.5) * kx - 0.5
    coarse[:, 1] = (dst_points[:, 1] - y0 + 0.5) * ky - 0.5
    spans = triangle_spans(coarse[triangles], (sh, sw))
    # Work with displacements: they are 0 where nothing moves, so the identity stays exact after
    # resizing. In a triangle, the displacement (source - destination) is linear in the coarse column
    # and row. Each pixel's is one complex64 (x + iy): numpy moves those much faster than pairs.
    planes = displacement_planes(dst_points, src_points, triangles)  # canvas pixels
    # Canvas x of coarse column c: (c + 0.5) / kx - 0.5 + x0.
    cx, cy = 0.5 / kx - 0.5 + x0, 0.5 / ky - 0.5 + y0
    per_column, per_row = planes[:, 0] / kx, planes[:, 1] / ky
    const = planes[:, 0] * cx + planes[:, 1] * cy + planes[:, 2]
    # Per run of pixels: the displacement at column 0 of its row, and its change per column.
    tri = spans.triangle
    at_zero = (per_row[tri] * spans.row + const[tri]).astype(np.complex64)
    slope = per_column[tri].astype(np.complex64)
    end = np.cumsum(spans.count)
    total = int(end[-1]) if len(end) else 0
    first = spans.start - (end - spans.count)  # a pixel's column is first + its index among all
    column = np.repeat(first.astype(np.float32), spans.count) + np.arange(total, dtype=np.float32)
    shift = np.repeat(slope, spans.count)
    shift *= column
    shift += np.repeat(at_zero, spans.count)
    displacement: np.ndarray = np.zeros((sh, sw, 2), np.float32)
    # Overlapping triangles (a folded mesh): the later one wins, as when painted in order.
    pixels = np.repeat(spans.row * sw + first, spans.count) + np.arange(total)
    displacement.reshape(-1).view(np.complex64)[pixels] = shift
    if (sw, sh) != (w, h):
        displacement = cv2.resize(displacement, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.add(displacement, _identity_map(roi), out=displacement)


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
    source = backward_map(dst_points, src_points, triangles, roi, scale)
    x0, y0, x1, y1 = roi
    out = image.copy()
    # Straight into the output's warp area. An (x, y) map needs no second one (the stubs miss that).
    area = out[y0:y1, x0:x1]
    cv2.remap(image, source, None, cv2.INTER_LINEAR, area, cv2.BORDER_REFLECT_101)  # type: ignore[call-overload]
    return out
