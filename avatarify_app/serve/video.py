"""The video downlink: results as a VP8 track (about 0.5-1.5 Mbit/s instead of JPEG's several), each
frame carrying the sequence number it answers (``protocol.stamp_seq``). Newest wins: a result waiting
for the encoder is replaced by a newer one."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import numpy as np

from avatarify_app.engines.remote import protocol as p

VIDEO_CLOCK = 90_000


def result_track() -> Any:
    """A new ``aiortc`` video track to ``put`` results into (on the event loop's thread)."""
    import av
    from aiortc import MediaStreamTrack

    class ResultTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self._frame: np.ndarray | None = None
            self._ready = asyncio.Event()
            self._start = time.monotonic()
            self._last_pts = -1

        def put(self, image: np.ndarray, seq: int) -> None:
            """``image``: RGB uint8 with even sides."""
            self._frame = p.stamp_seq(image, seq)
            self._ready.set()

        async def recv(self) -> Any:
            await self._ready.wait()
            self._ready.clear()
            frame = self._frame
            assert frame is not None
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            pts = max(self._last_pts + 1, int((time.monotonic() - self._start) * VIDEO_CLOCK))
            self._last_pts = pts
            video.pts = pts
            video.time_base = fractions.Fraction(1, VIDEO_CLOCK)
            return video

    return ResultTrack()
