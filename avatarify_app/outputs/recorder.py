"""Recorder sink: the output frames and the microphone into one MP4, on one clock."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarify_app.errors import AvatarifyError, DeviceError, OutputError
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.outputs.framing import fit
from avatarify_app.outputs.microphone import AudioInput, AudioInputFactory, open_microphone
from avatarify_app.outputs.mp4 import Mp4Writer

logger = logging.getLogger(__name__)

# Video frames waiting for the encoder beyond this many seconds' worth are dropped (and counted):
# a slow disk or encoder must not eat the memory. Audio is never dropped.
MAX_VIDEO_BACKLOG_S = 2.0


@dataclass(frozen=True, slots=True)
class _Video:
    image: np.ndarray
    t: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class _Audio:
    samples: np.ndarray  # float32 (n, channels)
    t: float  # time.monotonic() of the first sample


_STOP = object()


class RecorderSink:
    """Records what the output thread writes, plus the microphone, into ``path`` (MP4, H.264 + AAC).

    Clock: video frames carry their output time (``time.monotonic()``); audio blocks carry their ADC
    time moved onto the same clock (``outputs.microphone``); the file's zero is the first frame's
    time. So audio and video cannot drift apart, however the sound card's clock runs.

    Threads: ``open``/``write``/``close`` run on the output thread and only queue work; encoding runs
    on the ``avatarify-recorder`` thread; the microphone calls back on the audio driver's thread.
    Without a microphone (or without PortAudio) the recording is video-only and ``on_message`` gets a
    warning. A write error (disk full) ends the recording: the next ``write`` raises ``OutputError``,
    and what was written stays playable (``kept_path``).

    Finishing: ``close(wait=False, on_done=...)`` returns at once and the recorder thread encodes
    what is queued and finishes the file (a regular MP4, see ``outputs.mp4``; a second or two for a
    long recording), then calls ``on_done(self)``; ``wait()`` joins it. The thread is not a daemon,
    so a process that exits meanwhile still finishes the file first.

    The file's frame size is the one ``open`` is given; frames of another size are scaled to fit
    (letterboxed) once, on the recorder thread.
    """

    name = "recorder"

    def __init__(
        self,
        path: str | Path,
        *,
        microphone: str | int | None = None,
        record_audio: bool = True,
        audio_input_factory: AudioInputFactory = open_microphone,
        on_message: Callable[[UserMessage], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.microphone = microphone
        self.record_audio = record_audio
        self._audio_input_factory = audio_input_factory
        self._on_message = on_message or (lambda message: None)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._writer: Mp4Writer | None = None
        self._audio: AudioInput | None = None
        self._error: OutputError | None = None
        self._fps = 30.0
        self._size = (0, 0)
        self._pending_video = 0  # frames queued and not yet encoded (guarded by _pending_lock)
        self._pending_lock = threading.Lock()
        self._t_first: float | None = None
        self._t_last: float | None = None
        self._video_dropped = 0
        self._on_done: Callable[[RecorderSink], None] | None = None
        self._stopping = False

    @property
    def elapsed_s(self) -> float:
        """Seconds recorded so far (by the frames' output times)."""
        if self._t_first is None or self._t_last is None:
            return 0.0
        return self._t_last - self._t_first + 1.0 / self._fps

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    @property
    def error(self) -> OutputError | None:
        """Why the recording stopped early (disk full...), or None."""
        return self._error

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def complete(self) -> bool:
        """The finished recording is at ``path`` (after ``close`` and the finishing step)."""
        return self._writer is not None and self._writer.complete

    @property
    def kept_path(self) -> Path | None:
        """Where a recording that stopped early is kept (a partial file), or None."""
        return self._writer.kept_path if self._writer is not None else None

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Create the file and start the microphone. Raises ``OutputError`` when the file cannot be
        written; a missing microphone only makes the recording silent (with a warning message)."""
        width, height = max(1, size[0]), max(1, size[1])
        self._size, self._fps = (width, height), fps
        if self.record_audio:
            try:
                self._audio = self._audio_input_factory(self.microphone, self._on_audio)
            except DeviceError as exc:
                logger.info("recording without sound: %s", exc)
                self._on_message(
                    UserMessage(MessageLevel.WARNING, f"Recording without sound: {exc}.", key="recording")
                )
        rate = self._audio.rate if self._audio is not None else None
        channels = self._audio.channels if self._audio is not None else 1
        try:
            self._writer = Mp4Writer(
                self.path, (width, height), fps, audio_rate=rate, audio_channels=channels
            )
        except OutputError:
            self._close_audio()
            raise
        self._thread = threading.Thread(target=self._run, name="avatarify-recorder", daemon=False)
        self._thread.start()

    def write(self, image: np.ndarray, t: float) -> None:
        if self._error is not None:
            raise self._error
        if self._t_first is None:
            self._t_first = t
        self._t_last = t
        with self._pending_lock:
            if self._pending_video >= MAX_VIDEO_BACKLOG_S * self._fps:
                self._video_dropped += 1
                return
            self._pending_video += 1
        self._queue.put(_Video(image, t))

    def _on_audio(self, samples: np.ndarray, t: float) -> None:
        self._queue.put(_Audio(samples, t))  # the audio driver's thread: never blocks, never drops

    def close(self, *, wait: bool = True, on_done: Callable[[RecorderSink], None] | None = None) -> None:
        """Stop the microphone; the recorder thread encodes what is queued and finishes the file,
        then calls ``on_done(self)`` (on that thread). ``wait``: return only when the file is done."""
        self._close_audio()
        if self._thread is None:  # never opened
            if on_done is not None:
                on_done(self)
            return
        if not self._stopping:
            self._stopping = True
            self._on_done = on_done
            self._queue.put(_STOP)
        if wait:
            self.wait()
        if self._video_dropped:
            logger.warning(
                "recording %s: %d frames dropped (encoder too slow)", self.path, self._video_dropped
            )

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the file is finished (after ``close``); True when it is."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _close_audio(self) -> None:
        audio, self._audio = self._audio, None
        if audio is not None:
            audio.close()

    def _run(self) -> None:
        """Encoder thread: drain the queue into the MP4 until the stop marker."""
        writer = self._writer
        assert writer is not None
        t_zero: float | None = None
        early_audio: list[_Audio] = []  # audio that came before the first frame fixed the file's zero
        try:
            while (item := self._queue.get()) is not _STOP:
                if self._error is not None:
                    continue  # failed: keep draining so nothing piles up, write nothing
                try:
                    if isinstance(item, _Video):
                        with self._pending_lock:
                            self._pending_video -= 1
                        if t_zero is None:
                            t_zero = item.t
                            for block in early_audio:
                                writer.write_audio(block.samples, block.t - t_zero)
                            early_audio.clear()
                        writer.write_video(fit(item.image, self._size), item.t - t_zero)
                    elif isinstance(item, _Audio):
                        if t_zero is None:
                            early_audio.append(item)
                        elif writer.audio_rate is not None:
                            writer.write_audio(item.samples, item.t - t_zero)
                except OutputError as exc:
                    self._fail(exc)
            writer.close()
            logger.info("recorded %s (%.1f s)", self.path, self.elapsed_s)
        except OutputError as exc:
            self._fail(exc)
        except Exception as exc:
            logger.exception("the recorder failed on %s", self.path)
            writer.abort()
            kept = f"; what was written is kept in {writer.kept_path}" if writer.kept_path else ""
            self._fail(
                OutputError(
                    f"{self.path}: the recording stopped after an internal error ({exc}){kept}",
                    kept=writer.kept_path,
                )
            )
        finally:
            done = self._on_done
            if done is not None:
                try:
                    done(self)
                except Exception:
                    logger.exception("the recorder's on_done callback failed")

    def _fail(self, error: AvatarifyError) -> None:
        logger.error("recording %s stopped: %s", self.path, error)
        self._error = error if isinstance(error, OutputError) else OutputError(str(error))
