"""Benchmark the mesh engine end to end on the shared driving clip: prints JSON.

Per frame: tracking (FaceMesh in stream mode with smoothing), animate (landmark transfer, fold
correction, warp, mouth cavity) and their total, at output sizes 256 and 512, and the frames per second
that total allows; how many frames needed a fold correction, and the most triangles left inverted.
Encoding and display are not included (see bench/pipeline.py for the live pipeline).

    python bench/mesh_engine.py [--avatar IMG] [--driving VIDEO] [--repeat 2]
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
from avatarify_app.engines import EngineOptions, create_engine
from avatarify_app.tracking import FaceTracker, TrackerOptions

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def _read_clip(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames, fps


def _summary(values_s: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_s)
    return {
        "mean_ms": round(statistics.fmean(ms), 2),
        "p50_ms": round(ms[len(ms) // 2], 2),
        "p95_ms": round(ms[int(len(ms) * 0.95)], 2),
    }


def bench(size: int, avatar: np.ndarray, frames: list[np.ndarray], fps: float, repeat: int) -> dict:
    engine = create_engine("mesh", EngineOptions(size=size))
    engine.set_avatar(avatar)
    tracking, animate, total, folded, inverted = [], [], [], [], []
    for _ in range(repeat):
        with FaceTracker(TrackerOptions(static=False)) as tracker:
            for index, image in enumerate(frames):
                t0 = time.perf_counter()
                track = tracker.track(image, t=index / fps)
                t1 = time.perf_counter()
                engine.animate(image, track)
                t2 = time.perf_counter()
                tracking.append(t1 - t0)
                animate.append(t2 - t1)
                total.append(t2 - t0)
                stats = getattr(engine, "debug_stats", {})
                folded.append(stats.get("folded_triangles", 0))
                inverted.append(stats.get("inverted_triangles", 0))
    skip = 5  # the first frames include MediaPipe's start-up
    result = {
        "size": size,
        "frames": len(total) - skip,
        "tracking": _summary(tracking[skip:]),
        "warp": _summary(animate[skip:]),
        "total": _summary(total[skip:]),
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
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    avatar = load_image(args.avatar)
    frames, fps = _read_clip(args.driving)
    report = {
        "benchmark": "mesh_engine",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "driving": {"file": args.driving.name, "frames": len(frames), "size": list(frames[0].shape[1::-1])},
        "avatar": args.avatar.name,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": [bench(size, avatar, frames, fps, args.repeat) for size in (256, 512)],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
