"""Benchmark the finishing step of a long recording: prints JSON.

A recording is written as a fragmented MP4 (crash-safe) and, when it stops, remuxed into a regular
MP4 with its index in front (``outputs.mp4.remux_regular``: streams copied, the index moved to the
front in place, flushed to disk) and renamed into place. This measures that step for a recording of
``--minutes`` minutes: the demo motion is encoded for 10 s as the recorder does (H.264 crf 23 at the
avatar's size, AAC 48 kHz mono), and its packets are repeated with new times until the fragmented
file is as long as asked, so a 10-minute file takes seconds to make. Reported: the time the finish
takes, the file sizes, and the most extra disk space in use while it runs (sampled every 5 ms).

    python bench/finish_recording.py [--minutes 10] [--size 512] [--folder DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

from avatarify_app.capture.demo_source import DemoSource
from avatarify_app.outputs import journal
from avatarify_app.outputs.mp4 import _MUX_OPTIONS, Mp4Writer, remux_regular

SEED_SECONDS = 10


def make_seed(path: Path, size: int) -> None:
    """10 s of the demo motion with a quiet tone, written by the recorder's writer (a regular MP4)."""
    rate = 48000
    with DemoSource(size=size) as source, Mp4Writer(path, (size, size), 30.0, audio_rate=rate) as writer:
        for i in range(SEED_SECONDS * 30):
            image = source.read()
            assert image is not None
            writer.write_video(image, t=i / 30)
            start, end = i * rate // 30, (i + 1) * rate // 30
            tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(start, end) / rate)
            writer.write_audio(tone[:, None].astype(np.float32), t=start / rate)


def make_long_fragmented(seed: Path, target: Path, minutes: float) -> None:
    """The seed's packets repeated, with new times, into a fragmented MP4 ``minutes`` long."""
    with av.open(str(seed)) as reader:
        streams = [reader.streams.video[0], reader.streams.audio[0]]
        packets = [p for p in reader.demux(streams) if p.dts is not None and p.size]
        span = {s.index: max(p.pts + p.duration for p in packets if p.stream is s) for s in streams}
        with av.open(str(target), "w", format="mp4", options=_MUX_OPTIONS) as writer:
            copies = {s.index: writer.add_stream_from_template(s) for s in streams}
            loops = int(np.ceil(minutes * 60 / SEED_SECONDS))
            for k in range(loops):
                for p in packets:
                    q = av.Packet(bytes(p))
                    shift = k * span[p.stream.index]
                    q.pts, q.dts, q.duration = p.pts + shift, p.dts + shift, p.duration
                    q.time_base = p.time_base
                    q.is_keyframe = p.is_keyframe
                    q.stream = copies[p.stream.index]
                    writer.mux(q)


def folder_bytes(folder: Path) -> int:
    total = 0
    for entry in os.scandir(folder):
        with contextlib.suppress(OSError):
            total += entry.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--folder", type=Path, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as temp:
        folder = Path(temp)
        seed = folder / "seed" / "seed.mp4"
        seed.parent.mkdir()
        make_seed(seed, args.size)
        partial = folder / f"rec.0123abcd{journal.PARTIAL_SUFFIX}"
        t0 = time.perf_counter()
        make_long_fragmented(seed, partial, args.minutes)
        synth_s = time.perf_counter() - t0
        fragmented = partial.stat().st_size
        before = folder_bytes(folder) + folder_bytes(seed.parent)
        peak = before
        running = True

        def sample() -> None:
            nonlocal peak
            while running:
                peak = max(peak, folder_bytes(folder) + folder_bytes(seed.parent))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        t0 = time.perf_counter()
        duration = remux_regular(partial, journal.saving_path(partial))
        os.replace(journal.saving_path(partial), folder / "rec.mp4")
        partial.unlink()
        finish_s = time.perf_counter() - t0
        running = False
        sampler.join()
        final_size = (folder / "rec.mp4").stat().st_size
        load = os.getloadavg()
    print(
        json.dumps(
            {
                "benchmark": "finish_recording",
                "minutes": args.minutes,
                "size": args.size,
                "duration_s": round(duration, 2),
                "fragmented_mb": round(fragmented / 1e6, 1),
                "final_mb": round(final_size / 1e6, 1),
                "finish_s": round(finish_s, 2),
                "extra_disk_peak_mb": round((peak - before) / 1e6, 1),
                "synthesis_s": round(synth_s, 1),
                "loadavg_1_5_15": [round(x, 2) for x in load],
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            }
        )
    )


if __name__ == "__main__":
    main()
