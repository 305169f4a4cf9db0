"""A warp without folds: no triangle of the mesh may turn over.

A triangle whose corners cross over shows the picture mirrored and overlaps its neighbours: a hard
tear line across the face (strong expressions, head turns seen as expression, strength 2). The
engine's target vertices are corrected before the warp: a triangle flipped or flattened past what it
may is opened again by moving its corners along its area's gradient (``FoldGuard.unfold``); where that
does not converge, the displacement from the head-only pose (which cannot fold) is shortened. Only
the corners of such triangles move: a frame without folds is left exactly as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarify_app.engines.mesh.topology import signed_areas

# A triangle may shrink to this fraction of its area at rest, no further (a closing lid or lip gets
# close to a line, never past it).
MIN_AREA_RATIO = 0.02
_SLIVER = 0.05  # of the median triangle's area: the least a triangle keeps at rest...
_MAX_RELAX = 1.5  # pixels: ...if its corners need not move further for it
_TOLERANCE = 1e-6  # pixels squared: rounding, not folding
_SHARES = (1.0, 0.75, 0.5)  # of the displacement, tried in turn
_ROUNDS = 6
_PROJECTION_STEPS = 30
_TARGET_FACTOR = 4.0  # a projected triangle is opened to this many times its least area
_OVERRELAX = 1.5  # all folded triangles are projected at once: a longer step converges sooner


@dataclass(frozen=True, slots=True)
class FoldGuard:
    """Fold correction for one mesh (``topology.build_mesh``, oriented triangles).

    Attributes:
        triangles: (T, 3) int oriented triangles.
        movable: (V,) bool, False for the anchors (they never move).
        mouth_centre, mouth_ring: the mouth fan's centre vertex (None without one) and its ring; the
            centre stays at the ring's mean.
        min_area: (T,) float64, the smallest signed area (``signed_areas``) each triangle may take.
        corners: (3, T) int, ``triangles`` by corner (each row contiguous).
    """

    triangles: np.ndarray
    movable: np.ndarray
    mouth_centre: int | None
    mouth_ring: np.ndarray
    min_area: np.ndarray
    corners: np.ndarray

    @classmethod
    def build(
        cls,
        triangles: np.ndarray,
        rest: np.ndarray,
        num_fixed: int,
        fan_centres: tuple[int, ...] = (),
        mouth: int | None = None,
    ) -> FoldGuard:
        """``rest``: (V, 2) vertices at rest (the texture); the last ``num_fixed`` vertices never move;
        ``fan_centres``: vertices at the centre of the eye and mouth fans; ``mouth``: the mouth centre,
        kept at the mean of its ring.

        A triangle already flat or flipped at rest may stay as it is there, no worse.
        """
        movable = np.ones(len(rest), bool)
        if num_fixed:
            movable[-num_fixed:] = False
        movable[list(fan_centres)] = False  # the irises are placed by the lids; the mouth centre follows
        ring = (
            np.unique(triangles[(triangles == mouth).any(axis=1)]) if mouth is not None else np.zeros(0, int)
        )
        area = signed_areas(rest, triangles)
        # Flipped at rest (a sliver): it may grow with the head's size, not turn further.
        min_area = np.where(area > 0, MIN_AREA_RATIO * area, 2.0 * area)
        corners = np.ascontiguousarray(triangles.T)
        return cls(triangles, movable, mouth, ring[ring != mouth], min_area, corners)

    def folded(self, points: np.ndarray) -> np.ndarray:
        """(T,) bool: triangles flipped or flattened past their limit in ``points`` (V, 2)."""
        return signed_areas(points, self.triangles) < self.min_area - _TOLERANCE

    def inverted(self, points: np.ndarray) -> int:
        """How many triangles are turned over in ``points`` (not counting those already so at rest)."""
        limit = np.minimum(self.min_area, 0.0) - _TOLERANCE
        return int(np.count_nonzero(signed_areas(points, self.triangles) < limit))

    def unfold(self, points: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, int]:
        """``points`` (V, 2) with its folds undone; and how many triangles were folded before.

        Each folded triangle is opened back to a few times its least area by moving its corners along
        the area's gradient (a projection of all of them at once, repeated; only the triangles around
        the folds are looked at): the smallest change that unfolds it, so a lower lip thinner than
        the driver's still follows the jaw, only squeezed. Where that does not converge (strength 2
        on a wide-open mouth), it is tried again on a shorter displacement from ``reference`` (V, 2,
        the avatar moved by the head motion alone, which has no fold), and last the displacement is
        scaled down as a whole as little as needed. ``points`` is returned unchanged (the same array) if
        nothing is folded.
        """
        bad = self.folded(points)
        found = int(np.count_nonzero(bad))
        if not found:
            return points, 0
        shift = points - reference
        for share in _SHARES:
            out = reference + share * shift
            bad = self.folded(out)
            for _ in range(_ROUNDS):
                # The folded triangles and two rings of neighbours: what the projection may fold in turn.
                self._project(out, np.flatnonzero(self._touching(self._touching(bad))))
                bad = self.folded(out)
                if not bad.any():
                    return out, found
        # The largest share of the displacement that folds nothing (bisection).
        lo, hi = 0.0, _SHARES[-1]
        for _ in range(8):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if not self.folded(reference + mid * shift).any() else (lo, mid)
        return reference + lo * shift, found

    def _touching(self, chosen: np.ndarray) -> np.ndarray:
        """(T,) bool: the triangles sharing a corner with one of the ``chosen`` (T,) bool."""
        corner = np.zeros(len(self.movable), bool)
        corner[self.triangles[chosen].ravel()] = True
        return corner[self.corners[0]] | corner[self.corners[1]] | corner[self.corners[2]]

    def _project(self, out: np.ndarray, subset: np.ndarray) -> None:
        """Open the folded triangles among ``subset`` (indices) of ``out`` (V, 2 float64, in place).

        Works on the subset's own vertices (and the mouth's ring when it takes part), numbered
        locally; the arithmetic is the same, operation for operation, as on the whole mesh.
        """
        triangles = self.triangles[subset]
        least = self.min_area[subset] - _TOLERANCE
        target = self.min_area[subset] * np.where(self.min_area[subset] > 0, _TARGET_FACTOR, 1.0)
        weight = self.movable.astype(np.float64)[triangles]  # (S, 3): fixed corners do not move
        centre = self.mouth_centre
        mouth = centre is not None and bool(np.isin(triangles, self.mouth_ring).any())
        used = [triangles.ravel(), self.mouth_ring, [centre]] if mouth else [triangles.ravel()]
        vertices = np.unique(np.concatenate(used))
        local = np.searchsorted(vertices, triangles)  # (S, 3)
        ring = np.searchsorted(vertices, self.mouth_ring)
        local_centre = int(np.searchsorted(vertices, centre)) if mouth and centre is not None else 0
        # Corner i's gradient is its opposite edge turned a quarter, (-dy, dx) of c - b, a - c, b - a
        # (times 0 for fixed corners); a - c is the original's c - a negated, which is exact.
        head, tail = local[:, [2, 2, 1]], local[:, [1, 0, 0]]  # the edges c - b, c - a, b - a
        turn_x, turn_y = np.array([-1.0, 1.0, -1.0]) * weight, np.array([1.0, -1.0, 1.0]) * weight
        pts = out[vertices]  # (n, 2), and the same memory as n complex numbers x + iy: numpy gathers
        points = pts.view(np.complex128)[:, 0]  # those much faster than pairs
        n = len(vertices)
        for _ in range(_PROJECTION_STEPS):
            edges = points[head] - points[tail]  # (S, 3) complex
            ab, ac = edges[:, 2], edges[:, 1]
            area = ab.real * ac.imag - ac.real * ab.imag
            bad = np.flatnonzero(area < least)
            if not len(bad):
                break
            # d(area)/d(corner) for the corners of the folded ones, x and y: (B, 3) each.
            folded = edges[bad]
            gx, gy = folded.imag * turn_x[bad], folded.real * turn_y[bad]
            k = (target[bad] - area[bad]) / np.maximum((gx * gx + gy * gy).sum(axis=1), 1e-9)
            moved = local[bad].ravel()
            counts = np.maximum(np.bincount(moved, minlength=n), 1) / _OVERRELAX
            pts[:, 0] += np.bincount(moved, (gx * k[:, None]).ravel(), n) / counts
            pts[:, 1] += np.bincount(moved, (gy * k[:, None]).ravel(), n) / counts
            if mouth:
                pts[local_centre] = pts[ring].sum(axis=0) / len(ring)
        out[vertices] = pts


def relax_rest(points: np.ndarray, triangles: np.ndarray, num_movable: int, steps: int = 100) -> np.ndarray:
    """The avatar's vertices with triangles that FaceMesh left flipped or flat at rest (closed lips
    whose inner contours cross, a nostril wing) opened: their first ``num_movable`` corners move towards
    their neighbours' mean until every triangle has a twentieth of the median's area, or ``steps`` run
    out, never more than ``_MAX_RELAX`` pixels from where they were.

    ``points``: (V, 2) float64; returns a corrected copy. The rest pose is what the texture is read
    from, so only landmarks (not the picture) move, by a pixel or two.
    """
    out = points.astype(np.float64, copy=True)
    pairs = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    src, dst = np.unique(np.concatenate([pairs, pairs[:, ::-1]]), axis=0).T
    count = np.maximum(np.bincount(src, minlength=len(out)), 1)[:, None]
    # Not only flipped: slivers too, which the driver's jitter would flip every frame.
    floor = _SLIVER * float(np.median(np.abs(signed_areas(out, triangles))))
    for _ in range(steps):
        bad = signed_areas(out, triangles) <= floor
        if not bad.any():
            break
        corners = np.zeros(len(out), bool)
        corners[triangles[bad].ravel()] = True
        corners[num_movable:] = False
        mean = np.stack([np.bincount(src, weights=out[dst, k], minlength=len(out)) for k in range(2)], 1)
        out[corners] = 0.5 * out[corners] + 0.5 * (mean / count)[corners]
        # A landmark moves a little at most: a fold of the 2D projection (a turned jaw) stays.
        moved = out - points
        length = np.linalg.norm(moved, axis=1, keepdims=True)
        out = points + moved * np.minimum(1.0, _MAX_RELAX / np.maximum(length, 1e-9))
    return out
