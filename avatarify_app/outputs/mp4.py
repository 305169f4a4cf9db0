"""MP4 writer: H.264 video plus optional audio (encoded to AAC, or copied from another file's
stream), stamped with explicit times, safe to kill.

While writing, the file is a fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``) with a
keyframe about every second, under a temporary name beside the final one
(``clip.<8 hex digits>.partial.mp4``, unique, so two writers to one path never meet): a process that
dies mid-way leaves a file that players decode up to the last complete fragment, under a name that
says it is incomplete (``outputs.journal`` notes it, ``outputs.repair`` repairs it). A clean
``close`` remuxes it (streams copied, no re-encode) into a regular MP4 with the index (``moov``) in
front and the true duration in the movie header, which every player, browsers included, reads the
same way, and moves that to the final name at once (``os.replace``): the final name only ever holds
a complete file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import secrets
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.audio.stream import AudioStream

from avatarify_app.errors import DiskFullError, InputError, OutputError, is_no_room, os_error_words
from avatarify_app.frames import check_rgb
from avatarify_app.outputs import journal

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
# A copied audio stream: the index waits for the first packets, which some codecs need to describe
# themselves (AC-3); it is still written with the first fragment, so a killed process leaves the same.
# Seeing the first packets, the muxer also keeps a copied stream's priming in an edit list: nothing
# is shifted.
_COPY_MUX_OPTIONS = {**_MUX_OPTIONS, "movflags": _MUX_OPTIONS["movflags"] + "+delay_moov"}
# The finished file: ffmpeg writes the index at the end, then moves it to the front in place.
_FINISH_OPTIONS = {"movflags": "faststart"}
_LAYOUTS = {1: "mono", 2: "stereo"}


class Mp4Writer:
    """Writes RGB frames (and float32 audio, or another file's audio packets) into an MP4 file.

    Video is H.264 (libx264, yuv420p, preset ``veryfast``); audio is AAC at ``audio_rate`` (given
    with ``write_audio``), or ``audio_copy``'s packets as they are (given with ``write_audio_packet``;
    the codec must be one an MP4 holds). Times are
    seconds from the start of the file; frames may come at any rate (variable frame rate is kept).
    Frames of any size are taken: yuv420p needs an even width and height, so an odd one is padded
    by repeating the last column or row (one pixel; nothing of the picture is lost).
    Not thread-safe: one thread calls ``write_video``, ``write_audio`` (or ``write_audio_packet``) and
    ``close``.

    Where the file is: ``path`` is the final name, ``partial_path`` the temporary file written until
    ``close``. After ``close``, ``complete`` is True and the regular MP4 is at ``path``. After an
    error or an exception inside ``with``, ``kept_path`` tells where what was written is kept
    (``partial_path``, still playable, repaired by ``avatarify repair``) or is None when nothing was
    written (the partial file is removed then). ``path`` itself is never touched unless complete.

    Raises ``OutputError`` (with a sentence for the user that names the file kept, or says that
    nothing was written) when the file cannot be created or the disk fills up. After such an error
    the writer is closed.
    """

    def __init__(
        self,
        path: str | Path,
        size: tuple[int, int],
        fps: float,
        audio_rate: int | None = None,
        audio_channels: int = 1,
        *,
        audio_copy: AudioStream | None = None,
        crf: int = 23,
        preset: str = "veryfast",
    ) -> None:
        width, height = size
        if width <= 0 or height <= 0:
            raise ValueError(f"size must be positive (width, height), got {size}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if audio_rate is not None and audio_channels not in _LAYOUTS:
            raise ValueError(f"audio_channels must be 1 or 2, got {audio_channels}")
        if audio_rate is not None and audio_copy is not None:
            raise ValueError("give audio_rate (encode) or audio_copy (copy), not both")
        self.path = Path(path)
        self.size = (width, height)
        self.encoded_size = (width + width % 2, height + height % 2)
        self.complete = False
        self.kept_path: Path | None = None
        self.duration_s = 0.0  # of the finished file
        self.fps = float(fps)
        self.audio_rate = audio_rate
        self.audio_channels = audio_channels
        self._frames_written = 0
        self._last_video_pts = -1
        # Re-frames the caller's blocks into the encoder's frame size; positions count samples from 0.
        self._audio_fifo = av.AudioFifo()
        self._closed = False
        if self.path.is_dir():
            raise OutputError(f"{self.path}: is a folder; give a file name ending in .mp4")
        if os.path.lexists(self.path) and not self.path.is_file():  # a device, a pipe: never replaced
            raise OutputError(f"{self.path}: is not a regular file; give a file name ending in .mp4")
        try:
            self.partial_path = _create_partial(self.path)
        except OSError as exc:
            raise _output_error(self.path, exc, kept=None) from exc
        self._note = journal.note_started(self.partial_path, self.path)
        try:
            self._container = av.open(
                str(self.partial_path),
                mode="w",
                format="mp4",
                options=_MUX_OPTIONS if audio_copy is None else _COPY_MUX_OPTIONS,
            )
        except OSError as exc:
            self._remove_partial()
            raise _output_error(self.path, exc, kept=None) from exc
        gop = max(1, round(self.fps))
        self._video = self._container.add_stream(
            "libx264",
            rate=Fraction(self.fps).limit_denominator(1001),
            options={"preset": preset, "crf": str(crf), "g": str(gop), "bf": "0"},
        )
        self._video.width, self._video.height = self.encoded_size
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = VIDEO_TIME_BASE
        self._video.codec_context.time_base = VIDEO_TIME_BASE
        self._audio: AudioStream | None = None
        self._copying = audio_copy is not None
        if audio_rate is not None:
            self._audio = self._container.add_stream("aac", rate=audio_rate)
            self._audio.layout = _LAYOUTS[audio_channels]
            self._audio.time_base = Fraction(1, audio_rate)
        elif audio_copy is not None:
            self._audio = self._container.add_stream_from_template(audio_copy)
        self._good_size = 0
        try:
            self._container.start_encoding()  # writes the header now, so a full disk fails here
        except OSError as exc:
            self._closed = True
            self._remove_partial()
            raise _output_error(self.path, exc, kept=None) from exc
        self._note_good_size()
        self._header_size = self._good_size  # a file no longer than this holds no frame
        logger.info(
            "writing %s (as %s): %dx%d at %.3g fps%s",
            self.path,
            self.partial_path.name,
            width,
            height,
            self.fps,
            f", audio {audio_rate} Hz x{audio_channels}"
            if audio_rate
            else f", audio copied ({audio_copy.codec_context.codec.canonical_name})"
            if audio_copy is not None
            else "",
        )

    @property
    def frames_written(self) -> int:
        return self._frames_written

    @property
    def closed(self) -> bool:
        return self._closed

    def write_video(self, image_rgb_uint8: np.ndarray, t: float | None = None) -> None:
        """Append one frame. ``image_rgb_uint8``: RGB uint8 (height, width, 3) matching ``size``
        (padded to ``encoded_size`` here).

        ``t``: seconds from the start of the file; None means ``frames_written / fps``. A time not
        after the previous frame's is moved just after it (pts must increase).
        """
        self._check_open()
        width, height = self.size
        check_rgb(image_rgb_uint8, "video frame", (height, width))
        if t is None:
            t = self._frames_written / self.fps
        pts = max(round(t / VIDEO_TIME_BASE), self._last_video_pts + 1)
        pad_w, pad_h = self.encoded_size[0] - width, self.encoded_size[1] - height
        if pad_w or pad_h:
            image_rgb_uint8 = np.pad(image_rgb_uint8, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
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
        if self._audio is None or self._copying:
            raise ValueError("this writer was created without audio to encode (audio_rate=None)")
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 1 and self.audio_channels == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] != self.audio_channels:
            raise ValueError(f"expected float32 samples (n, {self.audio_channels}), got {samples.shape}")
        rate = self.audio_rate
        assert rate is not None
        queued_end = self._audio_fifo.samples_written
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
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples.T), format="fltp", layout=_LAYOUTS[self.audio_channels]
            )
            frame.sample_rate = rate
            frame.time_base = self._audio.time_base
            frame.pts = queued_end  # the fifo checks that blocks follow each other and stamps its frames
            self._audio_fifo.write(frame)
        self._encode_audio(final=False)

    def write_audio_packet(self, packet: av.Packet) -> None:
        """Append one packet of ``audio_copy``'s stream as it is. Its pts and dts, in
        ``packet.time_base``, count from the start of the file and must increase."""
        self._check_open()
        if self._audio is None or not self._copying:
            raise ValueError("this writer was created without audio to copy (audio_copy=None)")
        packet.stream = self._audio
        self._mux([packet])

    def _encode_audio(self, final: bool) -> None:
        assert self._audio is not None
        frame_size = self._audio.codec_context.frame_size or 1024
        for frame in self._audio_fifo.read_many(frame_size, partial=final):
            self._mux(self._audio.encode(frame))

    def close(self) -> None:
        """Flush the encoders and finish the file: remux it into a regular MP4 at ``path``. Calling it
        twice is fine. With no frame written, no file is left at all.

        Raises ``OutputError`` when the data cannot be written or finished (disk full); the partial
        file then keeps what was written (``kept_path``).
        """
        if self._closed:
            return
        self._flush_encoders()
        self._closed = True
        try:
            self._container.close()
        except OSError as exc:
            self._keep_partial(size=self._good_size)
            raise _output_error(self.path, exc, kept=self.kept_path) from exc
        if self._frames_written == 0:
            self._remove_partial()
            return
        saving = journal.saving_path(self.partial_path)
        try:
            self.duration_s = remux_regular(self.partial_path, saving)
            os.replace(saving, self.path)
        except BaseException as exc:  # a signal too: the partial file stays, complete and playable
            with contextlib.suppress(OSError):
                saving.unlink(missing_ok=True)
            self._keep_partial(size=None)
            if not isinstance(exc, OSError | InputError):
                raise
            logger.error("could not finish %s from %s: %s", self.path, self.partial_path, exc)
            if isinstance(exc, OSError):
                raise _output_error(self.path, exc, kept=self.kept_path) from exc
            raise OutputError(
                f"{self.path}: could not finish the file ({exc}); what was written is kept in "
                f"{self.kept_path}",
                kept=self.kept_path,
            ) from exc
        self.partial_path.unlink(missing_ok=True)
        journal.note_finished(self._note)
        self.complete = True
        logger.info("finished %s: %d frames, %.2f s", self.path, self._frames_written, self.duration_s)

    def _flush_encoders(self) -> None:
        if self._audio is not None and not self._copying:
            self._encode_audio(final=True)
            self._mux(self._audio.encode(None))
        self._mux(self._video.encode(None))

    def abort(self) -> None:
        """Stop without finishing: what was written is kept in the partial file (``kept_path``), or
        removed when it holds no frame. The ``with`` block does this after an exception."""
        self._abort()

    def discard(self) -> None:
        """Stop and remove everything written (the file is not wanted after all)."""
        self._abort()
        self._remove_partial()
        self.kept_path = None

    def _mux(self, packets: list[av.Packet]) -> None:
        try:
            for packet in packets:
                self._container.mux(packet)
        except OSError as exc:
            self._abort(write_failed=True)
            raise _output_error(self.path, exc, kept=self.kept_path) from exc
        self._note_good_size()

    def _note_good_size(self) -> None:
        """Remember the file's size: each mux call leaves it on a fragment boundary (flush_packets)."""
        with contextlib.suppress(OSError):
            self._good_size = os.path.getsize(self.partial_path)

    def _abort(self, write_failed: bool = False) -> None:
        """Close after an error (a write error, an exception or a signal in the caller), keeping the
        fragments already on disk in the partial file, or removing it when it holds no frame.

        After a failed write the file is cut back to its last whole fragment; otherwise the muxer
        writes the fragment it holds first."""
        if self._closed:
            return
        if not write_failed:  # the frames the encoders still hold go in too
            try:
                self._flush_encoders()
            except OutputError:
                write_failed = True  # _mux has closed and cut the file back already
            if self._closed:
                return
        self._closed = True
        try:
            self._container.close()
        except OSError:
            logger.debug("closing %s after an error failed too", self.partial_path, exc_info=True)
            write_failed = True
        self._keep_partial(size=self._good_size if write_failed else None)

    def _keep_partial(self, size: int | None) -> None:
        """Keep the partial file, cut back to ``size`` (its last whole fragment: a failed write may
        have left part of one) so that it decodes to its end; remove it when it holds no frame."""
        if size is not None:
            try:
                os.truncate(self.partial_path, size)
            except OSError:
                logger.warning("could not cut %s back to its last whole fragment", self.partial_path)
        try:
            kept = os.path.getsize(self.partial_path)
        except OSError:
            kept = 0
        if kept <= self._header_size or self._frames_written == 0:
            self._remove_partial()
            return
        self.kept_path = self.partial_path
        journal.note_stopped(self._note)
        logger.warning("%s was cut short: what was written is kept in %s", self.path, self.partial_path)

    def _remove_partial(self) -> None:
        with contextlib.suppress(OSError):
            self.partial_path.unlink(missing_ok=True)
        journal.note_finished(self._note)
        self.kept_path = None

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


def remux_regular(source: Path, target: Path) -> float:
    """Copy ``source``'s streams (no re-encoding) into ``target``, a regular MP4 with the index in
    front and the true duration in its movie header; flushed to the disk. Returns the duration in
    seconds. A damaged tail (a file cut short mid-fragment) ends the copy there.

    Raises ``InputError`` when ``source`` is not a readable video or holds no complete frame, and
    ``OSError`` when ``target`` cannot be written.
    """
    try:
        reader = av.open(str(source))
    except av.error.FFmpegError as exc:
        raise InputError(f"{source}: not a readable video ({exc})") from exc
    end = 0.0
    video_packets = 0
    with reader:
        streams = [s for s in reader.streams if s.type in ("video", "audio")]
        if not any(s.type == "video" for s in streams):
            raise InputError(f"{source}: holds no video")
        with av.open(str(target), mode="w", format="mp4", options=_FINISH_OPTIONS) as writer:
            copies = {s.index: writer.add_stream_from_template(s) for s in streams}
            packets = reader.demux(streams)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    logger.info("%s ends in a damaged piece (%s): copied up to it", source, exc)
                    break
                if packet.dts is None or packet.size == 0:
                    continue  # the demuxer's end-of-stream markers
                if packet.stream.type == "video":
                    video_packets += 1
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                packet.stream = copies[packet.stream.index]
                writer.mux(packet)
            if video_packets == 0:
                raise InputError(f"{source}: holds no complete frame")
    with open(target, "rb+") as done:
        os.fsync(done.fileno())
    return end


def copy_refused(stream: AudioStream, packet: av.Packet) -> str | None:
    """Why ``Mp4Writer(audio_copy=stream)`` cannot take ``stream``'s packets as they are, or None when
    it can: tried in memory with the stream and a copy of its first ``packet``. (ADTS AAC from an
    MPEG-TS file, for one, is refused: its packets carry headers an MP4 does not.)"""
    trial = av.Packet(bytes(packet))
    trial.pts = trial.dts = 0
    trial.time_base = packet.time_base
    try:
        with av.open(io.BytesIO(), mode="w", format="mp4", options=_COPY_MUX_OPTIONS) as target:
            trial.stream = target.add_stream_from_template(stream)
            target.start_encoding()
            target.mux(trial)
    except (av.error.FFmpegError, ValueError) as exc:
        return f"an MP4 cannot take its packets as they are: {getattr(exc, 'strerror', None) or exc}"
    return None


def _create_partial(final: Path) -> Path:
    """Create an empty file with a new name beside ``final`` that says it is incomplete."""
    while True:
        partial = final.with_name(f"{final.stem}.{secrets.token_hex(4)}{journal.PARTIAL_SUFFIX}")
        try:
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return partial


def _output_error(path: Path, exc: OSError, kept: Path | None) -> OutputError:
    """The sentence for an ``OSError`` while writing ``path``, carrying ``kept`` (what was written)."""
    outcome = f"what was written is kept in {kept}" if kept is not None else "nothing was written"
    if is_no_room(exc):
        reason = os_error_words(exc)
        return DiskFullError(f"{path}: {reason}; {outcome}", kept=kept, reason=reason)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{path}: not allowed to write here; choose another folder", kept=kept)
    if exc.errno == errno.ENOENT:
        return OutputError(
            f"{path}: the folder {path.parent} does not exist; choose an existing folder", kept=kept
        )
    if exc.errno == errno.EISDIR:
        return OutputError(f"{path}: is a folder; give a file name ending in .mp4", kept=kept)
    return OutputError(f"{path}: cannot write the video ({os_error_words(exc)}); {outcome}", kept=kept)
