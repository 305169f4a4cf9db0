"""Output stage: a steady frame rate to the sinks (virtual camera, recorder) and the live metrics."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.errors import AvatarifyError
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.outputs.recorder import RecorderSink
from avatarify_app.outputs.recordings import Recordings, outcome
from avatarify_app.outputs.sink import Sink
from avatarify_app.outputs.virtual_camera import VirtualCameraError, VirtualCameraSink
from avatarify_app.pipeline.events import (
    MessagePosted,
    MetricsUpdated,
    RecordingChanged,
    RecordingSaving,
    VirtualCameraChanged,
)
from avatarify_app.pipeline.queues import LatestQueue
from avatarify_app.pipeline.records import ProcessedFrame
from avatarify_app.pipeline.settings import LiveSettings
from avatarify_app.pipeline.stage import Emit, Stage, as_sentence
from avatarify_app.pipeline.stats import PipelineStats

logger = logging.getLogger(__name__)

METRICS_PERIOD_S = 1.0
# Pacing (fractions of the frame period): a fresh frame may go out this much before its slot ...
EARLY_SLACK = 0.25
# ... and the slots are steered so fresh frames arrive about this much before them (phase lock
# gain PHASE_GAIN per frame). So when the input runs at the output rate, frames go straight out
# (no added latency) and the rate stays exactly ``output_fps``; slower input gets repeats.
ARRIVAL_MARGIN = 0.1
PHASE_GAIN = 0.1
# Longest wait on the input queue, so commands and metrics are never held up for long (seconds).
MAX_WAIT_S = 0.05


@dataclass(frozen=True, slots=True)
class SetVirtualCamera:
    enabled: bool


@dataclass(frozen=True, slots=True)
class StartRecording:
    path: Path
    microphone: str | int | None = None


@dataclass(frozen=True, slots=True)
class StopRecording:
    pass


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    """A recording's file is done (sent from the recorder's thread, through ``Recordings``):
    ``error_text`` says why it was stopped early, or None."""

    recorder: RecorderSink
    error_text: str | None = None


class OutputStage(Stage):
    """Writes frames to the sinks at a steady ``output_fps``: the newest processed frame when one is
    due, else the last one again. Owns the sinks: a sink that fails is closed and dropped with a
    message; the others and the preview carry on. Emits ``MetricsUpdated`` (and the recording's
    progress) about once a second.

    Recordings: ``recordings`` makes each recorder and hands each finished file back through
    ``send`` (``RecordingFinished``), so the outcome is told on this thread, in order with the next
    recording's start; a file that finishes after this stage ended is reported by ``recordings``."""

    def __init__(
        self,
        settings: LiveSettings,
        inp: LatestQueue[ProcessedFrame],
        stats: PipelineStats,
        stop: threading.Event,
        emit: Emit,
        *,
        recordings: Recordings,
        vcam_backend: str | None = None,
    ) -> None:
        super().__init__("output", stop, emit)
        self._settings = settings
        self._inp, self._stats = inp, stats
        self._recordings = recordings
        self._vcam_backend = vcam_backend
        self._period = 1.0 / settings.output_fps
        self._vcam: VirtualCameraSink | None = None
        self._recorder: RecorderSink | None = None
        self._recorder_waiting = False  # asked to record before the first frame: open it then
        self._pending: ProcessedFrame | None = None
        self._t_pending = 0.0  # when ``_pending`` arrived
        self._last_image: np.ndarray | None = None
        self._t_slot = float("inf")  # when the next frame is due
        self._t_metrics = time.monotonic() + METRICS_PERIOD_S

    # -- commands and sinks -------------------------------------------------------------------------
    def _setup(self) -> None:
        self._recordings.attach(self._hand_back)
        if self._settings.virtual_camera.enabled:
            self._open_vcam()

    def _apply(self, command: object) -> None:
        match command:
            case SetVirtualCamera(enabled=True) if self._vcam is None:
                self._open_vcam()
            case SetVirtualCamera(enabled=False) if self._vcam is not None:
                self._close_vcam()
            case SetVirtualCamera():
                pass
            case StartRecording(path, microphone):
                self._close_recorder()
                self._recorder = self._recordings.new(path, microphone, self._post_message)
                self._recorder_waiting = True
                if self._last_image is not None:
                    self._open_recorder(self._last_image)
            case StopRecording():
                self._close_recorder()
            case RecordingFinished(recorder, error_text):
                self._recording_finished(recorder, error_text)
            case _:
                raise TypeError(f"output stage: unknown command {command!r}")

    def _post_message(self, message: UserMessage) -> None:
        self._emit(MessagePosted(message))

    def _open_vcam(self) -> None:
        vcam_settings = self._settings.virtual_camera
        sink = VirtualCameraSink(vcam_settings, backend=self._vcam_backend)
        try:
            sink.open((vcam_settings.width, vcam_settings.height), vcam_settings.fps)
        except AvatarifyError as exc:
            fix = exc.fix if isinstance(exc, VirtualCameraError) else None
            logger.info("virtual camera unavailable: %s", exc)
            text = f"{as_sentence(str(exc))} The preview keeps running."
            if fix:
                text += f" To get a virtual camera, {fix}."
            self._post(MessageLevel.WARNING, text, key="virtual_camera")
            self._emit(VirtualCameraChanged(active=False, device=None, fix=fix, error=str(exc)))
            return
        self._vcam = sink
        self._emit(VirtualCameraChanged(active=True, device=sink.device, fix=None))
        self._post(
            MessageLevel.INFO,
            f"Virtual camera on: choose “{sink.device}” in your video app.",
            "virtual_camera",
        )

    def _close_vcam(self) -> None:
        sink, self._vcam = self._vcam, None
        if sink is not None:
            sink.close()
            self._emit(VirtualCameraChanged(active=False, device=None, fix=None))

    def _open_recorder(self, image: np.ndarray) -> None:
        recorder = self._recorder
        assert recorder is not None
        self._recorder_waiting = False
        try:
            recorder.open(self._settings.engine_options.frame_size(image.shape), self._settings.output_fps)
        except AvatarifyError as exc:
            self._recorder = None
            self._post(MessageLevel.ERROR, as_sentence(str(exc)), key="recording")
            self._emit(RecordingChanged(path=None, elapsed_s=0.0))
            return
        self._emit(RecordingChanged(path=recorder.path, elapsed_s=0.0))
        self._post(MessageLevel.INFO, f"Recording to {recorder.path}.", key="recording")

    def _close_recorder(self, error_text: str | None = None) -> None:
        """Stop the recording and let the recorder thread finish the file (never waits for it):
        ``RecordingSaving`` now; once the file is done, ``RecordingFinished`` comes back through
        ``send`` and says it was saved, or why it stopped early."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        waiting, self._recorder_waiting = self._recorder_waiting, False
        if waiting:  # never opened: nothing was written
            return
        self._emit(RecordingSaving(path=recorder.path, elapsed_s=recorder.elapsed_s))
        self._recordings.finish(recorder, error_text)

    def _hand_back(self, recorder: RecorderSink, error_text: str | None) -> None:
        """On the recorder's thread: only queues the news for this stage's thread."""
        self.send(RecordingFinished(recorder, error_text))

    def _recording_finished(self, recorder: RecorderSink, error_text: str | None) -> None:
        """``recorder``'s file is done (or was given up): "not recording" unless a new recording has
        started meanwhile, then what became of the file."""
        if self._recorder is None:
            self._emit(RecordingChanged(path=None, elapsed_s=recorder.elapsed_s))
        message = outcome(recorder, error_text)
        self._post(message.level, message.text, message.key)

    def _sinks(self) -> list[Sink]:
        sinks: list[Sink] = []
        if self._vcam is not None:
            sinks.append(self._vcam)
        if self._recorder is not None and not self._recorder_waiting:
            sinks.append(self._recorder)
        return sinks

    # -- frames -------------------------------------------------------------------------------------
    def _step(self) -> None:
        now = time.monotonic()
        due = self._t_slot - EARLY_SLACK * self._period if self._pending is not None else self._t_slot
        item = self._inp.get(timeout=min(max(due - now, 0.0), MAX_WAIT_S))
        now = time.monotonic()
        if item is not None:
            if self._pending is not None:
                self._stats.count_dropped()  # a newer frame came before the older one was due
            self._pending, self._t_pending = item, now
            if self._last_image is None:
                self._t_slot = now  # the very first frame goes out at once
        if self._pending is not None and now >= self._t_slot - EARLY_SLACK * self._period:
            self._write_fresh(self._pending, now)
            self._pending = None
        elif self._last_image is not None and now >= self._t_slot:
            self._write(self._last_image, now, latency_ms=None)
            self._advance_slot(now, phase_error=None)
        if now >= self._t_metrics:
            self._report_metrics(now)

    def _write_fresh(self, item: ProcessedFrame, now: float) -> None:
        # Mirrored here, once per new frame (repeats reuse it), for every sink.
        image = cv2.flip(item.output, 1) if item.mirror else item.output
        if self._recorder_waiting:
            self._open_recorder(image)
        self._write(image, now, latency_ms=(now - item.answered.t_capture) * 1000.0)
        error = self._t_pending - self._t_slot  # when it arrived relative to its slot
        if error < -self._period / 2:
            error += self._period
        self._advance_slot(now, phase_error=error)

    def _advance_slot(self, now: float, phase_error: float | None) -> None:
        period = self._period
        self._t_slot += period
        if phase_error is not None:
            self._t_slot += PHASE_GAIN * (phase_error + ARRIVAL_MARGIN * period)
        if self._t_slot < now:  # fell behind (a long pause): start the rhythm again from now
            self._t_slot = now + period

    def _write(self, image: np.ndarray, now: float, latency_ms: float | None) -> None:
        self._last_image = image
        for sink in self._sinks():
            try:
                sink.write(image, now)
            except Exception as exc:
                self._drop_sink(sink, exc)
        self._stats.record_output(latency_ms, now)

    def _drop_sink(self, sink: Sink, exc: Exception) -> None:
        if isinstance(exc, AvatarifyError):
            logger.warning("%s stopped: %s", sink.name, exc)
            text = as_sentence(str(exc))
        else:
            logger.error("%s failed", sink.name, exc_info=exc)
            text = f"The {sink.name} stopped after an unexpected error; details are in the log."
        if sink is self._recorder:
            self._close_recorder(error_text=text)
        elif sink is self._vcam:
            self._close_vcam()
            self._post(MessageLevel.ERROR, f"{text} The preview keeps running.", key="virtual_camera")

    def _report_metrics(self, now: float) -> None:
        self._t_metrics = max(self._t_metrics + METRICS_PERIOD_S, now)
        self._emit(MetricsUpdated(self._stats.snapshot(now)))
        if self._recorder is not None and not self._recorder_waiting:
            self._emit(RecordingChanged(path=self._recorder.path, elapsed_s=self._recorder.elapsed_s))

    def _teardown(self) -> None:
        try:
            self._close_recorder()
        finally:
            try:
                self._close_vcam()
            finally:
                self._recordings.detach(self._hand_back)
                self._hand_over_finished()

    def _hand_over_finished(self) -> None:
        """Files whose news reached this stage as it ended: ``recordings`` reports them instead (no
        more come here once detached)."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if isinstance(command, RecordingFinished):
                self._recordings.hand_over(command.recorder, command.error_text)
