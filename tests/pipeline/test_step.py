"""The frame step live mode and ``render`` share: real FaceMesh tracking, a still test engine."""

from __future__ import annotations

import numpy as np

from avatarify_app.engines.base import EngineOptions
from avatarify_app.pipeline.step import track_and_animate
from avatarify_app.tracking import FaceTracker, TrackerOptions
from tests.fakes import StillEngine


def test_the_step_animates_a_face_and_passes_the_camera_through_when_asked(
    avatar_mona_lisa: np.ndarray, driving_frames: dict[int, np.ndarray]
) -> None:
    engine = StillEngine(EngineOptions(size=64))
    engine.set_avatar(avatar_mona_lisa)
    face, blank = driving_frames[0], np.zeros((240, 240, 3), np.uint8)
    with FaceTracker(TrackerOptions(static=True, smoothing=None)) as tracker:
        animated = track_and_animate(tracker, engine, face, 0.0)
        passthrough = track_and_animate(tracker, engine, face, 0.1, passthrough=True)
        lost = track_and_animate(tracker, engine, blank, 0.2, passthrough_when_lost=True)
        no_engine = track_and_animate(tracker, None, face, 0.3)

    assert (animated.animated, animated.track.found) == (True, True)
    assert animated.output.shape == (64, 64, 3)  # the engine's native size: the sinks resize
    assert (passthrough.animated, passthrough.output is face) == (False, True)
    assert (lost.animated, lost.track.found, lost.output is blank) == (False, False, True)
    assert (no_engine.animated, no_engine.track.found, no_engine.output is face) == (False, True, True)
