"""Latency is measured from the driving frame an output answers: an engine with frames in flight (a
remote one) says how far behind it is (``Engine.frames_behind``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from avatarify_app.frames import FaceTrack
from avatarify_app.pipeline.events import FramesReady
from tests.fakes import EventLog, StillEngine, VirtualCameraLog
from tests.pipeline.conftest import live_settings

BEHIND = 5  # frames in flight
CLIP_FPS = 30.0  # the shared clip's rate, at which the capture stage paces it


class PipelinedEngine(StillEngine):
    """Answers each frame ``BEHIND`` calls later, as an engine on the far side of a network would."""

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        out = super().animate(image, track)
        self.frames_behind = min(self.animated - 1, BEHIND) if track.found else 0
        return out


def _latency_p50(controller_factory, events: EventLog, engine: type[StillEngine], driving_video, media_dir):
    controller = controller_factory(
        live_settings(driving_video, media_dir), engine_factory=lambda choice, options: engine(options)
    )
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady) and e.face_found, count=BEHIND + 2)
    since = time.monotonic()
    events.wait_for(lambda e: isinstance(e, FramesReady), count=len(events.of(FramesReady)) + 20)
    controller.stop()
    totals = controller.totals(since)
    assert totals is not None
    return totals.latency_p50_ms


def test_an_engine_with_frames_in_flight_reports_their_latency(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    p50 = _latency_p50(controller_factory, events, PipelinedEngine, driving_video, media_dir)
    # The answered frame was captured BEHIND frames (at least BEHIND / 30 s) before the newest one.
    assert p50 >= 0.9 * BEHIND / CLIP_FPS * 1000.0
