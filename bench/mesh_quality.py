"""How good the mesh engine's picture is, per avatar and driving clip: prints JSON.

For each avatar/driver pair, the engine (512x512 square output, strength 1 unless ``--strength``)
animates the avatar with every driving frame, and FaceMesh is run on the output:

- ``corr``: Pearson correlation, over the frames where both faces are found, between the output's and
  the driver's mouth opening, eye opening and head roll (FaceMesh on both). Roll is only reported where
  the driver's roll moves (standard deviation over 1 degree); eyes where its eye opening moves.
- ``inverted_triangles``: warp triangles whose orientation flipped, per frame (max and frames with any),
  from the engine's ``debug_stats`` (recomputed from the engine's mesh for engines without them);
  ``corrected_folds``: the folds the landmark transfer made before the engine undid them.
- ``border_streak_share``: of the outer 1/8 rows and columns on each side of the output at rest, the
  share that are an exact copy of their inner neighbour without being flat (edge-replication smears).
- ``gray_chroma_max``: for a grayscale avatar, the largest ``max(R, G, B) - min(R, G, B)`` of any
  output pixel (0 = exactly grayscale).
- ``ms_per_frame``: ``animate`` time, mean over the clip (tracking not included: bench/mesh_engine.py).

Avatars are real portraits and variants made from them at run time: a tight crop, a grayscale copy, a
three-quarter view (the frontal photo's landmarks turned 28 degrees in 3D and warped, a synthetic one:
no public-domain three-quarter photo is at hand) and a painted-on moustache. Drivers: the shared
talking clip, and the bundled demo-motion clip (nod, turn, talk, blink, smile) with a roll sweep added.
The made avatars are saved in ``--workdir`` and reused, so runs of two versions of the code compare the
same pictures; contact sheets of each pair are written there too.

    python bench/mesh_quality.py [--workdir /tmp/mesh_quality] [--stride 1] [--strength 1.0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from mesh_engine import read_clip  # bench/mesh_engine.py: these scripts run with bench/ on sys.path

from avatarify_app.avatars import BUNDLED_AVATARS_DIR, load_image
from avatarify_app.engines import EngineOptions, MeshChoice, create_engine
from avatarify_app.engines.mesh.features import keep_irises_in_eyes
from avatarify_app.engines.mesh.topology import build_mesh
from avatarify_app.engines.mesh.warp import warp_mesh
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import FaceTracker, TrackerOptions, detect_face
from avatarify_app.tracking import landmarks as lm

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
DEMO_CLIP = BUNDLED_AVATARS_DIR.parent / "demo" / "demo_motion.mp4"
SIZE = 512


# -- avatars --------------------------------------------------------------------------------------


def _tight_crop(image: np.ndarray) -> np.ndarray:
    """An official-photo framing: the face box plus a sixth of it on each side (chin to shoulders gone)."""
    x0, y0, x1, y1 = detect_face(image).box
    mx, my = (x1 - x0) / 6, (y1 - y0) / 6
    return image[max(int(y0 - 2 * my), 0) : int(y1 + my), max(int(x0 - mx), 0) : int(x1 + mx)].copy()


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def _turned(image: np.ndarray, yaw_deg: float = 28.0) -> np.ndarray:
    """The face turned by ``yaw_deg`` in 3D (orthographic), by warping its landmarks: a three-quarter view."""
    points = detect_face(image).landmarks.astype(np.float64)
    centre = points[list(lm.RIGID)].mean(axis=0)
    yaw = math.radians(yaw_deg)
    rotation = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    moved = (points - centre) @ rotation.T + centre
    mesh = build_mesh(points, (image.shape[1], image.shape[0]), ring_scale=1.6)
    return warp_mesh(image, mesh.vertices(points), mesh.vertices(moved), mesh.triangles, mesh.roi)


def _moustache(image: np.ndarray) -> np.ndarray:
    """A dark, hairy moustache painted between the nose and the upper lip."""
    points = detect_face(image).landmarks[:, :2].astype(np.float64)
    out = image.copy()
    lip = points[[61, 40, 37, 0, 267, 270, 291]]  # outer upper lip, corner to corner
    nose = points[[2]]  # below the nose tip
    top = lip + (nose - lip) * np.array([[0.2], [0.55], [0.65], [0.7], [0.65], [0.55], [0.2]])
    poly = np.concatenate([lip + [[0, 3]], top[::-1]]).astype(np.int32)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA)
    rng = np.random.default_rng(0)
    hair = rng.normal(0, 1, image.shape[:2]).astype(np.float32)
    hair = cv2.GaussianBlur(hair, (1, 9), 0) * 18  # vertical strands
    weight = cv2.GaussianBlur(mask, (5, 5), 0).astype(np.float32)[..., None] / 255
    colour = np.array([52, 38, 30], np.float32) + hair[..., None]
    return np.clip(out * (1 - weight) + colour * weight, 0, 255).astype(np.uint8)


def make_avatars(workdir: Path) -> dict[str, np.ndarray]:
    hopper = load_image(BUNDLED_AVATARS_DIR / "grace_hopper.jpg")
    mona = load_image(MEDIA / "avatar_mona_lisa.jpg")
    recipes: dict[str, Callable[[], np.ndarray]] = {
        "photo_hopper": lambda: hopper,
        "photo_astronaut": lambda: load_image(MEDIA / "avatar_astronaut_nasa.png"),
        "painting_mona_lisa": lambda: mona,
        "painting_la_velata": lambda: load_image(MEDIA / "avatar_raphael_la_velata.jpg"),
        "tight_mona_lisa": lambda: _tight_crop(mona),
        "tight_hopper": lambda: _tight_crop(hopper),
        "gray_hopper": lambda: _gray(hopper),
        "gray_tight_mona_lisa": lambda: _gray(_tight_crop(mona)),
        "three_quarter_hopper": lambda: _turned(hopper),
        "three_quarter_astronaut": lambda: _turned(load_image(MEDIA / "avatar_astronaut_nasa.png"), 25.0),
        "moustache_hopper": lambda: _moustache(hopper),
    }
    avatars = {}
    for name, recipe in recipes.items():
        path = workdir / f"avatar_{name}.png"
        if not path.exists():
            cv2.imwrite(str(path), cv2.cvtColor(recipe(), cv2.COLOR_RGB2BGR))
        avatars[name] = load_image(path)
    return avatars


# -- drivers --------------------------------------------------------------------------------------


def _read_clip(path: Path, stride: int) -> tuple[list[np.ndarray], float]:
    frames, fps = read_clip(path)
    return frames[::stride], fps / stride


def _with_roll(frames: list[np.ndarray], amplitude_deg: float = 14.0) -> list[np.ndarray]:
    """The clip with the camera rolled: two slow sweeps of +-``amplitude_deg`` about the frame centre."""
    out = []
    for i, image in enumerate(frames):
        h, w = image.shape[:2]
        angle = amplitude_deg * math.sin(2 * math.pi * 2 * i / len(frames))
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        out.append(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT_101))
    return out


def make_drivers(stride: int) -> dict[str, tuple[list[np.ndarray], list[FaceTrack]]]:
    shared, fps = _read_clip(MEDIA / "driving_mouth_open.mp4", stride)
    demo, demo_fps = _read_clip(DEMO_CLIP, stride)
    clips = {"shared_clip": (shared, fps), "demo_with_roll": (_with_roll(demo), demo_fps)}
    drivers = {}
    for name, (frames, rate) in clips.items():
        with FaceTracker(TrackerOptions(static=False)) as tracker:
            tracks = [tracker.track(image, t=i / rate) for i, image in enumerate(frames)]
        drivers[name] = (frames, tracks)
    return drivers


# -- measures -------------------------------------------------------------------------------------


def border_streak_share(image: np.ndarray, depth_fraction: float = 1 / 8) -> float:
    """Share of the outer rows/columns (``depth_fraction`` of the side, each side) that exactly repeat
    their inner neighbour while not being flat: the smears edge replication leaves."""
    lines = streaks = 0
    for view in (image, image[::-1], image.transpose(1, 0, 2), image.transpose(1, 0, 2)[::-1]):
        depth = max(int(view.shape[0] * depth_fraction), 1)
        for k in range(depth):
            line, inner = view[k].astype(np.int16), view[k + 1].astype(np.int16)
            lines += 1
            streaks += int(np.array_equal(line, inner) and int(line.max()) - int(line.min()) > 8)
    return streaks / lines


def _signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])


def _inverted_triangles(engine, track: FaceTrack) -> int:
    stats = getattr(engine, "debug_stats", None)
    if stats is not None:
        return int(stats["inverted_triangles"])
    # An engine from before debug_stats: the same count from its mesh.
    mesh, src = engine._mesh, engine._src_vertices
    dst = keep_irises_in_eyes(mesh.vertices(engine._motion(track.landmarks, engine.strength)))
    return int(np.count_nonzero(_signed_areas(src, mesh.triangles) * _signed_areas(dst, mesh.triangles) < 0))


def _measures(landmarks: np.ndarray) -> tuple[float, float, float]:
    from avatarify_app.tracking.pose import estimate_pose

    return lm.mouth_opening(landmarks), lm.eye_opening(landmarks), estimate_pose(landmarks).roll


def _correlation(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3 or statistics.pstdev(a) < 1e-9 or statistics.pstdev(b) < 1e-9:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def _moves(values: list[float], spread: float) -> bool:
    return len(values) > 2 and statistics.pstdev(values) > spread


def _contact_sheet(images: list[np.ndarray], path: Path, tile: int = 256) -> None:
    tiles = [cv2.resize(im, (tile, tile), interpolation=cv2.INTER_AREA) for im in images]
    row = np.concatenate(tiles, axis=1)
    cv2.imwrite(str(path), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))


def run_pair(
    avatar_name: str,
    avatar: np.ndarray,
    driver_name: str,
    frames: list[np.ndarray],
    tracks: list[FaceTrack],
    strength: float,
    workdir: Path,
) -> dict:
    engine = create_engine(MeshChoice(), EngineOptions(size=SIZE, strength=strength))
    engine.set_avatar(avatar)
    first = next(i for i, t in enumerate(tracks) if t.found)
    engine.calibrate(frames[first], tracks[first])
    gray = bool((avatar.max(axis=2) == avatar.min(axis=2)).all())
    out_series: list[tuple[float, float, float]] = []
    drv_series: list[tuple[float, float, float]] = []
    times, inverted, folded, chroma = [], [], [], 0
    outputs = []
    with FaceTracker(TrackerOptions(static=False, smoothing=None)) as tracker:
        for i, (image, track) in enumerate(zip(frames, tracks, strict=True)):
            t0 = time.perf_counter()
            out = engine.animate(image, track)
            times.append(time.perf_counter() - t0)
            outputs.append(out)
            if track.found:
                inverted.append(_inverted_triangles(engine, track))
                folded.append(getattr(engine, "debug_stats", {}).get("folded_triangles", 0))
            if gray:
                chroma = max(chroma, int((out.max(axis=2).astype(int) - out.min(axis=2)).max()))
            found = tracker.track(out, t=i / 30.0)
            if track.found and found.found:
                out_series.append(_measures(found.landmarks))
                drv_series.append(_measures(track.landmarks))
    mouth_drv = [s[0] for s in drv_series]
    roll_drv = [s[2] for s in drv_series]
    eyes_drv = [s[1] for s in drv_series]
    corr: dict[str, float | None] = {
        "mouth": _correlation([s[0] for s in out_series], mouth_drv),
        "eyes": _correlation([s[1] for s in out_series], eyes_drv) if _moves(eyes_drv, 0.02) else None,
        "roll": _correlation([s[2] for s in out_series], roll_drv) if _moves(roll_drv, 1.0) else None,
    }
    # Contact sheet: rest, widest driver mouth, strongest blink, both roll extremes, last frame.
    picks = [first, int(np.argmax([lm.mouth_opening(t.landmarks) if t.found else 0 for t in tracks]))]
    picks.append(int(np.argmin([lm.eye_opening(t.landmarks) if t.found else 9 for t in tracks])))
    rolls = [t.pose.roll if t.found and t.pose is not None else 0.0 for t in tracks]
    picks += [int(np.argmax(rolls)), int(np.argmin(rolls)), len(frames) - 1]
    _contact_sheet([outputs[p] for p in picks], workdir / f"sheet_{avatar_name}__{driver_name}.png")
    _contact_sheet([frames[p] for p in picks], workdir / f"driver_{driver_name}.png")
    return {
        "avatar": avatar_name,
        "driver": driver_name,
        "frames": len(frames),
        "output_face_found": round(len(out_series) / max(sum(t.found for t in tracks), 1), 3),
        "corr": corr,
        "inverted_triangles": {"max": max(inverted, default=0), "frames_with": sum(n > 0 for n in inverted)},
        # Folds the landmark transfer made and the engine corrected (engines with debug_stats only).
        "corrected_folds": {"max": max(folded, default=0), "frames_with": sum(n > 0 for n in folded)},
        "border_streak_share": round(border_streak_share(engine.avatar_canvas), 3),
        "gray_chroma_max": chroma if gray else None,
        "ms_per_frame": round(1000 * statistics.fmean(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mesh_quality"))
    parser.add_argument("--stride", type=int, default=1, help="use every n-th driving frame")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--only", default="", help="comma-separated avatar names (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    args.workdir.mkdir(parents=True, exist_ok=True)
    avatars = make_avatars(args.workdir)
    if args.only:
        avatars = {k: v for k, v in avatars.items() if k in args.only.split(",")}
    drivers = make_drivers(args.stride)
    pairs = [
        run_pair(a_name, avatar, d_name, frames, tracks, args.strength, args.workdir)
        for a_name, avatar in avatars.items()
        for d_name, (frames, tracks) in drivers.items()
    ]
    report = {
        "benchmark": "mesh_quality",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "strength": args.strength,
        "pairs": pairs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
