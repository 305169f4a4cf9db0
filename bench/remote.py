"""Benchmark the remote engine on loopback: prints JSON.

A real ``avatarify serve`` process (mesh engine, and a tiny-config fomm with random weights) and real
clients (``RemoteEngine``) in this process; the shared driving clip, tracked once beforehand (tracking
costs the same locally and remotely), handed to ``animate`` at 30 fps for ``--seconds``.

Per configuration:
- ``local``: the same engine in this process; latency = ``animate``'s own time (capture to output).
- ``remote``: ``arrival`` latency = a result's arrival minus the moment its frame was handed over
  (encode, both hops, the worker's decode/engine/encode); ``shown`` latency = when ``animate`` first
  returns that result (the app shows results at its frame ticks, so up to one frame interval more);
  ``added_ms`` = remote minus local, at p50/p95. Parts: the client's JPEG encode and decode, the worker's
  time per frame (``worker_ms``: decode, paste, engine, encode), the control channel's ping (``rtt``).
- ``fps_out``: new results shown per second; ``up_kbit_s``/``down_kbit_s``: data channel payload;
  ``wire_*_kbit_s``: all bytes through the ICE transport (headers, pings, a video downlink);
  ``worker_cpu_per_session``: the worker process's CPU
  seconds per second (from /proc), divided by the sessions.
- 4 sessions at once: 4 clients, each its own thread at 30 fps.
- The mesh engine's downlink also at 256 JPEG q60 (``remote_down_256_q60``) and as a VP8 video track
  (``remote_down_vp8``).

    python bench/remote.py [--seconds 10] [--size 512] [--sessions 4] [--skip-fomm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "engines" / "fomm"))
MEDIA = REPO.parent / "shared" / "media"
TOKEN = "bench-token-0123456789"
os.environ.setdefault("AVATARIFY_ICE_ADDRESSES", "127.0.0.1")

from avatarify_app.avatars import load_image  # noqa: E402
from avatarify_app.capture import VideoFileSource  # noqa: E402
from avatarify_app.config import EngineOptions  # noqa: E402
from avatarify_app.engines import FommChoice, MeshChoice, create_engine  # noqa: E402
from avatarify_app.engines.remote import RemoteEngine  # noqa: E402
from avatarify_app.engines.remote import client as remote_client  # noqa: E402
from avatarify_app.tracking import FaceTracker, TrackerOptions  # noqa: E402


def _clip(path: Path) -> list[tuple[np.ndarray, object]]:
    source = VideoFileSource(path, loop=False)
    source.open()
    frames = []
    with FaceTracker(TrackerOptions(static=False)) as tracker:
        t = 0.0
        while (image := source.read()) is not None:
            frames.append((image, tracker.track(image, t)))
            t += 1 / 30
    source.close()
    return frames


def _stats(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {}
    v = sorted(values_ms)
    return {"p50_ms": round(v[len(v) // 2], 1), "p95_ms": round(v[int(len(v) * 0.95)], 1), "n": len(v)}


def _tiny_fomm(folder: Path) -> tuple[Path, Path]:
    import torch
    import yaml
    from fomm_helpers import randomize_, save_original_layout, tiny_config_dict

    from avatarify_app.engines.fomm.config import FommConfig, build_models

    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict()), encoding="utf-8")
    torch.manual_seed(0)
    kp, gen = build_models(FommConfig.from_yaml(config))
    randomize_(kp, gen)
    return save_original_layout(folder / "tiny.pth.tar", kp, gen), config


class Worker:
    """``avatarify serve`` in its own process."""

    def __init__(self, data_home: Path, engine_args: list[str], sessions: int) -> None:
        env = {**os.environ, "XDG_DATA_HOME": str(data_home)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "avatarify_app", "serve", "--host", "127.0.0.1", "--port", "0",
             "--token", TOKEN, "--max-sessions", str(sessions), *engine_args],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.process.stdout], daemon=True).start()
        deadline = time.monotonic() + 300
        self.start_line = ""
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise RuntimeError("the worker exited") from None
                continue
            if line.startswith("avatarify worker:"):
                self.start_line = line.strip()
            if m := re.search(r"--remote (\S+) --token \S+ --fingerprint (\S+)", line):
                self.address, self.fingerprint = m.groups()
                return
        raise RuntimeError("the worker did not start")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class _Timed:
    """Arrival times of results (wraps the client's frames channel handler) and codec times."""

    def __init__(self, engine: RemoteEngine) -> None:
        self.arrivals: dict[int, float] = {}
        original = engine._on_frame

        def on_frame(link, message) -> None:
            now = time.monotonic()
            original(link, message)
            latest = engine._latest
            if latest is not None and latest.seq not in self.arrivals:
                self.arrivals[latest.seq] = now

        engine._on_frame = on_frame  # type: ignore[method-assign]


def _run_remote(engine: RemoteEngine, frames, seconds: float, out: dict) -> None:
    timed = _Timed(engine)
    handed: dict[int, float] = {}
    shown: list[float] = []
    seen: set[int] = set()
    start_stats = (
        engine.stats.bytes_up,
        engine.stats.bytes_down,
        engine.stats.wire_up,
        engine.stats.wire_down,
    )
    count = int(seconds * 30)
    t0 = time.monotonic()
    worker_ms = []
    for i in range(count):
        due = t0 + i / 30
        time.sleep(max(0.0, due - time.monotonic()))
        image, track = frames[i % len(frames)]
        handed[engine._seq + 1] = time.monotonic()
        engine.animate(image, track)
        now = time.monotonic()
        answered = engine._seq - engine.frames_behind
        if engine._shown_seq >= 0 and answered not in seen and answered in handed:
            seen.add(answered)
            shown.append((now - handed[answered]) * 1000)
            if engine.stats.worker_ms is not None:
                worker_ms.append(engine.stats.worker_ms)
    elapsed = time.monotonic() - t0
    arrival = [(timed.arrivals[s] - handed[s]) * 1000 for s in timed.arrivals if s in handed]
    out.update(
        arrival=_stats(arrival),
        shown=_stats(shown),
        worker_ms=_stats(worker_ms),
        rtt_ms=round(engine.stats.rtt_ms or 0, 1),
        fps_out=round(len(seen) / elapsed, 1),
        up_kbit_s=round((engine.stats.bytes_up - start_stats[0]) * 8 / elapsed / 1000),
        down_kbit_s=round((engine.stats.bytes_down - start_stats[1]) * 8 / elapsed / 1000),
        wire_up_kbit_s=round((engine.stats.wire_up - start_stats[2]) * 8 / elapsed / 1000),
        wire_down_kbit_s=round((engine.stats.wire_down - start_stats[3]) * 8 / elapsed / 1000),
        dropped_up=engine.stats.frames_dropped,
    )


def _run_local(engine, frames, seconds: float) -> dict:
    times = []
    count = int(seconds * 30)
    t0 = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, t0 + i / 30 - time.monotonic()))
        image, track = frames[i % len(frames)]
        started = time.monotonic()
        engine.animate(image, track)
        times.append((time.monotonic() - started) * 1000)
    return {
        "latency": _stats(times),
        "fps_out": round(min(30.0, 1000 / max(statistics.fmean(times), 1e-3)), 1),
    }


def _codec_times(frames, size: int) -> dict:
    from avatarify_app.engines.remote import protocol as p

    placer = p.WindowPlacer(256)
    enc, dec = [], []
    import cv2

    out = cv2.resize(frames[0][0], (size, size))
    for image, track in frames[:60]:
        if not track.found:
            continue
        t = time.perf_counter()
        p.encode_frame(p.KIND_FRAME, 1, 0.0, image, track, placer, 80)
        enc.append((time.perf_counter() - t) * 1000)
        data = p.encode_jpeg(out, 80)
        t = time.perf_counter()
        p.decode_jpeg(data, 4096)
        dec.append((time.perf_counter() - t) * 1000)
    return {"client_encode": _stats(enc), "client_decode": _stats(dec)}


def bench(name: str, engine_args: list[str], local_factory, avatar, frames, args, data_home: Path) -> dict:
    result: dict = {"engine": name}
    local = local_factory(EngineOptions(size=args.size))
    local.set_avatar(avatar)
    _run_local(local, frames[:30], 1.0)  # warm up
    result["local"] = _run_local(local, frames, args.seconds)
    local.close()
    worker = Worker(data_home, engine_args, max(args.sessions, 1))
    result["worker_start_line"] = worker.start_line
    try:
        engine = RemoteEngine(EngineOptions(size=args.size), worker.address, TOKEN, worker.fingerprint)
        engine.set_avatar(avatar)
        _run_remote(engine, frames[:60], 2.0, {})  # warm up
        cpu0, t0 = worker.cpu_s(), time.monotonic()
        remote: dict = {}
        _run_remote(engine, frames, args.seconds, remote)
        remote["worker_cpu_per_session"] = round((worker.cpu_s() - cpu0) / (time.monotonic() - t0), 2)
        engine.close()
        result["remote"] = remote
        for key in ("p50_ms", "p95_ms"):
            result[f"added_{key}"] = {
                "arrival": round(remote["arrival"][key] - result["local"]["latency"][key], 1),
                "shown": round(remote["shown"][key] - result["local"]["latency"][key], 1),
            }
        if name == "mesh":  # the downlink's economy setting: results at 256, JPEG 60
            engine = RemoteEngine(
                EngineOptions(size=args.size), worker.address, TOKEN, worker.fingerprint, down_side=256,
                down_quality=60,
            )  # fmt: skip
            engine.set_avatar(avatar)
            _run_remote(engine, frames[:60], 2.0, {})
            economy: dict = {}
            _run_remote(engine, frames, args.seconds, economy)
            engine.close()
            result["remote_down_256_q60"] = economy
            engine = RemoteEngine(
                EngineOptions(size=args.size), worker.address, TOKEN, worker.fingerprint, down="video"
            )
            engine.set_avatar(avatar)
            _run_remote(engine, frames[:60], 2.0, {})
            video: dict = {}
            _run_remote(engine, frames, args.seconds, video)
            engine.close()
            result["remote_down_vp8"] = video
        if args.sessions > 1:
            engines = [
                RemoteEngine(EngineOptions(size=args.size), worker.address, TOKEN, worker.fingerprint)
                for _ in range(args.sessions)
            ]
            for e in engines:
                e.set_avatar(avatar)
            outs: list[dict] = [{} for _ in engines]
            cpu0, t0 = worker.cpu_s(), time.monotonic()
            threads = [
                threading.Thread(target=_run_remote, args=(e, frames, args.seconds, o))
                for e, o in zip(engines, outs, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu = (worker.cpu_s() - cpu0) / (time.monotonic() - t0)
            for e in engines:
                e.close()
            result[f"{args.sessions}_sessions"] = {
                "fps_out": [o["fps_out"] for o in outs],
                "shown_p50_ms": [o["shown"].get("p50_ms") for o in outs],
                "arrival_p50_ms": [o["arrival"].get("p50_ms") for o in outs],
                "worker_ms_p50": [o["worker_ms"].get("p50_ms") for o in outs],
                "down_kbit_s": [o["down_kbit_s"] for o in outs],
                "worker_cpu_per_session": round(cpu / args.sessions, 2),
            }
    finally:
        worker.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--skip-fomm", action="store_true")
    parser.add_argument("--avatar", type=Path, default=MEDIA / "avatar_mona_lisa.jpg")
    parser.add_argument("--driving", type=Path, default=MEDIA / "driving_mouth_open.mp4")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    avatar = load_image(args.avatar)
    frames = _clip(args.driving)
    report: dict = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_before": os.getloadavg(),
        },
        "clip": {"frames": len(frames), "fps": 30, "size": list(frames[0][0].shape[:2])},
        "codec": _codec_times(frames, args.size),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        data_home = Path(tmp)
        report["runs"].append(
            bench(
                "mesh",
                ["--engine", "mesh"],
                lambda o: create_engine(MeshChoice(), o),
                avatar,
                frames,
                args,
                data_home,
            )
        )
        if not args.skip_fomm:
            checkpoint, config = _tiny_fomm(data_home)
            fomm_args = ["--engine", "fomm", "--checkpoint", str(checkpoint), "--config", str(config)]
            fomm_args += ["--backend", "torch"]

            def fomm(o: EngineOptions):
                return create_engine(FommChoice(checkpoint=checkpoint, config=config, backend="torch"), o)

            report["runs"].append(bench("fomm-tiny", fomm_args, fomm, avatar, frames, args, data_home))
    report["machine"]["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    assert remote_client  # the module whose handlers the bench wraps
    main()
