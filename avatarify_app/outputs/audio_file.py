"""Read the audio track of a media file (to copy a driving video's sound into a rendered clip)."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np

from avatarify_app.errors import InputError

logger = logging.getLogger(__name__)


def read_audio(path: str | Path) -> tuple[np.ndarray, int] | None:
    """Decode the first audio stream of ``path``.

    Returns ``(samples, rate)``: samples float32 (n, channels) in [-1, 1], rate in Hz; channels are
    kept as in the file, but more than two are mixed down to stereo. Returns None when the file has
    no audio stream. Raises ``InputError`` when the file is missing or not a readable media file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            channels = min(stream.codec_context.channels or 1, 2)
            rate = stream.codec_context.sample_rate
            resampler = av.AudioResampler(
                format="fltp", layout="mono" if channels == 1 else "stereo", rate=rate
            )
            blocks: list[np.ndarray] = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    blocks.append(out.to_ndarray())  # (channels, n)
            for out in resampler.resample(None):
                blocks.append(out.to_ndarray())
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable audio or video file ({exc})") from exc
    if not blocks:
        return np.zeros((0, channels), np.float32), rate
    samples = np.concatenate(blocks, axis=1).T.astype(np.float32, copy=False)  # (n, channels)
    logger.info("read %.2f s of audio from %s (%d Hz x%d)", len(samples) / rate, path, rate, channels)
    return np.ascontiguousarray(samples), rate
