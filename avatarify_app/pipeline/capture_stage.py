"""Capture stage: reads the source, stamps each frame, and retries a lost camera with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from avatarify_app.capture import Source
from avatarify_app.config import SourceSpec
from avatarify_app.errors import AvatarifyError
from avatarify_app.frames import Frame, MessageLevel
from avatarify_app.pipeline.events import CameraPreview
from avatarify_app.pipeline.queues import LatestQueue
from avatarify_app.pipeline.stage import Emit, Stage, as_sentence
from avatarify_app.pipeline.stats import PipelineStats

logger = logging.getLogger(__name__)

# Retry delays after a source fails to open or drops out: 0.5 s, doubling, at most 5 s.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 5.0
# While the inference stage loads its models, a camera frame goes to the window this often.
LOADING_PREVIEW_INTERVAL_S = 0.1

SourceFactory = Callable[[SourceSpec], Source]


@dataclass(frozen=True, slots=True)
class SetSource:
    spec: SourceSpec


class CaptureStage(Stage):
    """Opens the source, paces reads when the source does not (files, demo), stamps ``t_capture``
    and hands frames on (newest wins; frames replaced before ``consumer_ready`` is set are not
    counted). A source that fails to open or stops delivering is closed and reopened with growing
    delays; the user hears about it once, and again when it is back."""

    def __init__(
        self,
        spec: SourceSpec,
        source_factory: SourceFactory,
        out: LatestQueue[Frame],
        stats: PipelineStats,
        stop: threading.Event,
        emit: Emit,
        consumer_ready: threading.Event | None = None,
    ) -> None:
        super().__init__("capture", stop, emit)
        # Frames replaced while the inference stage still loads its models are not counted as drops.
        self._consumer_ready = consumer_ready
        self._spec = spec
        self._source_factory = source_factory
        self._out = out
        self._stats = stats
        self._source: Source | None = None
        self._index = 0
        self._t_next = 0.0  # when the next read is due, for sources that are not paced
        self._backoff = BACKOFF_FIRST_S
        self._failing = False  # the user was told the source is unavailable
        self._ended = False
        self._t_preview = 0.0  # when the next CameraPreview is due

    def _apply(self, command: object) -> None:
        if isinstance(command, SetSource):
            self._close_source()
            self._spec = command.spec
            self._backoff, self._failing, self._ended = BACKOFF_FIRST_S, False, False
            self._out.clear()
        else:
            raise TypeError(f"capture stage: unknown command {command!r}")

    def _step(self) -> None:
        if self._ended:
            self._wait(None)  # a video that does not loop has ended: wait for another source
            return
        if self._source is None:
            self._open_source()
            return
        source = self._source
        if not source.paced:
            delay = self._t_next - time.monotonic()
            if delay > 0:
                self._wait(delay)
                if self._stop.is_set() or not self._commands.empty():
                    return
            self._t_next = max(self._t_next + 1.0 / source.fps, time.monotonic() - 1.0 / source.fps)
        try:
            image = source.read()
        except AvatarifyError as exc:
            self._lost(exc)
            return
        if image is None:
            self._ended = True
            self._close_source()
            self._post(MessageLevel.INFO, f"{source.name} has ended.", key="camera")
            return
        if self._failing:  # back only once it delivers again: a source that opens but fails stays quiet
            self._post(MessageLevel.INFO, f"{as_sentence(source.name)} is working again.", key="camera")
            self._failing, self._backoff = False, BACKOFF_FIRST_S
        frame = Frame(image=image, index=self._index, t_capture=time.monotonic())
        self._index += 1
        self._stats.count_input()
        loading = self._consumer_ready is not None and not self._consumer_ready.is_set()
        if self._out.put(frame) and not loading:
            self._stats.count_dropped()
        if loading and frame.t_capture >= self._t_preview:  # the engine still loads: show the camera
            self._emit(CameraPreview(camera=image))
            self._t_preview = frame.t_capture + LOADING_PREVIEW_INTERVAL_S

    def _open_source(self) -> None:
        source: Source | None = None
        try:
            source = self._source_factory(self._spec)
            source.open()
        except AvatarifyError as exc:
            if source is not None:
                source.close()
            self._lost(exc)
            return
        self._source = source
        self._t_next = time.monotonic()

    def _lost(self, exc: AvatarifyError) -> None:
        """The source failed to open or stopped: tell the user once, wait, then try again."""
        self._close_source()
        if not self._failing:
            logger.info("source unavailable: %s", exc)
            self._post(MessageLevel.WARNING, f"{as_sentence(str(exc))} Retrying…", key="camera")
            self._failing = True
        self._wait(self._backoff)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def _teardown(self) -> None:
        self._close_source()
