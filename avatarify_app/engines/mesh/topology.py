"""The mesh the ``mesh`` engine warps: FaceMesh triangles, eye fans and a fixed anchor ring.

Vertices are the 478 FaceMesh landmarks, the mouth centre, then ``anchors``. The FaceMesh tessellation
leaves the eyes and the mouth open; each eye is closed with a fan around its iris centre, so a blink
collapses the eye to the lid line, and the mouth with a fan around its centre, so teeth move with the
lips. Where the mouth opens wider than the avatar's, its inside is painted as a cavity (``features.py``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from avatarify_app.tracking import landmarks as lm

_NUM_RING = 28
MOUTH_CENTRE = lm.NUM_LANDMARKS  # vertex index: the mean of the inner-lip ring
FIRST_ANCHOR = lm.NUM_LANDMARKS + 1


@functools.cache
def face_triangles() -> np.ndarray:
    """(T, 3) int32 vertex indices of FaceMesh's tessellation plus the eye and mouth fans.

    The tessellation ships as edges; its triangles are the edge triples that close a cycle, less the
    cycles that are not faces. The corners' order is not oriented yet (``orient_triangles``).
    """
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in FACEMESH_TESSELATION:
        neighbours[a].add(b)
        neighbours[b].add(a)
    cycles = {
        tuple(sorted((a, b, c))) for a, b in FACEMESH_TESSELATION for c in neighbours[a] & neighbours[b]
    }
    # A 3-cycle round a vertex that is not a face (two near the nostrils) has three edges each shared
    # by two real triangles besides it: it would overlap them.
    uses: dict[tuple[int, int], int] = defaultdict(int)
    for a, b, c in cycles:
        for edge in ((a, b), (b, c), (a, c)):
            uses[edge] += 1
    triangles = {t for t in cycles if min(uses[(t[0], t[1])], uses[(t[1], t[2])], uses[(t[0], t[2])]) < 3}
    fans = (
        (lm.RIGHT_EYE, lm.RIGHT_IRIS_CENTER),
        (lm.LEFT_EYE, lm.LEFT_IRIS_CENTER),
        (lm.LIPS_INNER, MOUTH_CENTRE),
    )
    for ring, centre in fans:
        for i, a in enumerate(ring):
            triangles.add((a, ring[(i + 1) % len(ring)], centre))
    return np.array(sorted(triangles), dtype=np.int32)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle: (V, 2) points, (T, 3) indices -> (T,) float64.

    Positive for corners turning clockwise on screen (counter-clockwise with y up), as
    ``orient_triangles`` orders them.
    """
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    ab, ac = b - a, c - a
    return (ab[:, 0] * ac[:, 1] - ac[:, 0] * ab[:, 1]).astype(np.float64)


def orient_triangles(triangles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The triangles with their corners reordered so that all have a positive ``signed_areas`` on an
    unfolded face.

    The order is taken from the mesh's connectivity, not from each triangle's shape: two triangles
    sharing an edge run along it in opposite directions. So a triangle that is flat or flipped in
    ``points`` (closed lips cross in FaceMesh's landmarks) still gets the orientation of its
    neighbourhood. The walk starts from the largest triangle; each connected part on its own.
    """
    tris = [list(t) for t in triangles]
    by_edge: dict[tuple[int, int], list[int]] = defaultdict(list)
    for t, (a, b, c) in enumerate(tris):
        for u, v in ((a, b), (b, c), (c, a)):
            by_edge[(min(u, v), max(u, v))].append(t)
    areas = signed_areas(points, triangles)
    done = np.zeros(len(tris), bool)
    for seed in np.argsort(-np.abs(areas)):
        if done[seed]:
            continue
        if areas[seed] < 0:
            tris[seed][1], tris[seed][2] = tris[seed][2], tris[seed][1]
        done[seed] = True
        stack = [int(seed)]
        while stack:
            t = stack.pop()
            a, b, c = tris[t]
            for u, v in ((a, b), (b, c), (c, a)):
                for n in by_edge[(min(u, v), max(u, v))]:
                    if done[n]:
                        continue
                    x, y, z = tris[n]
                    if (u, v) in ((x, y), (y, z), (z, x)):  # same direction: flip the neighbour
                        tris[n][1], tris[n][2] = z, y
                    done[n] = True
                    stack.append(n)
    return np.array(tris, dtype=np.int32).reshape(-1, 3)


@dataclass(frozen=True, slots=True)
class Mesh:
    """A fixed triangulation over one avatar canvas.

    Attributes:
        triangles: (T, 3) int32 indices into the vertex array (``vertices``).
        anchors: (A, 2) float32 canvas pixels that never move.
        roi: (x0, y0, x1, y1) int canvas rectangle outside which the warp is the identity.
        num_face: how many of ``triangles``, first, are the face's (FaceMesh and the fans); the rest
            reach out to the anchors.
    """

    triangles: np.ndarray
    anchors: np.ndarray
    roi: tuple[int, int, int, int]
    num_face: int

    def vertices(self, landmarks: np.ndarray) -> np.ndarray:
        """(V, 2) float64 vertices for (478, 2+) landmarks: the landmarks, the mouth centre, the anchors."""
        points = landmarks[:, :2].astype(np.float64)
        mouth = points[list(lm.LIPS_INNER)].mean(axis=0, keepdims=True)
        return np.concatenate([points, mouth, self.anchors])


def build_mesh(landmarks: np.ndarray, canvas_size: tuple[int, int], ring_scale: float = 1.7) -> Mesh:
    """Triangulate an avatar whose (478, 2+) ``landmarks`` lie on a canvas of ``(width, height)``.

    An ellipse of fixed anchors ``ring_scale`` times the face's half-size around it (clipped to the
    canvas) bounds the warp: outside it every pixel stays as it is. Between the face oval and the ring,
    a Delaunay triangulation lets the neck, hair and background bend smoothly.
    """
    width, height = canvas_size
    points = landmarks[:, :2].astype(np.float64)
    oval = points[list(lm.FACE_OVAL)]
    centre = (oval.min(axis=0) + oval.max(axis=0)) / 2
    radii = (oval.max(axis=0) - oval.min(axis=0)) / 2 * ring_scale
    angles = np.linspace(0, 2 * np.pi, _NUM_RING, endpoint=False)
    ring = centre + radii * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    ring = np.clip(ring, [0, 0], [width - 1, height - 1])
    ring = np.unique(np.round(ring, 1), axis=0)

    outer = _outer_triangles(oval, ring, first_anchor=FIRST_ANCHOR)
    triangles = np.concatenate([face_triangles(), outer]).astype(np.int32)
    mouth = points[list(lm.LIPS_INNER)].mean(axis=0, keepdims=True)
    triangles = orient_triangles(triangles, np.concatenate([points, mouth, ring]))
    x0, y0 = np.floor(ring.min(axis=0)).astype(int)
    x1, y1 = np.ceil(ring.max(axis=0)).astype(int) + 1
    roi = (max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height))
    return Mesh(triangles=triangles, anchors=ring.astype(np.float32), roi=roi, num_face=len(face_triangles()))


def _outer_triangles(oval: np.ndarray, ring: np.ndarray, first_anchor: int) -> np.ndarray:
    """Delaunay triangles between the face oval and the anchor ring, outside the oval."""
    pts = np.concatenate([oval, ring])
    ids = list(lm.FACE_OVAL) + list(range(first_anchor, first_anchor + len(ring)))
    lo = np.floor(pts.min(axis=0)).astype(int) - 2
    hi = np.ceil(pts.max(axis=0)).astype(int) + 2
    subdiv = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1)))
    lookup: dict[tuple[float, float], int] = {}
    for p, i in zip(pts, ids, strict=True):
        key = (float(np.float32(p[0])), float(np.float32(p[1])))
        if key in lookup:
            continue
        lookup[key] = i
        subdiv.insert(key)
    oval_poly = oval.astype(np.float32).reshape(-1, 1, 2)
    result = []
    for x1, y1, x2, y2, x3, y3 in subdiv.getTriangleList():
        corners = [(float(np.float32(x)), float(np.float32(y))) for x, y in ((x1, y1), (x2, y2), (x3, y3))]
        if not all(c in lookup for c in corners):
            continue  # a triangle touching Subdiv2D's outer bounding vertices
        tri = [lookup[c] for c in corners]
        if all(t < first_anchor for t in tri):
            centroid = np.mean(corners, axis=0)
            if cv2.pointPolygonTest(oval_poly, (float(centroid[0]), float(centroid[1])), False) >= 0:
                continue  # inside the face: the tessellation covers it
        result.append(tri)
    return np.array(result, dtype=np.int32).reshape(-1, 3)
