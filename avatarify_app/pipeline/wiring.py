"""The one place where the live stages and their queues are built and connected."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from avatarify_app.frames import Frame
from avatarify_app.outputs.recordings import Recordings
from avatarify_app.pipeline.capture_stage import CaptureStage, SourceFactory
from avatarify_app.pipeline.inference_stage import EngineFactory, InferenceStage, TrackerFactory
from avatarify_app.pipeline.output_stage import OutputStage
from avatarify_app.pipeline.queues import LatestQueue
from avatarify_app.pipeline.records import ProcessedFrame
from avatarify_app.pipeline.settings import LiveSettings
from avatarify_app.pipeline.stage import Emit
from avatarify_app.pipeline.stats import PipelineStats

logger = logging.getLogger(__name__)

MAX_FRAME_GRACE_S = 10.0  # the longest an engine's frame in flight may delay stopping, seconds


@dataclass(frozen=True, slots=True)
class Factories:
    """How the pipeline builds the parts that touch devices (tests swap in fakes)."""

    source: SourceFactory
    engine: EngineFactory
    recordings: Recordings
    tracker: TrackerFactory | None = None
    vcam_backend: str | None = None


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Running stages. ``stop`` ends them all: set the event, wake every stage, close the queues
    (consumers get ``QueueClosed``), join. Returns the names of threads still alive after ``timeout``."""

    capture: CaptureStage
    inference: InferenceStage
    output: OutputStage
    queues: tuple[LatestQueue, ...]
    stop_event: threading.Event
    stats: PipelineStats

    def start(self) -> None:
        for stage in (self.output, self.inference, self.capture):
            stage.start()

    def stop(self, timeout: float = 1.0) -> list[str]:
        self.stop_event.set()
        for stage in (self.capture, self.inference, self.output):
            stage.wake()
        for q in self.queues:
            q.close()
        # A frame in flight is allowed to finish: a slow engine (fomm on a CPU takes about a second a
        # frame) is busy, not stuck. Capped, so a hung engine still gets reported.
        in_flight_s = min(self.stats.last_inference_ms / 1000.0 * 1.5, MAX_FRAME_GRACE_S)
        deadline = time.monotonic() + timeout + in_flight_s
        stuck = [
            s.name
            for s in (self.capture, self.inference, self.output)
            if not s.join(deadline - time.monotonic())
        ]
        if stuck:
            logger.error("pipeline threads still running after %.1f s: %s", timeout, stuck)
        return stuck


def build_pipeline(settings: LiveSettings, factories: Factories, emit: Emit) -> Pipeline:
    """capture -> (newest wins) -> inference -> (newest wins) -> output -> sinks. Not yet started."""
    stop, ready, stats = threading.Event(), threading.Event(), PipelineStats()
    frames: LatestQueue[Frame] = LatestQueue(maxsize=1)
    processed: LatestQueue[ProcessedFrame] = LatestQueue(maxsize=1)
    capture = CaptureStage(
        settings.source, factories.source, out=frames, stats=stats, stop=stop, emit=emit, consumer_ready=ready
    )
    inference = InferenceStage(
        settings, factories.engine, inp=frames, out=processed, stats=stats, stop=stop, emit=emit,
        tracker_factory=factories.tracker, ready=ready,
    )  # fmt: skip
    output = OutputStage(
        settings, inp=processed, stats=stats, stop=stop, emit=emit,
        recordings=factories.recordings, vcam_backend=factories.vcam_backend,
    )  # fmt: skip
    return Pipeline(capture, inference, output, queues=(frames, processed), stop_event=stop, stats=stats)
