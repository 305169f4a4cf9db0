"""The Engine contract (``engines/base.py``) as checks any engine must pass.

``test_engine_contract.py`` runs every check on every catalog entry and on the tests' ``StillEngine``;
an engine defined elsewhere (a test's toy engine, a plug-in) runs the same list. Each check takes a
``make(options) -> Engine`` and the ``ContractMedia`` of real faces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from avatarify_app.engines import Engine, EngineOptions
from avatarify_app.errors import NoFaceError
from avatarify_app.frames import FaceTrack

MakeEngine = Callable[[EngineOptions], Engine]
OPTIONS = EngineOptions(size=128)


@dataclass(frozen=True)
class ContractMedia:
    """A portrait, a picture without a face, and driving frames with their tracks: ``neutral`` (at
    rest) and ``moved`` (mouth wide open)."""

    avatar: np.ndarray
    faceless: np.ndarray
    neutral: tuple[np.ndarray, FaceTrack]
    moved: tuple[np.ndarray, FaceTrack]


def _ready(make: MakeEngine, media: ContractMedia, *, calibrated: bool = True) -> Engine:
    engine = make(OPTIONS)
    engine.set_avatar(media.avatar)
    if calibrated:
        engine.calibrate(*media.neutral)
    return engine


def check_output_is_rgb_of_output_shape(make: MakeEngine, media: ContractMedia) -> None:
    engine = _ready(make, media)
    for frame in (media.neutral, media.moved):
        out = engine.animate(*frame)
        assert out.dtype == np.uint8
        assert out.shape == (*engine.output_shape, 3)
    engine.close()


def check_no_face_gives_the_last_output(make: MakeEngine, media: ContractMedia) -> None:
    engine = _ready(make, media, calibrated=False)
    rest = engine.animate(media.faceless, FaceTrack.missing())
    assert rest.shape == (*engine.output_shape, 3), "no face yet: the avatar at rest"
    last = engine.animate(*media.moved)
    again = engine.animate(media.faceless, FaceTrack.missing())
    np.testing.assert_array_equal(again, last)
    engine.close()


def check_the_first_face_calibrates(make: MakeEngine, media: ContractMedia) -> None:
    engine = _ready(make, media, calibrated=False)
    assert not engine.is_calibrated
    engine.animate(*media.neutral)
    assert engine.is_calibrated
    engine.close()


def check_calibrating_without_a_face_raises(make: MakeEngine, media: ContractMedia) -> None:
    engine = _ready(make, media, calibrated=False)
    with pytest.raises(NoFaceError):
        engine.calibrate(media.faceless, FaceTrack.missing())
    engine.close()


def check_controls_change_between_frames(make: MakeEngine, media: ContractMedia) -> None:
    """Strength and regions may change between any two frames, and back again: the same frame with
    the same controls gives the same picture (a pixel or two may differ: a frame counter)."""
    engine = _ready(make, media)
    before = engine.animate(*media.moved).astype(int)
    for name in ("strength", "eyes", "mouth", "head"):
        setattr(engine, name, 0.0)
        out = engine.animate(*media.moved)
        assert out.shape == (*engine.output_shape, 3)
    for name in ("strength", "eyes", "mouth", "head"):
        setattr(engine, name, 2.0)
    assert engine.animate(*media.moved).shape == (*engine.output_shape, 3)
    for name in ("strength", "eyes", "mouth", "head"):
        setattr(engine, name, 1.0)
    after = engine.animate(*media.moved).astype(int)
    changed = np.abs(after - before).max(axis=-1) > 1
    assert changed.mean() < 0.001, "back to the same controls, the same frame looks the same"
    engine.close()


def check_it_says_where_it_runs(make: MakeEngine, media: ContractMedia) -> None:
    engine = _ready(make, media)
    engine.animate(*media.moved)
    assert isinstance(engine.device_name, str)
    assert engine.device_name
    assert isinstance(engine.frames_behind, int)
    assert engine.frames_behind >= 0
    engine.close()


def check_close_twice(make: MakeEngine, media: ContractMedia) -> None:
    engine = _ready(make, media)
    engine.animate(*media.moved)
    engine.close()
    engine.close()


# Engines that look for the avatar's face (every real one; not the tests' StillEngine).
def check_an_avatar_without_a_face_is_refused(make: MakeEngine, media: ContractMedia) -> None:
    engine = make(OPTIONS)
    with pytest.raises(NoFaceError):
        engine.set_avatar(media.faceless)
    engine.close()


def check_the_avatar_track_is_the_avatars_face(make: MakeEngine, media: ContractMedia) -> None:
    engine = _ready(make, media, calibrated=False)
    track = engine.avatar_track
    assert track.found
    assert track.box is not None
    x0, y0, x1, y1 = track.box
    h, w = media.avatar.shape[:2]
    assert 0 <= x0 < x1 <= w
    assert 0 <= y0 < y1 <= h
    engine.close()


FRAME_CHECKS = (
    check_output_is_rgb_of_output_shape,
    check_no_face_gives_the_last_output,
    check_the_first_face_calibrates,
    check_calibrating_without_a_face_raises,
    check_controls_change_between_frames,
    check_it_says_where_it_runs,
    check_close_twice,
)
AVATAR_CHECKS = (check_an_avatar_without_a_face_is_refused, check_the_avatar_track_is_the_avatars_face)
CHECKS = FRAME_CHECKS + AVATAR_CHECKS
