"""How good the mesh engine's picture is, per avatar and driving clip: prints JSON.

For each avatar/driver pair, the engine (512x512 square output, strength 1 unless ``--strength``)
animates the avatar with every driving frame, and FaceMesh is run on the output:

- ``corr``: Pearson correlation, over the frames where both faces are found, between the output's and
  the driver's mouth opening, eye opening and head roll (FaceMesh on both). Roll is only reported where
  the driver's roll moves (standard deviation over 1 degree); eyes where its eye opening moves.
- ``corr_engine_landmarks``: the same for mouth and eyes, from the engine's own ``output_landmarks``
  (where it drew them) instead of FaceMesh on the output: what the engine did, whatever FaceMesh reads.
- ``inverted_triangles``: warp triangles whose orientation flipped, per frame (max and frames with any),
  from the engine's ``debug_stats`` (recomputed from the engine's mesh for engines without them);
  ``corrected_folds``: the folds the landmark transfer made before the engine undid them.
- ``border_streak_share``: of the outer 1/8 rows and columns on each side of the output at rest, the
  share that are an exact copy of their inner neighbour without being flat (edge-replication smears).
- ``gray_chroma_max``: for a grayscale avatar, the largest ``max(R, G, B) - min(R, G, B)`` of any
  output pixel (0 = exactly grayscale).
- ``border_streak_lines_output_max``: the same lines, counted, in the outputs (every 4th frame, the most).
- ``ms_per_frame``: ``animate`` time, mean over the clip (tracking not included: bench/mesh_engine.py).

Avatars are real portraits and variants made from them at run time: a tight crop, a grayscale copy, a
synthetic three-quarter view (the frontal photo's landmarks turned 28 degrees in 3D and warped), a
painted-on moustache; and harder ones: a real three-quarter painting (La Velata, head turned about 23
degrees) cropped tight, a small gray tight crop (upscaled 5x), and a moustache of drawn hair strands
hiding the upper lip (on both bundled portraits, and as an old gray photo). Drivers: the shared talking
clip, the bundled demo-motion clip (nod, turn, talk, blink, smile) with a roll sweep added, and two made
from the shared (real) clip: rolled by two sweeps of +-30 degrees, and framed as an uncropped phone
selfie (a tall 720x1280 frame, the face small, off-centre, swaying with the hand). The made avatars are
saved in ``--workdir`` and reused, so runs of two versions of the code compare the same pictures; contact
sheets of each pair (driver frames over output frames: rest, widest mouth, strongest blink, both roll
extremes, last) are written there too, full size (``sheet_*.png``) and small (``small_*.jpg``).

    python bench/mesh_quality.py [--workdir /tmp/mesh_quality] [--stride 1] [--strength 1.0]
        [--only AVATAR,...] [--drivers DRIVER,...]
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


def _small(image: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


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


def _moustache_strands(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """A thick moustache of drawn hair strands over the upper lip, laid out on the face's own landmarks.

    It covers the skin under the nose and the upper lip down to just above its inner contour, and droops
    past the mouth corners; each strand is an anti-aliased line, pointing down and out from the middle,
    its shade varied, over a dark underlayer that lets a little skin through. FaceMesh still finds the
    face and the mouth on it (the point: the upper lip is hidden, the lower lip and the jaw are not).
    """
    points = detect_face(image).landmarks[:, :2].astype(np.float64)
    h, w = image.shape[:2]
    face_w = float(np.linalg.norm(points[454] - points[234]))
    upper_inner = points[[78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]]
    upper_outer = points[[61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]]
    bottom = upper_inner + 0.15 * (upper_outer - upper_inner)
    down = (points[lm.CHIN] - points[lm.FOREHEAD_TOP]) / np.linalg.norm(
        points[lm.CHIN] - points[lm.FOREHEAD_TOP]
    )
    across = (points[291] - points[61]) / np.linalg.norm(points[291] - points[61])
    droops = [
        points[61] - across * 0.05 * face_w + down * 0.08 * face_w,
        points[291] + across * 0.05 * face_w + down * 0.08 * face_w,
    ]
    top = points[[206, 92, 165, 98, 97, 2, 326, 327, 391, 322, 426]]
    top = top + (upper_outer - top) * 0.25
    poly = np.concatenate([[droops[0]], bottom, [droops[1]], top[::-1]])
    outline = poly.astype(np.float32).reshape(-1, 1, 2)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    rng = np.random.default_rng(seed)
    base = np.array([66, 54, 46], np.float32)
    ink = np.empty((h, w, 3), np.float32)
    ink[:] = base
    strands = np.zeros((h, w), np.uint8)
    middle = points[[0, 13]].mean(axis=0)
    half = 0.5 * float(np.linalg.norm(points[291] - points[61]))
    (x0, y0), (x1, y1) = poly.min(axis=0), poly.max(axis=0)
    length = 0.06 * face_w
    count = int(5 * (x1 - x0) * (y1 - y0) / max(length, 1.0))
    drawn = 0
    while drawn < count:
        p = rng.uniform([x0, y0], [x1, y1])
        if cv2.pointPolygonTest(outline, (float(p[0]), float(p[1])), False) < 0:
            continue
        drawn += 1
        side = float((p - middle) @ across) / max(half, 1.0)
        # Down the face, and out from the middle more the further out (in the face's own axes).
        d = np.clip(side, -1.5, 1.5) * 0.8 * across + down + rng.normal(0, 0.15, 2)
        d /= np.linalg.norm(d)
        a = np.round((p - d * length * 0.4) * 4).astype(int)
        b = np.round((p + d * length * rng.uniform(0.3, 0.7)) * 4).astype(int)
        colour = tuple(float(c) for c in np.clip(base + rng.normal(0, 20) + rng.normal(0, 4, 3), 0, 255))
        cv2.line(ink, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, 1, cv2.LINE_AA, 2)
        cv2.line(strands, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 255, 1, cv2.LINE_AA, 2)
    alpha = np.maximum(mask.astype(np.float32) / 255 * 0.85, strands.astype(np.float32) / 255 * 0.9)[
        ..., None
    ]
    return np.clip(image.astype(np.float32) * (1 - alpha) + ink * alpha + 0.5, 0, 255).astype(np.uint8)


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
        # Harder cases (issue 21): hair strands hiding the upper lip, in colour and as an old gray
        # photo; a real three-quarter painting (La Velata, head turned ~23 degrees) cropped tight. The
        # old avatars meet the harder drivers too.
        "moustache_strands_hopper": lambda: _moustache_strands(hopper),
        "moustache_strands_astronaut": lambda: _moustache_strands(
            load_image(BUNDLED_AVATARS_DIR / "astronaut.png")
        ),
        "gray_moustache_strands_hopper": lambda: _gray(_moustache_strands(hopper)),
        "tight_la_velata": lambda: _tight_crop(load_image(MEDIA / "avatar_raphael_la_velata.jpg")),
        # A small tight photo (a scanned ID picture), gray: upscaled 5x, the fill past it streaked.
        "small_gray_tight_mona_lisa": lambda: _gray(_small(_tight_crop(mona), 0.3)),
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


def _phone_selfie(frames: list[np.ndarray], size: tuple[int, int] = (720, 1280)) -> list[np.ndarray]:
    """The clip as an uncropped phone selfie: a tall frame, the face small and off-centre, the hand
    drifting (a slow sway of a few percent of the frame and +-4 degrees).

    The clip is scaled to 45% of the frame's width and put right of the middle and high up; around it
    is the clip's wall enlarged and blurred (a room out of focus), the seam feathered.
    """
    width, height = size
    out = []
    for i, image in enumerate(frames):
        h, w = image.shape[:2]
        # The room around: the clip's top corner (wall), enlarged and out of focus.
        back = cv2.resize(image[: h // 5, : w // 5], (width, height), interpolation=cv2.INTER_LINEAR)
        back = cv2.GaussianBlur(back, (0, 0), 15)
        phase = 2 * math.pi * i / max(len(frames), 1)
        scale = 0.45 * width / w
        cx, cy = width * (0.62 + 0.03 * math.sin(phase)), height * (0.34 + 0.02 * math.sin(2 * phase))
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 4.0 * math.sin(phase), scale)
        matrix[:, 2] += (cx - w / 2, cy - h / 2)
        patch = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_AREA)
        inside = cv2.warpAffine(np.full((h, w), 255, np.uint8), matrix, (width, height))
        alpha = cv2.GaussianBlur(cv2.erode(inside, np.ones((9, 9), np.uint8)), (0, 0), 4)[..., None] / 255.0
        out.append(np.clip(patch * alpha + back * (1 - alpha) + 0.5, 0, 255).astype(np.uint8))
    return out


def make_drivers(stride: int, only: str = "") -> dict[str, tuple[list[np.ndarray], list[FaceTrack]]]:
    shared, fps = _read_clip(MEDIA / "driving_mouth_open.mp4", stride)
    demo, demo_fps = _read_clip(DEMO_CLIP, stride)
    clips = {
        "shared_clip": (shared, fps),
        "demo_with_roll": (_with_roll(demo), demo_fps),
        # Harder drivers (issue 21), from the real clip: a large roll (two sweeps of +-30 degrees),
        # and the framing of an uncropped phone selfie.
        "shared_clip_roll30": (_with_roll(shared, 30.0), fps),
        "phone_selfie": (_phone_selfie(shared), fps),
    }
    if only:
        clips = {k: v for k, v in clips.items() if k in only.split(",")}
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
    lines, streaks = _streaks(image, depth_fraction)
    return streaks / lines


def border_streak_lines(image: np.ndarray, depth_fraction: float = 1 / 8) -> int:
    """How many such streak lines (``border_streak_share``) ``image`` has."""
    return _streaks(image, depth_fraction)[1]


def _streaks(image: np.ndarray, depth_fraction: float) -> tuple[int, int]:
    lines = streaks = 0
    for view in (image, image[::-1], image.transpose(1, 0, 2), image.transpose(1, 0, 2)[::-1]):
        depth = max(int(view.shape[0] * depth_fraction), 1)
        for k in range(depth):
            line, inner = view[k].astype(np.int16), view[k + 1].astype(np.int16)
            lines += 1
            streaks += int(np.array_equal(line, inner) and int(line.max()) - int(line.min()) > 8)
    return lines, streaks


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


def _fit(image: np.ndarray, tile: int) -> np.ndarray:
    """``image`` scaled into a ``tile`` square, aspect kept, on black."""
    h, w = image.shape[:2]
    k = tile / max(h, w)
    small = cv2.resize(image, (max(round(w * k), 1), max(round(h * k), 1)), interpolation=cv2.INTER_AREA)
    out = np.zeros((tile, tile, 3), np.uint8)
    y, x = (tile - small.shape[0]) // 2, (tile - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def _contact_sheet(rows: list[list[np.ndarray]], path: Path, tile: int = 256) -> None:
    """One row of tiles per list (the driver's frames over the output's), JPEG or PNG by ``path``."""
    sheet = np.concatenate([np.concatenate([_fit(im, tile) for im in row], axis=1) for row in rows], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


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
    own_series: list[tuple[float, float]] = []  # the engine's own output landmarks (where it has them)
    times, inverted, folded, chroma, streaks = [], [], [], 0, 0
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
            if i % 4 == 0:
                streaks = max(streaks, border_streak_lines(out))
            if gray:
                chroma = max(chroma, int((out.max(axis=2).astype(int) - out.min(axis=2)).max()))
            found = tracker.track(out, t=i / 30.0)
            if track.found and found.found:
                out_series.append(_measures(found.landmarks))
                drv_series.append(_measures(track.landmarks))
                placed = getattr(engine, "output_landmarks", None)
                if placed is not None:
                    own_series.append((lm.mouth_opening(placed), lm.eye_opening(placed)))
    mouth_drv = [s[0] for s in drv_series]
    roll_drv = [s[2] for s in drv_series]
    eyes_drv = [s[1] for s in drv_series]
    corr: dict[str, float | None] = {
        "mouth": _correlation([s[0] for s in out_series], mouth_drv),
        "eyes": _correlation([s[1] for s in out_series], eyes_drv) if _moves(eyes_drv, 0.02) else None,
        "roll": _correlation([s[2] for s in out_series], roll_drv) if _moves(roll_drv, 1.0) else None,
    }
    # The same from where the engine put the landmarks: what it drew, whatever FaceMesh reads of it.
    own: dict[str, float | None] = {"mouth": None, "eyes": None}
    if len(own_series) == len(out_series):
        own["mouth"] = _correlation([s[0] for s in own_series], mouth_drv)
        own["eyes"] = _correlation([s[1] for s in own_series], eyes_drv) if _moves(eyes_drv, 0.02) else None
    # Contact sheet: rest, widest driver mouth, strongest blink, both roll extremes, last frame.
    picks = [first, int(np.argmax([lm.mouth_opening(t.landmarks) if t.found else 0 for t in tracks]))]
    picks.append(int(np.argmin([lm.eye_opening(t.landmarks) if t.found else 9 for t in tracks])))
    rolls = [t.pose.roll if t.found and t.pose is not None else 0.0 for t in tracks]
    picks += [int(np.argmax(rolls)), int(np.argmin(rolls)), len(frames) - 1]
    _contact_sheet(
        [[frames[p] for p in picks], [outputs[p] for p in picks]],
        workdir / f"sheet_{avatar_name}__{driver_name}.png",
    )
    # Small ones for docs/mesh.md.
    _contact_sheet(
        [[frames[p] for p in picks], [outputs[p] for p in picks]],
        workdir / f"small_{avatar_name}__{driver_name}.jpg",
        tile=128,
    )
    return {
        "avatar": avatar_name,
        "driver": driver_name,
        "frames": len(frames),
        "output_face_found": round(len(out_series) / max(sum(t.found for t in tracks), 1), 3),
        "corr": corr,
        "corr_engine_landmarks": own,
        "inverted_triangles": {"max": max(inverted, default=0), "frames_with": sum(n > 0 for n in inverted)},
        # Folds the landmark transfer made and the engine corrected (engines with debug_stats only).
        "corrected_folds": {"max": max(folded, default=0), "frames_with": sum(n > 0 for n in folded)},
        "border_streak_share": round(border_streak_share(engine.avatar_canvas), 3),
        # Streak lines (as above, counted) in the outputs, the most in any of every 4th frame.
        "border_streak_lines_output_max": streaks,
        "gray_chroma_max": chroma if gray else None,
        "ms_per_frame": round(1000 * statistics.fmean(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mesh_quality"))
    parser.add_argument("--stride", type=int, default=1, help="use every n-th driving frame")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--only", default="", help="comma-separated avatar names (default: all)")
    parser.add_argument("--drivers", default="", help="comma-separated driver names (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    args.workdir.mkdir(parents=True, exist_ok=True)
    avatars = make_avatars(args.workdir)
    if args.only:
        avatars = {k: v for k, v in avatars.items() if k in args.only.split(",")}
    drivers = make_drivers(args.stride, args.drivers)
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
