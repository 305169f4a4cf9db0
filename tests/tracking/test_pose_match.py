"""pose_match: head pose and expression of the driver against the avatar, as a score in [0, 1]."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import detect_face
from avatarify_app.tracking.face_mesh import track_from_landmarks
from avatarify_app.tracking.pose_match import AutoCalibrator, PoseMatchTolerances, pose_match


@pytest.fixture(scope="module")
def tracks(driving_frames: dict[int, np.ndarray], avatar_mona_lisa: np.ndarray) -> dict[str, FaceTrack]:
    found = {f"frame_{n:03d}": detect_face(image) for n, image in driving_frames.items()}
    found["mona_lisa"] = detect_face(avatar_mona_lisa)
    assert all(t.found for t in found.values()), "the test media must show a face in every image"
    return found


def _rolled(track: FaceTrack, degrees: float) -> FaceTrack:
    """The same face turned in the image plane by ``degrees`` around its box centre."""
    assert track.landmarks is not None
    assert track.box is not None
    centre = np.array([(track.box[0] + track.box[2]) / 2, (track.box[1] + track.box[3]) / 2])
    a = math.radians(degrees)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    points = track.landmarks.copy()
    points[:, :2] = (points[:, :2] - centre) @ rotation.T + centre
    return track_from_landmarks(points.astype(np.float32))


def test_same_face_matches_fully(tracks: dict[str, FaceTrack]) -> None:
    assert pose_match(tracks["frame_000"], tracks["frame_000"]) == pytest.approx(1.0)


def test_score_is_symmetric_and_in_range(tracks: dict[str, FaceTrack]) -> None:
    for a in tracks.values():
        for b in tracks.values():
            score = pose_match(a, b)
            assert 0.0 <= score <= 1.0
            assert score == pytest.approx(pose_match(b, a))


def test_open_mouth_lowers_the_match_with_a_closed_mouth_avatar(tracks: dict[str, FaceTrack]) -> None:
    neutral = tracks["frame_000"]
    half_open = pose_match(tracks["frame_075"], neutral)
    wide_open = pose_match(tracks["frame_138"], neutral)
    assert wide_open < half_open < 0.9, (half_open, wide_open)
    # the neutral driver frame matches the closed-mouth avatar better than the wide-open one does
    assert pose_match(neutral, tracks["mona_lisa"]) > pose_match(tracks["frame_138"], tracks["mona_lisa"])


def test_head_roll_lowers_the_match(tracks: dict[str, FaceTrack]) -> None:
    neutral = tracks["frame_000"]
    slightly = pose_match(_rolled(neutral, 3.0), neutral)
    strongly = pose_match(_rolled(neutral, 30.0), neutral)
    assert slightly > 0.9
    assert strongly < 0.01
    assert slightly > strongly


def test_roll_is_compared_on_the_circle(tracks: dict[str, FaceTrack]) -> None:
    neutral = tracks["frame_000"]
    flipped_a, flipped_b = _rolled(neutral, 179.0), _rolled(neutral, -179.0)
    assert pose_match(flipped_a, flipped_b) > 0.9


def test_missing_face_scores_zero(tracks: dict[str, FaceTrack]) -> None:
    assert pose_match(FaceTrack.missing(), tracks["frame_000"]) == 0.0
    assert pose_match(tracks["frame_000"], FaceTrack.missing()) == 0.0


def test_tolerances_widen_the_match(tracks: dict[str, FaceTrack]) -> None:
    strict = pose_match(tracks["frame_138"], tracks["frame_000"])
    loose = pose_match(tracks["frame_138"], tracks["frame_000"], PoseMatchTolerances(mouth=1.0))
    assert loose > strict


def test_auto_calibrator_fires_once_after_holding_the_pose() -> None:
    auto = AutoCalibrator(threshold=0.9, hold_s=1.0)
    times = [i / 10 for i in range(30)]
    fired = [t for t in times if auto.update(0.95, t)]
    assert fired == [pytest.approx(1.0)]


def test_auto_calibrator_needs_an_unbroken_stretch() -> None:
    auto = AutoCalibrator(threshold=0.9, hold_s=1.0)
    assert not auto.update(0.95, 0.0)
    assert not auto.update(0.95, 0.8)
    assert not auto.update(0.5, 0.9)  # the match broke: start again
    assert not auto.update(0.95, 1.0)
    assert not auto.update(0.95, 1.9)
    assert auto.update(0.95, 2.0)


def test_auto_calibrator_rearms_when_the_match_drops() -> None:
    auto = AutoCalibrator(threshold=0.9, hold_s=0.5)
    assert auto.update(0.95, 0.0) is False
    assert auto.update(0.95, 0.5) is True
    assert auto.update(0.95, 5.0) is False
    auto.update(0.1, 5.1)
    auto.update(0.95, 5.2)
    assert auto.update(0.95, 5.7) is True
    auto.reset()
    assert auto.update(0.95, 5.8) is False
