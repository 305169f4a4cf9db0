"""MP4 writer: H.264 video plus optional AAC audio, stamped with explicit times, safe to kill.

The file is a fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``) with a keyframe about
every second, so a process that dies mid-way leaves a file that players and PyAV open and decode up to
the last complete fragment.
"""

from __future__ import annotations

import errno
import logging
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from avatarify_app.errors import OutputError

logger = logging.getLogger(__name__)

# Video pts are in 1/90000 s (the MPEG clock): fine enough for any frame rate, exact for 30 fps.
VIDEO_TIME_BASE = Fraction(1, 90000)
# Audio gaps or overlaps smaller than this (seconds) are absorbed by writing samples back to back; a
# larger gap is filled with silence and a larger overlap is cut, so audio follows the caller's clock.
AUDIO_RESYNC_S = 0.02
# flush_packets: each fragment goes to the file whole when the muxer emits it, instead of in 32 KiB
# pieces spread over time, so a killed process leaves the file ending on a fragment boundary.
# The mp4 muxer shifts every stream by the AAC encoder's priming (1024 samples) so no timestamp is
# negative: audio and video stay in step, both start about 21 ms late (the first video frame keeps 0).
_MUX_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
_LAYOUTS = {1: "mono", 2: "stereo"}


class Mp4Writer:
    """Writes RGB frames (and float32 audio) into an MP4 file.

    Video is H.264 (libx264, yuv420p, preset ``veryfast``); audio is AAC at ``audio_rate``. Times are
    seconds from the start of the file; frames may come at any rate (variable frame rate is kept).
    Not thread-safe: one thread calls ``write_video``, ``write_audio`` and ``close``.

    Raises ``OutputError`` (with a sentence for the user) when the file cannot be created or the disk
    fills up. After such an error the writer is closed; what was written before stays playable.
    """

    def __init__(
        self,
        path: str | Path,
        size: tuple[int, int],
        fps: float,
        audio_rate: int | None = None,
        audio_channels: int = 1,
        *,
        crf: int = 23,
        preset: str = "veryfast",
    ) -> None:
        width, height = size
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"size must be positive even (width, height) for yuv420p, got {size}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if audio_rate is not None and audio_channels not in _LAYOUTS:
            raise ValueError(f"audio_channels must be 1 or 2, got {audio_channels}")
        self.path = Path(path)
        self.size = (width, height)
        self.fps = float(fps)
        self.audio_rate = audio_rate
        self.audio_channels = audio_channels
        self._frames_written = 0
        self._last_video_pts = -1
        self._audio_next = 0  # next audio sample position (in samples from the start)
        self._audio_pending = np.zeros((0, audio_channels), np.float32)
        self._closed = False
        try:
            self._container = av.open(str(self.path), mode="w", format="mp4", options=_MUX_OPTIONS)
        except OSError as exc:
            raise _output_error(self.path, exc) from exc
        gop = max(1, round(self.fps))
        self._video = self._container.add_stream(
            "libx264",
            rate=Fraction(self.fps).limit_denominator(1001),
            options={"preset": preset, "crf": str(crf), "g": str(gop), "bf": "0"},
        )
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = VIDEO_TIME_BASE
        self._video.codec_context.time_base = VIDEO_TIME_BASE
        self._audio = None
        if audio_rate is not None:
            self._audio = self._container.add_stream("aac", rate=audio_rate)
            self._audio.layout = _LAYOUTS[audio_channels]
            self._audio.time_base = Fraction(1, audio_rate)
        self._regular_file = False
        self._good_size: int | None = None
        try:
            self._container.start_encoding()  # creates the file now, so a bad path fails here
        except OSError as exc:
            self._closed = True
            raise _output_error(self.path, exc) from exc
        self._regular_file = self.path.is_file()
        self._note_good_size()
        logger.info(
            "writing %s: %dx%d at %.3g fps%s",
            self.path,
            width,
            height,
            self.fps,
            f", audio {audio_rate} Hz x{audio_channels}" if audio_rate else "",
        )

    @property
    def frames_written(self) -> int:
        return self._frames_written

    @property
    def closed(self) -> bool:
        return self._closed

    def write_video(self, image_rgb_uint8: np.ndarray, t: float | None = None) -> None:
        """Append one frame. ``image_rgb_uint8``: RGB uint8 (height, width, 3) matching ``size``.

        ``t``: seconds from the start of the file; None means ``frames_written / fps``. A time not
        after the previous frame's is moved just after it (pts must increase).
        """
        self._check_open()
        width, height = self.size
        if image_rgb_uint8.shape != (height, width, 3) or image_rgb_uint8.dtype != np.uint8:
            raise ValueError(
                f"expected an RGB uint8 image of shape {(height, width, 3)}, "
                f"got {image_rgb_uint8.dtype} {image_rgb_uint8.shape}"
            )
        if t is None:
            t = self._frames_written / self.fps
        pts = max(round(t / VIDEO_TIME_BASE), self._last_video_pts + 1)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image_rgb_uint8), format="rgb24")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        self._mux(self._video.encode(frame))
        self._last_video_pts = pts
        self._frames_written += 1

    def write_audio(self, samples: np.ndarray, t: float | None = None) -> None:
        """Append audio. ``samples``: float32 (n, channels) in [-1, 1] at ``audio_rate``.

        ``t``: seconds from the start of the file of the first sample; None means right after the
        previous block. Samples before 0 s are cut; a gap or overlap over ``AUDIO_RESYNC_S`` against
        the previous block is filled with silence or cut.
        """
        self._check_open()
        if self._audio is None:
            raise ValueError("this writer was created without audio (audio_rate=None)")
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 1 and self.audio_channels == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] != self.audio_channels:
            raise ValueError(f"expected float32 samples (n, {self.audio_channels}), got {samples.shape}")
        rate = self.audio_rate
        assert rate is not None
        queued_end = self._audio_next + len(self._audio_pending)
        if t is not None:
            start = round(t * rate)
            if start < 0:
                samples, start = samples[-start:], 0
            tolerance = round(AUDIO_RESYNC_S * rate)
            if start > queued_end + tolerance:
                silence = np.zeros((start - queued_end, self.audio_channels), np.float32)
                samples = np.concatenate([silence, samples])
            elif start < queued_end - tolerance:
                samples = samples[queued_end - start :]
        if len(samples):
            self._audio_pending = np.concatenate([self._audio_pending, samples])
        self._encode_audio(final=False)

    def _encode_audio(self, final: bool) -> None:
        assert self._audio is not None
        assert self.audio_rate is not None  # the audio stream exists only with a rate
        frame_size = self._audio.codec_context.frame_size or 1024
        while len(self._audio_pending) >= frame_size or (final and len(self._audio_pending)):
            block = self._audio_pending[:frame_size]
            self._audio_pending = self._audio_pending[len(block) :]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block.T), format="fltp", layout=_LAYOUTS[self.audio_channels]
            )
            frame.sample_rate = self.audio_rate
            frame.pts = self._audio_next
            frame.time_base = self._audio.time_base
            self._audio_next += len(block)
            self._mux(self._audio.encode(frame))

    def close(self) -> None:
        """Flush the encoders and finish the file. Calling it twice is fine.

        Raises ``OutputError`` when the final data cannot be written (disk full); the file keeps what
        was written before.
        """
        if self._closed:
            return
        try:
            if self._audio is not None:
                self._encode_audio(final=True)
                self._mux(self._audio.encode(None))
            self._mux(self._video.encode(None))
        finally:
            if not self._closed:
                self._closed = True
                try:
                    self._container.close()
                except OSError as exc:
                    raise _output_error(self.path, exc) from exc
                logger.info("closed %s after %d frames", self.path, self._frames_written)

    def _mux(self, packets: list[av.Packet]) -> None:
        try:
            for packet in packets:
                self._container.mux(packet)
        except OSError as exc:
            self._abort()
            raise _output_error(self.path, exc) from exc
        self._note_good_size()

    def _note_good_size(self) -> None:
        """Remember the file's size: each mux call leaves it on a fragment boundary (flush_packets)."""
        if self._regular_file:
            try:
                self._good_size = os.path.getsize(self.path)
            except OSError:
                self._regular_file = False

    def _abort(self) -> None:
        """Close after a write error, keeping the fragments already on disk.

        A failed write may have left part of a fragment (a short write as the disk filled up); the file
        is cut back to the last whole fragment so that it decodes to its end.
        """
        self._closed = True
        try:
            self._container.close()
        except OSError:
            logger.debug("closing %s after a write error failed too", self.path, exc_info=True)
        if self._regular_file and self._good_size is not None:
            try:
                os.truncate(self.path, self._good_size)
            except OSError:
                logger.warning("could not cut %s back to its last whole fragment", self.path, exc_info=True)

    def _check_open(self) -> None:
        if self._closed:
            raise OutputError(f"{self.path}: the recording is already closed")

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()


def _output_error(path: Path, exc: OSError) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"{path}: the disk is full; the recording stopped (what was written is kept)")
    if exc.errno == errno.EFBIG:
        return OutputError(
            f"{path}: the file reached the size limit; the recording stopped (what was written is kept)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{path}: not allowed to write here; choose another folder")
    if exc.errno == errno.ENOENT:
        return OutputError(f"{path}: the folder {path.parent} does not exist; choose an existing folder")
    if exc.errno == errno.EISDIR:
        return OutputError(f"{path}: is a folder; give a file name ending in .mp4")
    return OutputError(f"{path}: cannot write the video ({exc.strerror or exc})")
