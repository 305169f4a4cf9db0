"""Benchmark the sound part of ``avatarify render``: copying the driver's packets vs decoding and
encoding them to AAC (what ``render`` did before, and still does for PCM or Vorbis). Prints JSON.

The driver's sound goes into an ``Mp4Writer`` exactly as ``render`` puts it there (``write_until``
after each frame, ``write_rest`` at the end), around tiny gray frames at the driver's frame times, so
the picture costs almost nothing. Only the sound's calls (opening it included) are timed; each way runs
``--repeat`` times and the best run is reported.

    python bench/render_sound.py [--driving CLIP] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from avatarify_app.outputs.driver_sound import DriverSound, SoundEncoder, open_driver_sound
from avatarify_app.outputs.mp4 import Mp4Writer

DEFAULT_DRIVER = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "driving_mouth_open.mp4"


def open_encoder(path: Path) -> DriverSound:
    container = av.open(str(path))
    return SoundEncoder(path, container, container.streams.audio[0])


def run_once(driver: Path, out: Path, encode: bool) -> float:
    """Seconds spent in the sound's calls for one render's worth of the driver's sound."""
    with av.open(str(driver)) as source:
        times = [float(f.time) for f in source.decode(video=0)]
    gray = np.full((48, 64, 3), 100, np.uint8)
    t0 = time.perf_counter()
    sound = open_encoder(driver) if encode else open_driver_sound(driver)
    spent = time.perf_counter() - t0
    assert sound is not None, f"{driver} has no sound"
    with sound, Mp4Writer(out, (64, 48), 30.0, **sound.writer_audio) as writer:
        for t in times:
            writer.write_video(gray, t=t - times[0])
            t0 = time.perf_counter()
            sound.write_until(writer, t - times[0])
            spent += time.perf_counter() - t0
        t0 = time.perf_counter()
        sound.write_rest(writer)
        spent += time.perf_counter() - t0
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driving", type=Path, default=DEFAULT_DRIVER)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.mp4"
        copy_s = min(run_once(args.driving, out, encode=False) for _ in range(args.repeat))
        encode_s = min(run_once(args.driving, out, encode=True) for _ in range(args.repeat))
    with av.open(str(args.driving)) as source:
        stream = source.streams.audio[0]
        codec, rate = stream.codec_context.codec.canonical_name, stream.codec_context.sample_rate
        seconds = float(stream.duration * stream.time_base) if stream.duration else None
    print(
        json.dumps(
            {
                "benchmark": "render_sound",
                "driver": str(args.driving),
                "codec": codec,
                "rate": rate,
                "sound_s": round(seconds, 2) if seconds else None,
                "copy_ms": round(copy_s * 1000, 1),
                "decode_encode_ms": round(encode_s * 1000, 1),
                "ratio": round(encode_s / copy_s, 1),
                "repeat": args.repeat,
                "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            }
        )
    )


if __name__ == "__main__":
    main()
