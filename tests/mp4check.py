"""What a finished MP4 must be, read from its bytes: top-level boxes and the movie header."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np


def top_level_boxes(path: Path) -> list[str]:
    """The types of the file's top-level boxes, in order (``ftyp``, ``moov``, ``mdat``...)."""
    names = []
    with open(path, "rb") as f:
        while header := f.read(8):
            if len(header) < 8:
                break
            size, name = struct.unpack(">I4s", header)
            skip = size - 8
            if size == 1:
                skip = struct.unpack(">Q", f.read(8))[0] - 16
            names.append(name.decode("latin-1"))
            if size == 0:
                break
            f.seek(skip, 1)
    return names


def movie_header_duration(path: Path) -> float:
    """The duration the ``mvhd`` box states, in seconds."""
    data = path.read_bytes()
    at = data.index(b"mvhd") + 4
    version = data[at]
    if version == 1:
        timescale, duration = struct.unpack(">IQ", data[at + 20 : at + 32])
    else:
        timescale, duration = struct.unpack(">II", data[at + 12 : at + 20])
    return duration / timescale


def content_end(path: Path, fps: float) -> float:
    """Where the decoded content ends, in seconds: the last video frame's time plus one frame
    (``1 / fps``), or the end of the last audio block when later."""
    with av.open(str(path)) as container:
        video_end = max(float(frame.time) for frame in container.decode(video=0)) + 1 / fps
    audio_end = 0.0
    with av.open(str(path)) as container:
        if container.streams.audio:
            for frame in container.decode(audio=0):
                audio_end = max(audio_end, float(frame.time) + frame.samples / frame.sample_rate)
    return max(video_end, audio_end)


def assert_regular_mp4(path: Path, fps: float) -> None:
    """The index (moov) before the media data (mdat), no fragments, and the movie header's duration
    equal to the content's within one frame."""
    boxes = top_level_boxes(path)
    assert "moof" not in boxes, f"still fragmented: {boxes}"
    assert {"moov", "mdat"} <= set(boxes), boxes
    assert boxes.index("moov") < boxes.index("mdat"), f"the index comes after the media data: {boxes}"
    stated, content = movie_header_duration(path), content_end(path, fps)
    assert abs(stated - content) <= 1 / fps, (
        f"movie header says {stated:.3f} s, content ends at {content:.3f} s"
    )


def decoded_audio(path: Path) -> tuple[np.ndarray, int] | None:
    """The file's first audio stream decoded: float32 samples (n, channels) and the rate in Hz; None
    when the file has no audio stream."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        blocks = [frame.to_ndarray() for frame in container.decode(audio=0)]  # AAC: planar float
        rate = container.streams.audio[0].codec_context.sample_rate
    return np.concatenate(blocks, axis=1).T.astype(np.float32), rate
