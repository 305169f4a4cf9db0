import cv2
import numpy as np
import pytest

from avatarify_app.engines import EngineOptions, MeshChoice, OutputFraming, create_engine
from avatarify_app.tracking import detect_face
from avatarify_app.tracking.landmarks import mouth_opening


@pytest.fixture(scope="module")
def neutral_track(driving_frames):
    return detect_face(driving_frames[0])


@pytest.fixture
def engine(avatar_mona_lisa, driving_frames, neutral_track):
    engine = create_engine(MeshChoice(), EngineOptions(size=512))
    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], neutral_track)
    return engine


def _shifted(image, dx, dy, angle=0.0):
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_neutral_frame_gives_the_avatar_back(engine, driving_frames, neutral_track):
    out = engine.animate(driving_frames[0], neutral_track)
    assert out.shape == (512, 512, 3)
    assert out.dtype == np.uint8
    assert np.array_equal(out, engine.avatar_canvas)


def test_open_mouth_opens_the_avatars_mouth(engine, driving_frames):
    driver = detect_face(driving_frames[138])
    out = engine.animate(driving_frames[138], driver)
    found = detect_face(out)
    assert found.found
    assert mouth_opening(found.landmarks) >= 0.5 * mouth_opening(driver.landmarks)
    # The cavity is dark: the mouth's inside is not stretched lip colour.
    upper, lower = found.landmarks[13, :2], found.landmarks[14, :2]
    centre = ((upper + lower) / 2).astype(int)
    assert out[centre[1], centre[0]].mean() < 90


def test_closed_mouth_stays_closed(engine, driving_frames, neutral_track):
    out = engine.animate(driving_frames[0], neutral_track)
    assert mouth_opening(detect_face(out).landmarks) < 0.03


def test_head_shift_and_roll_move_the_avatar_the_same_way(engine, driving_frames, neutral_track):
    moved = _shifted(driving_frames[0], dx=30, dy=15, angle=-10)  # cv2: negative angle = clockwise
    driver = detect_face(moved)
    out = engine.animate(moved, driver)
    rest, now = detect_face(engine.avatar_canvas), detect_face(out)
    shift = np.mean(now.landmarks[:, :2], axis=0) - np.mean(rest.landmarks[:, :2], axis=0)
    assert shift[0] > 10
    assert shift[1] > 5
    roll = now.pose.roll - rest.pose.roll
    driver_roll = driver.pose.roll - neutral_track.pose.roll
    assert roll == pytest.approx(driver_roll, abs=4)
    assert roll > 5


def test_background_far_from_the_face_is_unchanged(avatar_mona_lisa, driving_frames, neutral_track):
    engine = create_engine(MeshChoice(), EngineOptions(framing=OutputFraming.FULL))
    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], neutral_track)
    out = engine.animate(driving_frames[138], detect_face(driving_frames[138]))
    assert out.shape == avatar_mona_lisa.shape
    x0, y0, x1, y1 = detect_face(avatar_mona_lisa).box
    far = np.ones(out.shape[:2], bool)
    w, h = x1 - x0, y1 - y0
    far[max(int(y0 - h), 0) : int(y1 + h), max(int(x0 - w), 0) : int(x1 + w)] = False
    diff = np.abs(out.astype(int) - avatar_mona_lisa.astype(int))[far]
    assert diff.max() <= 1
    assert not np.array_equal(out, avatar_mona_lisa)  # the face did move


def test_strength_scales_expressions_only(engine, driving_frames):
    driver = detect_face(driving_frames[138])
    engine.strength = 0.0
    still = engine.animate(driving_frames[138], driver)
    engine.strength = 1.0
    assert mouth_opening(detect_face(still).landmarks) < 0.03


def test_first_face_calibrates_when_not_calibrated(avatar_mona_lisa, driving_frames):
    engine = create_engine(MeshChoice(), EngineOptions(size=256))
    engine.set_avatar(avatar_mona_lisa)
    assert not engine.is_calibrated
    out = engine.animate(driving_frames[75], detect_face(driving_frames[75]))
    assert engine.is_calibrated
    assert out.shape == (256, 256, 3)
    assert np.array_equal(out, engine.avatar_canvas)


@pytest.mark.parametrize("avatar_file", ["avatar_astronaut_nasa.png", "avatar_raphael_la_velata.jpg"])
def test_other_portraits_open_their_mouths(media_dir, avatar_file, driving_frames, neutral_track):
    from tests.conftest import read_rgb

    engine = create_engine(MeshChoice())
    engine.set_avatar(read_rgb(media_dir / avatar_file))
    engine.calibrate(driving_frames[0], neutral_track)
    driver = detect_face(driving_frames[138])
    found = detect_face(engine.animate(driving_frames[138], driver))
    assert found.found
    assert mouth_opening(found.landmarks) >= 0.5 * mouth_opening(driver.landmarks)


def _driver_with(track, edit):
    from avatarify_app.tracking.face_mesh import track_from_landmarks

    points = track.landmarks.copy()
    edit(points)
    return track_from_landmarks(points)


def test_a_blink_closes_the_avatars_eyes(engine, driving_frames, neutral_track):
    from avatarify_app.tracking import landmarks as lm

    def close_eyes(points):
        for ring in (lm.RIGHT_EYE, lm.LEFT_EYE):
            idx = list(ring)
            middle = points[idx, 1].mean()
            points[idx, 1] = middle + (points[idx, 1] - middle) * 0.1

    out = engine.animate(driving_frames[0], _driver_with(neutral_track, close_eyes))
    rest = lm.eye_opening(detect_face(engine.avatar_canvas).landmarks)
    assert lm.eye_opening(detect_face(out).landmarks) < 0.8 * rest


def test_irises_move_the_gaze(engine, driving_frames, neutral_track):
    from avatarify_app.tracking import landmarks as lm

    irises = [lm.RIGHT_IRIS_CENTER, *lm.RIGHT_IRIS_RING, lm.LEFT_IRIS_CENTER, *lm.LEFT_IRIS_RING]

    def look_aside(points):
        points[irises, 0] += 4.0

    out = engine.animate(driving_frames[0], _driver_with(neutral_track, look_aside))
    before = detect_face(engine.avatar_canvas).landmarks
    after = detect_face(out).landmarks
    centres = [lm.RIGHT_IRIS_CENTER, lm.LEFT_IRIS_CENTER]
    assert np.mean(after[centres, 0] - before[centres, 0]) > 1.0
