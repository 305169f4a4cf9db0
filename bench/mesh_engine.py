"""Benchmark the mesh engine end to end on the shared driving clip: prints JSON.

Per frame: tracking (FaceMesh in stream mode with smoothing), ``animate`` (landmark transfer, fold
correction, warp, mouth cavity) and their total, at output sizes 256 and 512, and the frames per second
that total allows; how many frames needed a fold correction, and the most triangles left inverted.
Encoding and display are not included (see bench/pipeline.py for the live pipeline).

``parts`` splits animate: ``fold_guard`` (``FoldGuard.unfold`` and ``inverted``), ``warp``
(``warp_mesh``), ``mouth_eyes`` (``paint_mouth_cavity`` and ``paint_closed_eyelids``) and ``motion``
(the rest: landmark transfer, irises, mesh vertices). They are timed by wrapping those functions where
the engine module calls them, so the same script times any version of the engine that has them.

    python bench/mesh_engine.py [--avatar IMG] [--driving VIDEO] [--repeat 2] [--cv-threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.avatars import load_image
from avatarify_app.capture import VideoFileSource
from avatarify_app.engines import EngineOptions, MeshChoice, create_engine
from avatarify_app.engines.mesh import engine as mesh_engine
from avatarify_app.engines.mesh.folds import FoldGuard
from avatarify_app.tracking import FaceTracker, TrackerOptions

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def read_clip(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of the clip at ``path`` (RGB uint8) and its fps, read by the app's own reader."""
    source = VideoFileSource(path, loop=False)
    source.open()
    frames = []
    while (image := source.read()) is not None:
        frames.append(image)
    source.close()
    return frames, source.fps


def _summary(values_s: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_s)
    return {
        "mean_ms": round(statistics.fmean(ms), 2),
        "p50_ms": round(ms[len(ms) // 2], 2),
        "p95_ms": round(ms[int(len(ms) * 0.95)], 2),
    }


class _PartTimes:
    """Wraps the engine's steps to time them: seconds spent in each part during the current frame."""

    PARTS = {
        "fold_guard": [(FoldGuard, "unfold"), (FoldGuard, "inverted")],
        "warp": [(mesh_engine, "warp_mesh")],
        "mouth_eyes": [(mesh_engine, "paint_mouth_cavity"), (mesh_engine, "paint_closed_eyelids")],
    }

    def __init__(self) -> None:
        self.frame: dict[str, float] = dict.fromkeys(self.PARTS, 0.0)
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> _PartTimes:
        for part, places in self.PARTS.items():
            for owner, name in places:
                original = getattr(owner, name)
                self._saved.append((owner, name, original))
                setattr(owner, name, self._timed(part, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)

    def _timed(self, part: str, function):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.frame[part] += time.perf_counter() - t0

        return timed


def bench(size: int, avatar: np.ndarray, frames: list[np.ndarray], fps: float, repeat: int) -> dict:
    engine = create_engine(MeshChoice(), EngineOptions(size=size))
    engine.set_avatar(avatar)
    tracking, animate, total, folded, inverted = [], [], [], [], []
    parts: dict[str, list[float]] = {name: [] for name in ("motion", *_PartTimes.PARTS)}
    for _ in range(repeat):
        with FaceTracker(TrackerOptions(static=False)) as tracker, _PartTimes() as timer:
            for index, image in enumerate(frames):
                t0 = time.perf_counter()
                track = tracker.track(image, t=index / fps)
                t1 = time.perf_counter()
                timer.frame = dict.fromkeys(timer.frame, 0.0)
                engine.animate(image, track)
                t2 = time.perf_counter()
                tracking.append(t1 - t0)
                animate.append(t2 - t1)
                total.append(t2 - t0)
                for name, seconds in timer.frame.items():
                    parts[name].append(seconds)
                parts["motion"].append(t2 - t1 - sum(timer.frame.values()))
                stats = getattr(engine, "debug_stats", {})
                folded.append(stats.get("folded_triangles", 0))
                inverted.append(stats.get("inverted_triangles", 0))
    skip = 5  # the first frames include MediaPipe's start-up
    result = {
        "size": size,
        "frames": len(total) - skip,
        "tracking": _summary(tracking[skip:]),
        "animate": _summary(animate[skip:]),
        "total": _summary(total[skip:]),
        "parts": {name: _summary(values[skip:]) for name, values in parts.items()},
    }
    result["fps"] = round(1000 / result["total"]["mean_ms"], 1)
    # Folds the landmark transfer made (corrected before the warp) and triangles left turned over.
    result["frames_with_folds_corrected"] = sum(n > 0 for n in folded[skip:])
    result["inverted_triangles_max"] = max(inverted[skip:], default=0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avatar", type=Path, default=MEDIA / "avatar_mona_lisa.jpg")
    parser.add_argument("--driving", type=Path, default=MEDIA / "driving_mouth_open.mp4")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cv-threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's)")
    parser.add_argument("--sizes", default="256,512", help="comma-separated output sizes")
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    avatar = load_image(args.avatar)
    frames, fps = read_clip(args.driving)
    report = {
        "benchmark": "mesh_engine",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "driving": {"file": args.driving.name, "frames": len(frames), "size": list(frames[0].shape[1::-1])},
        "avatar": args.avatar.name,
        "opencv_threads": cv2.getNumThreads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": [bench(int(size), avatar, frames, fps, args.repeat) for size in args.sizes.split(",")],
    }
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
