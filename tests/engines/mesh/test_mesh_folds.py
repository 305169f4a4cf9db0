"""The mesh's orientation and fold correction, on small meshes and on FaceMesh's tessellation."""

from collections import Counter

import numpy as np

from avatarify_app.engines.mesh.folds import FoldGuard, relax_rest
from avatarify_app.engines.mesh.topology import face_triangles, orient_triangles, signed_areas


def _grid(n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """An n x n grid of points (spacing 10) split into triangles, corners in a shuffled order."""
    ys, xs = np.mgrid[0:n, 0:n]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64) * 10
    rng = np.random.default_rng(0)
    triangles = []
    for y in range(n - 1):
        for x in range(n - 1):
            a, b, c, d = y * n + x, y * n + x + 1, (y + 1) * n + x, (y + 1) * n + x + 1
            for tri in ((a, b, d), (a, d, c)):
                triangles.append(rng.permutation(tri))
    return points, np.array(triangles)


def _guard(points, triangles, fixed_border=True):
    ring = np.zeros(len(points), bool)
    if fixed_border:
        n = int(np.sqrt(len(points)))
        ring.reshape(n, n)[[0, -1], :] = True
        ring.reshape(n, n)[:, [0, -1]] = True
    order = np.concatenate([np.nonzero(~ring)[0], np.nonzero(ring)[0]])  # fixed vertices last
    back = np.argsort(order)
    triangles = orient_triangles(back[triangles], points[order])
    points = points[order]
    guard = FoldGuard.build(triangles, points, num_fixed=int(ring.sum()), fan_centres=())
    return guard, points


def test_triangles_are_oriented_by_connectivity_even_where_flat_or_flipped():
    points, triangles = _grid()
    oriented = orient_triangles(triangles, points)
    assert (signed_areas(points, oriented) > 0).all()
    # The same orientation comes out where the picture is folded: it is the mesh's, not the shape's.
    folded = points.copy()
    folded[12] = [31.0, 31.0]  # the middle vertex pushed past its neighbours
    again = orient_triangles(triangles, folded)
    assert np.array_equal(np.sort(again, axis=1), np.sort(oriented, axis=1))
    assert (signed_areas(points, again) > 0).all()


def test_facemesh_triangles_form_a_surface():
    edges = Counter()
    for a, b, c in face_triangles():
        for u, v in ((a, b), (b, c), (a, c)):
            edges[(min(u, v), max(u, v))] += 1
    assert max(edges.values()) == 2  # no triangle overlaps another


def test_a_pose_without_folds_is_left_as_it_is():
    points, triangles = _grid()
    guard, rest = _guard(points, triangles)
    moved = rest + np.random.default_rng(1).normal(0, 1.0, rest.shape) * guard.movable[:, None]
    out, folded = guard.unfold(moved, rest)
    assert out is moved
    assert folded == 0


def test_a_fold_is_undone_with_the_least_change_and_the_border_kept():
    points, triangles = _grid()
    guard, rest = _guard(points, triangles)
    moved = rest.copy()
    middle = int(np.argmin(np.linalg.norm(rest - [20, 20], axis=1)))
    moved[middle] = [34.0, 27.0]  # past the next vertex: several triangles turn over
    assert guard.inverted(moved) > 0
    out, folded = guard.unfold(moved, rest)
    assert folded > 0
    assert guard.inverted(out) == 0
    assert not guard.folded(out).any()
    assert np.array_equal(out[~guard.movable], rest[~guard.movable])
    # The vertex still moved most of the way it was asked to.
    assert out[middle, 0] - rest[middle, 0] > 5


def test_a_flipped_triangle_at_rest_is_opened():
    points, triangles = _grid()
    triangles = orient_triangles(triangles, points)
    crossed = points.copy()
    crossed[12] += [6.0, 6.0]  # FaceMesh's closed lips: a landmark just past its neighbour's line
    crossed[18] -= [6.0, 6.0]
    assert (signed_areas(crossed, triangles) <= 0).any()
    relaxed = relax_rest(crossed, triangles, num_movable=len(points))
    assert (signed_areas(relaxed, triangles) > 0).all()
    assert np.abs(relaxed - crossed).max() < 10
