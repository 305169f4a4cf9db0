"""Region strengths through the controller, eased into the engine over a few frames (no jump)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from avatarify_app.engines.base import EngineOptions
from avatarify_app.frames import FaceTrack
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.controls import RAMP_FRAMES, ControlRamp
from avatarify_app.pipeline.events import FramesReady
from tests.fakes import EventLog, StillEngine, VirtualCameraLog
from tests.pipeline.conftest import live_settings


def test_ramp_reaches_a_new_value_in_equal_steps() -> None:
    ramp = ControlRamp(EngineOptions())
    engine = SimpleNamespace()
    ramp.apply(engine)
    assert (engine.strength, engine.eyes, engine.mouth, engine.head) == (1.0, 1.0, 1.0, 1.0)
    ramp.set_target(EngineOptions(eyes=0.0, head=2.0))
    seen = []
    while ramp.moving:
        ramp.apply(engine)
        seen.append((engine.eyes, engine.head))
    assert len(seen) == RAMP_FRAMES
    np.testing.assert_allclose(seen, [(1 - k / RAMP_FRAMES, 1 + k / RAMP_FRAMES) for k in range(1, 7)])
    assert seen[-1] == (0.0, 2.0)
    assert (engine.strength, engine.mouth) == (1.0, 1.0)


def test_ramp_turns_round_from_where_it_is_and_resets_at_once() -> None:
    ramp = ControlRamp(EngineOptions())
    engine = SimpleNamespace()
    ramp.set_target(EngineOptions(mouth=0.0))
    for _ in range(3):
        ramp.apply(engine)
    assert engine.mouth == pytest.approx(0.5)
    ramp.set_target(EngineOptions(mouth=1.0))
    ramp.apply(engine)
    assert engine.mouth == pytest.approx(0.5 + 0.5 / RAMP_FRAMES)
    ramp.reset(EngineOptions(mouth=0.3))
    ramp.apply(engine)
    assert engine.mouth == 0.3
    assert not ramp.moving


def test_set_regions_while_stopped_changes_the_settings(driving_video: Path, media_dir: Path) -> None:
    controller = Controller(live_settings(driving_video, media_dir))
    controller.set_regions(eyes=0.0, head=3.0)
    controller.set_regions(mouth=-1.0)
    options = controller.settings.engine_options
    assert (options.eyes, options.mouth, options.head) == (0.0, 0.0, 2.0)  # clamped to 0..2
    controller.set_regions(mouth=0.5, eyes=float("nan"))
    assert controller.settings.engine_options == dataclasses.replace(options, mouth=0.5)


class _RecordingEngine(StillEngine):
    """Remembers the region strengths each frame was animated with."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        super().__init__(options)
        self.seen: list[tuple[float, float, float]] = []

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        self.seen.append((self.eyes, self.mouth, self.head))
        return super().animate(image, track)


def test_live_region_change_eases_in_over_a_few_frames(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    engines: list[_RecordingEngine] = []

    def factory(choice, options):
        engines.append(_RecordingEngine(options))
        return engines[-1]

    controller = controller_factory(
        live_settings(driving_video, media_dir, engine_options=EngineOptions(size=128, mouth=0.4)),
        engine_factory=factory,
    )
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady))
    controller.set_regions(mouth=1.0, head=0.0)
    events.wait_for(lambda e: isinstance(e, FramesReady) and engines[-1].seen[-1] == (1.0, 1.0, 0.0))
    controller.stop()

    seen = np.array(engines[-1].seen)
    assert tuple(seen[0]) == (1.0, 0.4, 1.0)  # the engine starts with the settings' values
    steps = np.abs(np.diff(seen, axis=0))
    assert steps[:, 1].max() == pytest.approx(0.6 / RAMP_FRAMES)
    assert steps[:, 2].max() == pytest.approx(1.0 / RAMP_FRAMES)
    assert np.all(steps[:, 0] == 0)
