"""Make ``avatarify_app/resources/demo/demo_motion.mp4``: the scripted driving clip used without a webcam.

A bundled portrait is posed by moving its FaceMesh landmarks through a script (nod, turn, talk,
blink, smile) and rendered with the mesh engine's warp, so the clip shows a real face that the real
tracker follows. Run it again after changing the script; the output is deterministic.

    python scripts/make_demo_motion.py [--out avatarify_app/resources/demo/demo_motion.mp4]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from avatarify_app.avatars import BUNDLED_AVATARS_DIR, load_image
from avatarify_app.config import DEMO_CLIP
from avatarify_app.engines.mesh.features import (
    MouthTones,
    keep_irises_in_eyes,
    paint_closed_eyelids,
    paint_mouth_cavity,
)
from avatarify_app.engines.mesh.topology import build_mesh
from avatarify_app.engines.mesh.warp import warp_mesh
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.tracking import crop_face, detect_face
from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.crop import transform_points

SIZE = 384
FPS = 30.0
# (start s, end s, action); actions overlap freely. The clip loops, so it starts and ends at rest.
SCRIPT = (
    (0.5, 2.5, "nod"),
    (3.0, 5.5, "turn"),
    (6.0, 9.0, "talk"),
    (4.2, 4.5, "blink"),
    (9.6, 9.9, "blink"),
    (10.0, 12.0, "smile"),
)
DURATION = 12.5


def _bump(t: float, start: float, end: float) -> float:
    """0 outside [start, end], rising smoothly to 1 in the middle."""
    if not start < t < end:
        return 0.0
    return math.sin(math.pi * (t - start) / (end - start)) ** 2


def _pose(t: float) -> dict[str, float]:
    amount = {"pitch": 0.0, "yaw": 0.0, "open": 0.0, "blink": 0.0, "smile": 0.0}
    for start, end, action in SCRIPT:
        b = _bump(t, start, end)
        phase = 2 * math.pi * (t - start) / (end - start)
        if action == "nod":
            amount["pitch"] += 12.0 * math.sin(2 * phase) * b**0.5
        elif action == "turn":
            amount["yaw"] += 18.0 * math.sin(phase) * b**0.5
        elif action == "talk":
            amount["open"] += 0.11 * b**0.5 * (0.5 + 0.5 * abs(math.sin(3 * phase)))
        elif action == "blink":
            amount["blink"] += b
        elif action == "smile":
            amount["smile"] += b
    return amount


def _pose_landmarks(rest: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Landmarks (478, 3) moved by one pose: rotation, jaw, lids and mouth corners."""
    pts = rest.astype(np.float64).copy()
    face_h = np.linalg.norm(rest[lm.CHIN, :2] - rest[lm.FOREHEAD_TOP, :2])
    # Expressions first, on the frontal face.
    mouth_y = (rest[lm.UPPER_INNER_LIP, 1] + rest[lm.LOWER_INNER_LIP, 1]) / 2
    below = np.clip((pts[:, 1] - mouth_y) / 2.0 + 0.5, 0, 1)  # the jaw and lower lip move as one
    centre_x = rest[lm.CHIN, 0]
    half_w = face_h * 0.45
    side = np.clip(1 - np.abs(pts[:, 0] - centre_x) / half_w, 0, 1)
    pts[:, 1] += p["open"] * face_h * below * side
    for ring in (lm.RIGHT_EYE, lm.LEFT_EYE):
        idx = list(ring)
        mid = pts[idx, 1].mean()
        pts[idx, 1] = mid + (pts[idx, 1] - mid) * (1 - p["blink"])
    for corner, direction in ((lm.LIPS_OUTER[0], -1), (lm.LIPS_OUTER[10], 1)):
        near = np.exp(-np.sum((rest[:, :2] - rest[corner, :2]) ** 2, axis=1) / (0.06 * face_h) ** 2)
        pts[:, 0] += direction * 0.04 * face_h * p["smile"] * near
        pts[:, 1] -= 0.03 * face_h * p["smile"] * near
    # Then the head rotation about the face centre, projected orthographically.
    centre = pts[list(lm.RIGID)].mean(axis=0)
    yaw, pitch = math.radians(p["yaw"]), math.radians(p["pitch"])
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    return (pts - centre) @ (rx @ ry).T + centre


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEMO_CLIP)
    args = parser.parse_args()
    # Not the default avatar (Grace Hopper): the demo should show one face driving another.
    image = load_image(BUNDLED_AVATARS_DIR / "astronaut.png")
    track = detect_face(image)
    if track.box is None or track.landmarks is None:
        raise SystemExit("no face found in the bundled portrait")
    crop = crop_face(image, track.box, SIZE, scale=1.9)
    rest = transform_points(crop.crop_from_frame, track.landmarks)
    mesh = build_mesh(rest, (SIZE, SIZE), ring_scale=1.6)
    src = mesh.vertices(rest)
    opening = lm.mouth_opening(rest)
    tones = MouthTones.of(crop.image, rest)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with Mp4Writer(args.out, size=(SIZE, SIZE), fps=FPS) as writer:
        for i in range(int(DURATION * FPS)):
            moved = _pose_landmarks(rest, _pose(i / FPS))
            dst = keep_irises_in_eyes(mesh.vertices(moved))
            frame = warp_mesh(crop.image, src, dst, mesh.triangles, mesh.roi)
            paint_mouth_cavity(frame, dst, tones, opening)
            paint_closed_eyelids(frame, dst, rest)
            writer.write_video(frame)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
