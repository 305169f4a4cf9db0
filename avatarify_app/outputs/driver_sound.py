"""The driving clip's sound, put into a rendered clip in step with its picture.

The sound is copied when its codec can live in an MP4 that players read (AAC, MP3, ALAC, Opus, FLAC,
AC-3, E-AC-3): its packets go into the output as they are, with no decoding and no loss, only their
timestamps moved onto the output's clock. Any other codec (PCM from a MOV, AVI or MKV; Vorbis...), or
packets the MP4 muxer refuses as they are (ADTS AAC from MPEG-TS), are decoded and encoded to AAC by
the writer. Both read the driver's audio packets the same way
(``DriverSound``) and differ only in what they do with each one (``_put``).

The live recorder always encodes: its sound comes from a microphone as samples, with no packets to copy.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TypedDict, TypeVar

import av
import av.container
import numpy as np
from av.audio.stream import AudioStream

from avatarify_app.errors import InputError
from avatarify_app.outputs.mp4 import Mp4Writer, copy_refused

logger = logging.getLogger(__name__)

# Codecs an MP4 holds and players decode; copied as they are. (The MP4 muxer also takes PCM, but few
# players read PCM in MP4, so PCM is encoded.)
COPYABLE_CODECS = frozenset({"aac", "mp3", "alac", "opus", "flac", "ac3", "eac3"})


class WriterAudio(TypedDict, total=False):
    """The ``Mp4Writer`` arguments that set up its audio stream."""

    audio_rate: int
    audio_channels: int
    audio_copy: AudioStream


class DriverSound(abc.ABC):
    """The first audio stream of a driving clip, written into an ``Mp4Writer`` in time with its video.

    Open one with ``open_driver_sound``; give the writer ``writer_audio``; call ``write_until`` after
    each video frame and ``write_rest`` after the last; close it (or use ``with``).

    Times: the output's second 0 is the driver's first video frame (the video stream's start), as
    the frames' times are (``capture.VideoFileSource.frame_time``), so sound that starts before or
    after the picture keeps its offset. Packets that end before second 0 are left out. A packet with
    no timestamp follows the one before it; one whose time does not move on is left out. A damaged
    stream ends the sound where the damage starts (with a warning); the picture goes on.
    """

    def __init__(self, path: Path, container: av.container.InputContainer, stream: AudioStream) -> None:
        self.path = path
        self.codec = stream.codec_context.codec.canonical_name
        self.rate = stream.codec_context.sample_rate
        self._container = container
        self._stream = stream
        video = container.streams.video[0] if container.streams.video else None
        origin = (
            float(video.start_time * video.time_base)
            if video is not None and video.start_time is not None and video.time_base is not None
            else 0.0
        )
        assert stream.time_base is not None
        self._time_base: Fraction = stream.time_base
        self._shift = round(origin / self._time_base)  # the output's second 0 in the stream's time base
        self._skipped = 0
        self._packets = self._timed_packets(container.demux(stream))
        self._next = next(self._packets, None)

    @property
    @abc.abstractmethod
    def writer_audio(self) -> WriterAudio:
        """The ``Mp4Writer`` arguments for this sound's stream."""

    @property
    def empty(self) -> bool:
        """True when no packet is left to write."""
        return self._next is None

    def write_until(self, writer: Mp4Writer, t: float) -> None:
        """Write the packets that start before ``t`` seconds (the output's clock)."""
        while self._next is not None and self._next[0] < t:
            self._put(writer, self._next[1])
            self._next = next(self._packets, None)

    def write_rest(self, writer: Mp4Writer) -> None:
        """Write the packets left: sound that lasts past the last frame is kept whole."""
        while self._next is not None:
            self._put(writer, self._next[1])
            self._next = next(self._packets, None)
        self._finish(writer)
        if self._skipped:
            logger.info("left out %d audio packets of %s with no usable time", self._skipped, self.path)

    @abc.abstractmethod
    def _put(self, writer: Mp4Writer, packet: av.Packet) -> None:
        """Write one packet (its times already on the output's clock)."""

    def _finish(self, writer: Mp4Writer) -> None:  # noqa: B027 - only the encoder has work left
        """After the last packet."""

    def _timed_packets(self, packets: Iterator[av.Packet]) -> Iterator[tuple[float, av.Packet]]:
        """The stream's packets with their pts and dts (in its time base) moved onto the output's
        clock, each with its start in seconds."""
        start = self._stream.start_time or 0  # where the stream's sound begins, after any priming
        keep_priming = start >= self._shift  # the sound starts with the picture or after it
        next_pts = start  # for a packet with no timestamp
        last_dts: int | None = None
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                logger.warning(
                    "the sound of %s is damaged after %.1f s (%s): the rest of it is left out",
                    self.path,
                    float((next_pts - self._shift) * self._time_base),
                    exc,
                )
                return
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            pts = packet.pts if packet.pts is not None else packet.dts
            pts = next_pts if pts is None else pts
            dts = packet.dts if packet.dts is not None else pts
            if last_dts is not None and dts <= last_dts:  # the muxer takes only increasing times
                self._skipped += 1
                continue
            duration = packet.duration or 0
            next_pts, last_dts = pts + duration, dts
            if pts + duration <= self._shift and not (keep_priming and pts < start):
                continue  # sound from before the first frame (an encoder's priming stays: decoders need it)
            packet.pts, packet.dts = pts - self._shift, dts - self._shift
            packet.time_base = self._time_base
            yield float((pts - self._shift) * self._time_base), packet

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> DriverSound:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_Sound = TypeVar("_Sound", bound=DriverSound)


class SoundCopier(DriverSound):
    """Copies the packets into the output as they are."""

    def why_not(self) -> str | None:
        """Why the packets cannot be copied into an MP4 as they are; None when they can."""
        if self.codec not in COPYABLE_CODECS:
            return "few MP4 players read it"
        return copy_refused(self._stream, self._next[1]) if self._next is not None else None

    @property
    def writer_audio(self) -> WriterAudio:
        return {"audio_copy": self._stream}

    def _put(self, writer: Mp4Writer, packet: av.Packet) -> None:
        writer.write_audio_packet(packet)


class SoundEncoder(DriverSound):
    """Decodes the packets; the writer encodes the samples to AAC (mono, or stereo from two or more
    channels)."""

    def __init__(self, path: Path, container: av.container.InputContainer, stream: AudioStream) -> None:
        super().__init__(path, container, stream)
        self.channels = min(stream.codec_context.channels or 1, 2)
        self._resampler = av.AudioResampler(
            format="fltp", layout="mono" if self.channels == 1 else "stereo", rate=self.rate
        )
        self._undecodable = 0

    @property
    def writer_audio(self) -> WriterAudio:
        return {"audio_rate": self.rate, "audio_channels": self.channels}

    def _put(self, writer: Mp4Writer, packet: av.Packet) -> None:
        try:
            frames = self._stream.codec_context.decode(packet)
        except av.error.FFmpegError:
            self._undecodable += 1  # a damaged packet: its time is left silent
            return
        for frame in frames:
            self._write(writer, frame)

    def _finish(self, writer: Mp4Writer) -> None:
        try:
            frames = self._stream.codec_context.decode(None)
        except av.error.FFmpegError:
            frames = []
        for frame in frames:
            self._write(writer, frame)
        for out in self._resampler.resample(None):
            writer.write_audio(_samples(out), t=out.time)
        if self._undecodable:
            logger.warning(
                "%d damaged audio packets in %s could not be decoded: left silent",
                self._undecodable,
                self.path,
            )

    def _write(self, writer: Mp4Writer, frame: av.AudioFrame) -> None:
        for out in self._resampler.resample(frame):
            writer.write_audio(_samples(out), t=out.time)


def _samples(frame: av.AudioFrame) -> np.ndarray:
    """float32 (n, channels) from a planar float frame."""
    return np.ascontiguousarray(frame.to_ndarray().T)


def open_driver_sound(path: Path) -> DriverSound | None:
    """The sound of the clip at ``path``: a ``SoundCopier`` when an MP4 can hold its codec and its
    packets as they are, else a ``SoundEncoder`` (the log says why). None when the clip has no audio
    stream, or one with no packets.

    Raises ``InputError`` when the file is not a readable media file.
    """
    sound = _open(path, SoundCopier)
    if sound is None:
        return None
    why_not = sound.why_not()
    chosen: DriverSound | None = sound
    if why_not is not None:
        sound.close()
        chosen = _open(path, SoundEncoder)
    if chosen is None or chosen.empty:
        if chosen is not None:
            chosen.close()
        return None
    how = "copied as it is" if why_not is None else f"encoded to AAC ({why_not})"
    logger.info("the sound of %s (%s, %d Hz) is %s", path, chosen.codec, chosen.rate, how)
    return chosen


def _open(path: Path, kind: type[_Sound]) -> _Sound | None:
    """``kind`` on the first audio stream of ``path``; None when there is none."""
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable audio or video file ({exc})") from exc
    if not container.streams.audio:
        container.close()
        return None
    try:
        return kind(path, container, container.streams.audio[0])
    except BaseException:
        container.close()
        raise
