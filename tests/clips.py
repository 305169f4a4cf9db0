"""Driving clips the tests make from the shared one: a variable frame rate, with a beep to find in the
sound (never copied into the repository; written to the test's folder)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48000
BEEP_FRAME = 25  # the driver's sound has a beep starting at this frame's time


def vfr_driver(
    path: Path, driving_video: Path, audio_codec: str | None = "aac", fmt: str = "mp4"
) -> list[float]:
    """40 real face frames at a variable rate (1/30 s steps, then 1/10 s, then 1/60 s), with silent
    sound in ``audio_codec`` (None: no sound) and a 1 kHz beep from frame ``BEEP_FRAME``'s time on.
    Returns the frames' times."""
    with av.open(str(driving_video)) as source:
        faces = [
            f.to_ndarray(format="rgb24") for _, f in zip(range(40), source.decode(video=0), strict=False)
        ]
    steps = [1 / 30] * 12 + [1 / 10] * 12 + [1 / 60] * 16
    times = [round(sum(steps[:i]) * 1000) / 1000 for i in range(40)]
    n_audio = round((times[-1] + 0.5) * AUDIO_RATE)
    sound = np.zeros(n_audio, np.float32)
    beep = round(times[BEEP_FRAME] * AUDIO_RATE)
    sound[beep : beep + 4800] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(4800) / AUDIO_RATE)
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = faces[0].shape[1], faces[0].shape[0], "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        audio = out.add_stream(audio_codec, rate=AUDIO_RATE) if audio_codec else None
        if audio is not None:
            audio.layout = "mono"
        for t, face in zip(times, faces, strict=True):
            frame = av.VideoFrame.from_ndarray(face, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is None:
            return times
        convert = av.AudioResampler(format=audio.codec_context.format, layout="mono", rate=AUDIO_RATE)
        for start in range(0, n_audio, 1024):
            block = sound[start : start + 1024][None]
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            for converted in convert.resample(frame):
                for packet in audio.encode(converted):
                    out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return times


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)]


def beep_time(path: Path) -> float:
    """When the sound first gets loud (seconds, on the file's clock)."""
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray()[0]
            loud = np.flatnonzero(np.abs(samples) > 0.2)
            if len(loud):
                return float(frame.time) + loud[0] / frame.sample_rate
    raise AssertionError(f"no beep in {path}")
