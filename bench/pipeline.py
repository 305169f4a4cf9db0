"""Benchmark the live pipeline end to end: prints JSON.

The shared driving clip plays as the camera (the real video-file source, paced at its 30 fps),
FaceMesh tracking and the mesh engine animate the avatar, and the output thread sends 1280x720
letterboxed frames at 30 fps to an in-memory virtual camera (the real ``pyvirtualcam.Camera`` with a
backend that keeps nothing), so every stage of live mode runs except a device driver.

Figures cover the time after a warm-up (engine and models loaded, first frames through):
capture -> output latency p50/p95 over fresh frames, output fps, the spread of output intervals,
frames dropped by the newest-wins queues, and mean inference (tracking + engine) time.

With ``--minutes N`` it is a soak run: N minutes measured, the process's resident memory (RSS),
threads and open files sampled every ``--sample-s`` seconds, and the RSS growth after the first
minute reported as a slope (MB per minute, least squares) and extrapolated to 30 minutes. The
benchmark keeps its own figures in fixed-size arrays, so it does not grow itself.

    python bench/pipeline.py [--seconds 20] [--warmup 3] [--avatar IMG] [--driving VIDEO] [--size 512]
    python bench/pipeline.py --minutes 10 [--record OUT.mp4]
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

from avatarify_app.config import SourceSpec, VirtualCameraSettings
from avatarify_app.engines import EngineOptions
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import Event, FramesReady, MessagePosted, MetricsUpdated
from avatarify_app.pipeline.settings import LiveSettings

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
BACKEND = "avatarify-bench-null"


class _TimeLog:
    """Times in a preallocated array (written in full at once, so filling it adds no memory)."""

    def __init__(self, size: int) -> None:
        self.times = np.full(size, np.inf)
        self.count = 0

    def add(self, t: float) -> None:
        if self.count < len(self.times):
            self.times[self.count] = t
        self.count += 1

    def between(self, t0: float, t1: float) -> np.ndarray:
        kept = self.times[: min(self.count, len(self.times))]
        return kept[(kept >= t0) & (kept < t1)]


class _NullCamera:
    """A pyvirtualcam backend that records when frames were sent and keeps nothing else."""

    send_times = _TimeLog(1)

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw) -> None:
        self._device = device or "null"

    def send(self, frame: np.ndarray) -> None:
        _NullCamera.send_times.add(time.monotonic())

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
    parser.add_argument("--minutes", type=float, help="soak: measure this many minutes, sampling memory")
    parser.add_argument("--sample-s", type=float, default=10.0, help="memory sampling period (soak)")
    parser.add_argument("--record", type=Path, help="also record the output to this MP4 file")
    args = parser.parse_args()
    if args.minutes is not None:
        args.seconds = args.minutes * 60.0
    _NullCamera.send_times = _TimeLog(int((args.warmup + args.seconds + 60) * 31))

    pyvirtualcam.register_backend(BACKEND, _NullCamera)
    settings = LiveSettings(
        source=SourceSpec(kind="video", path=args.driving),
        avatar=args.avatar,
        engine_options=EngineOptions(size=args.size),
        virtual_camera=VirtualCameraSettings(width=1280, height=720, fps=30.0, backend=BACKEND),
        output_fps=30.0,
    )
    controller = Controller(settings)
    first_frame = threading.Event()
    inference_ms = [0.0, 0]  # sum and count after the first measured second
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
            if time.monotonic() >= t_measure + 1:
                inference_ms[0] += event.metrics.inference_ms
                inference_ms[1] += 1
        elif isinstance(event, MessagePosted) and len(messages) < 50:
            messages.append(f"{event.message.level.value}: {event.message.text}")

    controller.subscribe(on_event)
    t_start = time.monotonic()
    controller.start()
    try:
        if not first_frame.wait(60):
            raise SystemExit(f"no frame came out of the pipeline within 60 s; messages: {messages}")
        time_to_first_frame = time.monotonic() - t_start
        if args.record is not None:
            controller.start_recording(args.record)
        threading.Event().wait(args.warmup)
        t_measure = time.monotonic()
        before = controller.totals()
        memory = _sample_memory(t_measure, args.seconds, args.sample_s if args.minutes else None)
        t_end = time.monotonic()
        after = controller.totals(since=t_measure)
    finally:
        t_stop = time.monotonic()
        controller.stop()
        stop_s = time.monotonic() - t_stop
    assert before is not None
    assert after is not None

    measured = t_end - t_measure
    sends = _NullCamera.send_times.between(t_measure, t_end)
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
        "inference_ms_mean": round(inference_ms[0] / max(inference_ms[1], 1), 1),
        "face_found_ratio": round(face_frames[0] / max(face_frames[1], 1), 3),
        "time_to_first_frame_s": round(time_to_first_frame, 2),
        "stop_s": round(stop_s, 3),
        "messages": messages,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        **memory,
    }
    print(json.dumps(result, indent=2))


def _process_figures() -> tuple[float, int, int]:
    """RSS (MB), threads and open file descriptors of this process (Linux /proc)."""
    rss_kb = 0
    threads = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss_kb / 1024.0, threads, len(os.listdir("/proc/self/fd"))


def _sample_memory(t0: float, seconds: float, every: float | None) -> dict[str, object]:
    """Wait ``seconds``; with ``every``, sample memory at that period and fit the growth after the
    first minute. Returns the JSON fields (none without ``every``)."""
    if every is None:
        threading.Event().wait(seconds)
        return {}
    samples: list[tuple[float, float, int, int]] = []
    t_next = t0
    while True:
        now = time.monotonic()
        samples.append((round(now - t0, 1), *_process_figures()))
        if now - t0 >= seconds:
            break
        t_next += every
        threading.Event().wait(max(min(t_next, t0 + seconds) - time.monotonic(), 0.0))
    after_first_minute = [(t, rss) for t, rss, *_ in samples if t >= 60.0]
    slope = last_half_slope = None
    if len(after_first_minute) >= 3:
        ts, rss = np.array(after_first_minute).T
        slope = float(np.polyfit(ts / 60.0, rss, 1)[0])
        # The allocator may hand memory back once in the first minutes, which tilts the whole fit;
        # the second half's slope shows the steady trend.
        half = ts >= max(60.0, ts[-1] / 2)
        if half.sum() >= 3:
            last_half_slope = float(np.polyfit(ts[half] / 60.0, rss[half], 1)[0])
    return {
        "rss_samples": [
            {"t_s": t, "rss_mb": round(r, 2), "threads": th, "fds": fd} for t, r, th, fd in samples
        ],
        "rss_first_minute_end_mb": round(after_first_minute[0][1], 2) if after_first_minute else None,
        "rss_end_mb": round(samples[-1][1], 2),
        "rss_growth_after_first_minute_mb": (
            round(samples[-1][1] - after_first_minute[0][1], 2) if after_first_minute else None
        ),
        "rss_slope_mb_per_min": round(slope, 4) if slope is not None else None,
        "rss_growth_30_min_extrapolated_mb": round(slope * 30, 2) if slope is not None else None,
        "rss_slope_last_half_mb_per_min": round(last_half_slope, 4) if last_half_slope is not None else None,
        "rss_growth_30_min_from_last_half_mb": (
            round(last_half_slope * 30, 2) if last_half_slope is not None else None
        ),
    }


if __name__ == "__main__":
    main()
