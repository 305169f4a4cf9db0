"""The piecewise-affine warp: which pixels each triangle covers, and the map built from them."""

import cv2
import numpy as np
import pytest

from avatarify_app.engines.mesh.warp import backward_map, displacement_planes, triangle_spans


def _ids(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Triangle index per pixel from ``triangle_spans``, painted in order (-1: none)."""
    ids = np.full(shape, -1)
    spans = triangle_spans(corners, shape)
    for t, y, x, n in zip(spans.triangle, spans.row, spans.start, spans.count, strict=True):
        ids[y, x : x + n] = t
    return ids


def _jittered_grid(rng: np.random.Generator, n: int = 9, step: float = 7.3, origin=(-6.0, -4.0)):
    """An n x n grid of points (jittered, not folded), split into triangles of both orientations;
    it reaches past the top-left of the pixel grid."""
    ys, xs = np.mgrid[0:n, 0:n]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1) * step + origin
    points = points + rng.uniform(-0.3 * step, 0.3 * step, points.shape)
    triangles = []
    for y in range(n - 1):
        for x in range(n - 1):
            a, b, c, d = y * n + x, y * n + x + 1, (y + 1) * n + x, (y + 1) * n + x + 1
            triangles += [(a, b, d), (a, d, c)] if (x + y) % 2 else [(a, d, b), (a, c, d)]
    return points, np.array(triangles)


def _edge_distance(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W): each pixel centre's distance to the nearest triangle edge."""
    h, w = shape
    p = np.stack(np.mgrid[0:h, 0:w][::-1], axis=-1).reshape(-1, 1, 2).astype(np.float64)
    a = corners.reshape(-1, 2)[None]
    b = np.roll(corners, -1, axis=1).reshape(-1, 2)[None]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(axis=1).reshape(h, w)


def _signed(corners: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(T, N) edge functions of points p (N, 2) for each triangle, positive inside (either orientation)."""
    a, b, c = corners[:, 0, None], corners[:, 1, None], corners[:, 2, None]
    area = np.sign(
        (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (c[..., 0] - a[..., 0]) * (b[..., 1] - a[..., 1])
    )

    def edge(u, v):
        return (
            (v[..., 0] - u[..., 0]) * (p[None, :, 1] - u[..., 1])
            - (v[..., 1] - u[..., 1]) * (p[None, :, 0] - u[..., 0])
        ) * area

    return np.minimum(np.minimum(edge(a, b), edge(b, c)), edge(c, a))


@pytest.mark.parametrize("seed", range(5))
def test_a_mesh_without_folds_covers_each_pixel_once_with_the_triangle_around_its_centre(seed):
    rng = np.random.default_rng(seed)
    points, triangles = _jittered_grid(rng)
    shape = (40, 45)  # the mesh reaches past the top and left, and stops short of the bottom and right
    corners = points[triangles]
    spans = triangle_spans(corners, shape)
    covered = np.zeros(shape, int)
    for y, x, n in zip(spans.row, spans.start, spans.count, strict=True):
        covered[y, x : x + n] += 1
    h, w = shape
    centres = np.stack(np.mgrid[0:h, 0:w][::-1], axis=-1).reshape(-1, 2).astype(np.float64)
    inside = _signed(corners, centres)  # (T, N)
    hull = (inside > 1e-9).any(axis=0).reshape(shape)
    assert covered.max() == 1  # no pixel twice: no overlap along shared edges
    assert covered[hull].all()  # no gap
    assert not covered[(inside < -1e-9).all(axis=0).reshape(shape)].any()  # nothing outside the mesh
    ids = _ids(corners, shape).ravel()
    strictly = inside > 1e-9
    owner = np.where(strictly.any(axis=0), strictly.argmax(axis=0), -1)
    clear = strictly.sum(axis=0) == 1
    assert np.array_equal(ids[clear], owner[clear])
    assert (spans.count >= 1).all()
    assert (np.diff(spans.triangle) >= 0).all()


def test_the_same_pixels_as_opencv_fill_away_from_edges():
    """The per-triangle ``cv2.fillConvexPoly`` loop the rasteriser replaced gives the same ids
    wherever a pixel centre is over a pixel from every edge (OpenCV also draws each outline)."""
    rng = np.random.default_rng(7)
    points, triangles = _jittered_grid(rng)
    shape = (40, 45)
    corners = points[triangles]
    reference = np.full(shape, -1, np.int32)
    for t, tri in enumerate(np.round(corners * 16).astype(np.int32)):
        cv2.fillConvexPoly(reference, tri, (t,), lineType=cv2.LINE_8, shift=4)
    away = _edge_distance(corners, shape) > 1.0
    assert away.sum() > 500
    assert np.array_equal(_ids(corners, shape)[away], reference[away])


def test_flat_off_grid_and_overlapping_triangles():
    shape = (20, 30)
    corners = np.array(
        [
            [[2.0, 2.0], [12.0, 2.0], [2.0, 12.0]],  # 0
            [[3.0, 3.0], [9.0, 9.0], [6.0, 6.0]],  # 1: flat (corners on a line): covers nothing
            [[-20.0, -5.0], [-2.0, -5.0], [-10.0, 30.0]],  # 2: left of the grid
            [[5.0, 25.0], [50.0, 25.0], [20.0, 40.0]],  # 3: below the grid
            [[4.0, 4.0], [8.0, 4.0], [4.0, 8.0]],  # 4: over triangle 0: painted later, it wins
            [[25.0, -3.0], [40.0, 5.0], [25.0, 15.0]],  # 5: cut by the top and right borders
        ]
    )
    ids = _ids(corners, shape)
    assert 1 not in ids
    assert 2 not in ids
    assert 3 not in ids
    assert ids[3, 3] == 0
    assert ids[5, 5] == 4
    assert ids[10, 3] == 0
    assert ids[0, 25] == 5
    assert ids[5, 29] == 5
    spans = triangle_spans(corners, shape)
    assert (spans.start >= 0).all()
    assert (spans.start + spans.count <= shape[1]).all()
    assert (spans.row >= 0).all()
    assert (spans.row < shape[0]).all()
    empty = triangle_spans(np.zeros((0, 3, 2)), shape)
    assert len(empty.triangle) == 0


def test_the_map_is_the_identity_at_rest_and_each_triangles_affine_when_moved():
    rng = np.random.default_rng(3)
    points, triangles = _jittered_grid(rng, n=7, step=12.0, origin=(10.0, 12.0))
    roi = (8, 10, 90, 92)
    at_rest = backward_map(points, points, triangles, roi, scale=1.0)
    x0, y0, x1, y1 = roi
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    assert at_rest.shape == (y1 - y0, x1 - x0, 2)
    assert at_rest.dtype == np.float32
    assert np.array_equal(at_rest[..., 0], gx)
    assert np.array_equal(at_rest[..., 1], gy)
    # Moved by one affine: every pixel reads from where that affine came from, at any scale.
    src_from_dst = np.array([[0.9, 0.1, 3.0], [-0.05, 1.1, -2.0]])
    dst = (
        np.column_stack([points, np.ones(len(points))])
        @ np.linalg.inv(np.vstack([src_from_dst, [0, 0, 1]])).T
    )
    dst = dst[:, :2]
    covered = _signed(dst[triangles], np.stack([gx, gy], -1).reshape(-1, 2)).max(axis=0).reshape(gx.shape) > 0
    kernel = np.ones((9, 9), np.uint8)  # 4 pixels: the coarse map is interpolated near the border
    inside = cv2.erode(covered.astype(np.uint8), kernel) > 0
    outside = cv2.dilate(covered.astype(np.uint8), kernel) == 0
    inside[[0, 1, -2, -1]] = inside[:, [0, 1, -2, -1]] = False  # the resize holds the edge of the roi
    assert inside.sum() > 3000
    assert outside.sum() > 300
    expected = np.stack([gx, gy, np.ones_like(gx)], axis=-1) @ src_from_dst.T.astype(np.float32)
    for scale in (1.0, 0.5):
        source = backward_map(dst, points, triangles, roi, scale=scale)
        assert np.abs(source[inside] - expected[inside]).max() < 1e-3
        assert np.array_equal(source[outside], np.stack([gx, gy], -1)[outside])


def test_displacement_planes_are_each_triangles_affine_map():
    rng = np.random.default_rng(11)
    dst, src = rng.uniform(0, 100, (30, 2)), rng.uniform(0, 100, (30, 2))
    triangles = np.array([rng.choice(30, 3, replace=False) for _ in range(40)] + [[0, 0, 1]])  # last: flat
    planes = displacement_planes(dst, src, triangles)
    for t, tri in enumerate(triangles[:-1]):
        # The affine map through the three corner pairs, solved directly.
        src_from_dst = np.linalg.solve(np.column_stack([dst[tri], np.ones(3)]), src[tri]).T  # (2, 3)
        p = rng.uniform(0, 100, 2)
        expected = src_from_dst @ [*p, 1.0] - p
        got = planes[t, 0] * p[0] + planes[t, 1] * p[1] + planes[t, 2]
        assert abs(got - complex(*expected)) < 1e-6
    assert np.array_equal(planes[-1], np.zeros(3))
