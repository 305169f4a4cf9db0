"""Benchmark the live pipeline end to end: prints JSON.

The shared driving clip plays as the camera (the real video-file source, paced at its 30 fps),
FaceMesh tracking and the mesh engine animate the avatar, and the output thread sends 1280x720
letterboxed frames at 30 fps to an in-memory virtual camera (the real ``pyvirtualcam.Camera`` with a
backend that keeps nothing), so every stage of live mode runs except a device driver.

Figures cover the time after a warm-up (engine and models loaded, first frames through):
capture -> output latency p50/p95 over fresh frames, output fps, the spread of output intervals,
frames dropped by the newest-wins queues, and mean inference (tracking + engine) time.

    python bench/pipeline.py [--seconds 20] [--warmup 3] [--avatar IMG] [--driving VIDEO] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
import pyvirtualcam

from avatarify_app.config import LiveSettings, SourceSpec, VirtualCameraSettings
from avatarify_app.engines import EngineOptions
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import Event, FramesReady, MessagePosted, MetricsUpdated

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
BACKEND = "avatarify-bench-null"


class _NullCamera:
    """A pyvirtualcam backend that records when frames were sent and keeps nothing else."""

    send_times: list[float] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw) -> None:
        self._device = device or "null"

    def send(self, frame: np.ndarray) -> None:
        _NullCamera.send_times.append(time.monotonic())

    def close(self) -> None:
        pass

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time (default: 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="time before measuring (default: 3)")
    parser.add_argument("--avatar", type=Path, default=MEDIA / "avatar_mona_lisa.jpg")
    parser.add_argument("--driving", type=Path, default=MEDIA / "driving_mouth_open.mp4")
    parser.add_argument("--size", type=int, default=512, help="engine output size (default: 512)")
    args = parser.parse_args()

    pyvirtualcam.register_backend(BACKEND, _NullCamera)
    settings = LiveSettings(
        source=SourceSpec(kind="video", path=args.driving),
        avatar=args.avatar,
        engine="mesh",
        engine_options=EngineOptions(size=args.size),
        virtual_camera=VirtualCameraSettings(width=1280, height=720, fps=30.0, backend=BACKEND),
        output_fps=30.0,
    )
    controller = Controller(settings)
    first_frame = threading.Event()
    inference_ms: list[tuple[float, float]] = []
    face_frames = [0, 0]  # (with a face, all) after the warm-up
    messages: list[str] = []
    t_measure = float("inf")

    def on_event(event: Event) -> None:
        if isinstance(event, FramesReady):
            first_frame.set()
            if time.monotonic() >= t_measure:
                face_frames[0] += event.face_found
                face_frames[1] += 1
        elif isinstance(event, MetricsUpdated):
            inference_ms.append((time.monotonic(), event.metrics.inference_ms))
        elif isinstance(event, MessagePosted):
            messages.append(f"{event.message.level.value}: {event.message.text}")

    controller.subscribe(on_event)
    t_start = time.monotonic()
    controller.start()
    try:
        if not first_frame.wait(60):
            raise SystemExit(f"no frame came out of the pipeline within 60 s; messages: {messages}")
        time_to_first_frame = time.monotonic() - t_start
        threading.Event().wait(args.warmup)
        t_measure = time.monotonic()
        before = controller.totals()
        threading.Event().wait(args.seconds)
        t_end = time.monotonic()
        after = controller.totals(since=t_measure)
    finally:
        t_stop = time.monotonic()
        controller.stop()
        stop_s = time.monotonic() - t_stop
    assert before is not None
    assert after is not None

    measured = t_end - t_measure
    sends = np.array([t for t in _NullCamera.send_times if t_measure <= t < t_end])
    intervals_ms = np.diff(sends) * 1000.0
    result = {
        "benchmark": "pipeline",
        "engine": "mesh",
        "engine_size": args.size,
        "virtual_camera": "1280x720 @ 30 fps (in-memory backend)",
        "input": f"{args.driving.name} at its 30 fps, looping",
        "measured_s": round(measured, 1),
        "latency_p50_ms": round(after.latency_p50_ms, 1),
        "latency_p95_ms": round(after.latency_p95_ms, 1),
        "output_fps": round(len(sends) / measured, 2),
        "output_interval_p5_p50_p95_ms": [
            round(float(v), 1) for v in np.percentile(intervals_ms, [5, 50, 95])
        ],
        "fresh_output_fps": round((after.fresh_out - before.fresh_out) / measured, 2),
        "input_fps": round((after.frames_in - before.frames_in) / measured, 2),
        "dropped_frames": after.dropped_frames - before.dropped_frames,
        "inference_ms_mean": round(float(np.mean([ms for t, ms in inference_ms if t >= t_measure + 1])), 1),
        "face_found_ratio": round(face_frames[0] / max(face_frames[1], 1), 3),
        "time_to_first_frame_s": round(time_to_first_frame, 2),
        "stop_s": round(stop_s, 3),
        "messages": messages,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
