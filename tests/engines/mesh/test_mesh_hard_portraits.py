"""Hard portraits for the mesh engine (issue 21): a turned face rolls and blinks in its own 3D frame,
and a mouth under a moustache opens with the lower lip and the jaw. Real portraits, the real tracker."""

import math

import cv2
import numpy as np
import pytest

from avatarify_app.engines import EngineOptions, MeshChoice, create_engine
from avatarify_app.engines.mesh.features import upper_lip_cover
from avatarify_app.engines.mesh.motion import face_axes
from avatarify_app.tracking import detect_face
from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.face_mesh import track_from_landmarks
from tests.conftest import read_rgb
from tests.tracking.test_crop import streak_lines


@pytest.fixture(scope="module")
def neutral_track(driving_frames):
    return detect_face(driving_frames[0])


@pytest.fixture(scope="module")
def la_velata(media_dir):
    """Raphael's La Velata: a real three-quarter view (the head turned about 23 degrees)."""
    return read_rgb(media_dir / "avatar_raphael_la_velata.jpg")


def _engine(avatar, driving_frames, neutral_track):
    engine = create_engine(MeshChoice(), EngineOptions(size=512))
    engine.set_avatar(avatar)
    engine.calibrate(driving_frames[0], neutral_track)
    return engine


def _rolled(track, degrees):
    """The driver's landmarks rolled in the picture about its face's centre (its own roll: it is frontal)."""
    points = track.landmarks.astype(np.float64).copy()
    centre = points[list(lm.RIGID), :2].mean(axis=0)
    a = math.radians(degrees)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    points[:, :2] = (points[:, :2] - centre) @ rotation.T + centre
    return track_from_landmarks(points.astype(np.float32))


def _angle(v):
    return math.degrees(math.atan2(v[1], v[0]))


def _turns(before, after):
    """How far (degrees) the eye line and the face's vertical (chin to forehead) turned in the picture."""
    eye = _angle(after[lm.LEFT_EYE_OUTER] - after[lm.RIGHT_EYE_OUTER]) - _angle(
        before[lm.LEFT_EYE_OUTER] - before[lm.RIGHT_EYE_OUTER]
    )
    vertical = _angle(after[lm.FOREHEAD_TOP] - after[lm.CHIN]) - _angle(
        before[lm.FOREHEAD_TOP] - before[lm.CHIN]
    )
    return eye, vertical


def test_a_rolled_driver_rolls_a_turned_avatar_about_its_own_axis(la_velata, driving_frames, neutral_track):
    engine = _engine(la_velata, driving_frames, neutral_track)
    rest = engine.output_landmarks.copy()
    roll = 20.0
    out = engine.animate(driving_frames[0], _rolled(neutral_track, roll))
    eye, vertical = _turns(rest, engine.output_landmarks)
    # Rolled about the turned face's own forward axis, the picture shows the eye line (foreshortened)
    # turning further than the nose line; the roll in the face's own plane is their geometric mean.
    assert eye > vertical + 1.0
    own = math.degrees(math.atan(math.sqrt(math.tan(math.radians(eye)) * math.tan(math.radians(vertical)))))
    assert own == pytest.approx(roll, abs=1.5)
    assert eye == pytest.approx(roll, abs=4.0)
    # FaceMesh reading the output sees the roll too.
    before, after = detect_face(engine.avatar_canvas), detect_face(out)
    assert after.found
    assert after.pose.roll - before.pose.roll == pytest.approx(roll, abs=5.0)
    assert engine.debug_stats["inverted_triangles"] == 0


def test_a_frontal_avatar_rolls_in_the_picture(media_dir, driving_frames, neutral_track):
    engine = _engine(read_rgb(media_dir / "avatar_astronaut_nasa.png"), driving_frames, neutral_track)
    rest = engine.output_landmarks.copy()
    engine.animate(driving_frames[0], _rolled(neutral_track, -20.0))
    eye, vertical = _turns(rest, engine.output_landmarks)
    assert eye == pytest.approx(-20.0, abs=1.5)
    assert vertical == pytest.approx(eye, abs=1.5)


def test_eyelids_close_along_a_turned_eye(la_velata, driving_frames, neutral_track):
    engine = _engine(la_velata, driving_frames, neutral_track)
    rest = engine.output_landmarks.copy()
    points = neutral_track.landmarks.copy()
    for ring in (lm.RIGHT_EYE, lm.LEFT_EYE):
        idx = list(ring)
        middle = points[idx, 1].mean()
        points[idx, 1] = middle + (points[idx, 1] - middle) * 0.1
    out = engine.animate(driving_frames[0], track_from_landmarks(points))
    now = engine.output_landmarks
    assert lm.eye_opening(now) < 0.3 * lm.eye_opening(rest)
    # Each upper lid came down along the avatar's own face axis (chin to forehead, seen in the picture).
    avatar = engine.avatar_track.landmarks
    up = face_axes(avatar)[:2, 1]
    up /= np.linalg.norm(up)
    for top in (lm.RIGHT_EYE_TOP, lm.LEFT_EYE_TOP):
        moved = now[top] - rest[top]
        assert float(moved @ -up) / np.linalg.norm(moved) > math.cos(math.radians(12))
    found = detect_face(out)
    assert found.found
    assert lm.eye_opening(found.landmarks) < 0.8 * lm.eye_opening(detect_face(engine.avatar_canvas).landmarks)


def _moustache(image):
    """A thick, dark moustache of strands from under the nose to just above the inner upper lip."""
    points = detect_face(image).landmarks[:, :2].astype(np.float64)
    lip = points[[78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]]
    outer = points[[61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]]
    nose = points[[206, 92, 165, 98, 97, 2, 326, 327, 391, 322, 426]]
    poly = np.concatenate([lip + 0.15 * (outer - lip), (nose + 0.25 * (outer - nose))[::-1]])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], (255,), cv2.LINE_AA)
    rng = np.random.default_rng(1)
    strands = cv2.GaussianBlur(rng.normal(0.0, 1.0, image.shape[:2]).astype(np.float32), (1, 11), 0) * 40
    hair = np.array([60.0, 50.0, 44.0], np.float32) + strands[..., None]
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255 * 0.9
    return np.clip(image * (1 - alpha) + hair * alpha, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def moustache_portrait(media_dir):
    return _moustache(read_rgb(media_dir / "avatar_astronaut_nasa.png"))


def test_a_moustache_is_told_from_a_bare_upper_lip(
    moustache_portrait, media_dir, avatar_mona_lisa, la_velata
):
    assert upper_lip_cover(moustache_portrait, detect_face(moustache_portrait).landmarks) > 0.5
    for bare in (read_rgb(media_dir / "avatar_astronaut_nasa.png"), avatar_mona_lisa, la_velata):
        assert upper_lip_cover(bare, detect_face(bare).landmarks) == 0.0


def test_the_mouth_opens_under_a_moustache_with_the_lower_lip_and_jaw(
    moustache_portrait, media_dir, driving_frames, neutral_track
):
    driver = detect_face(driving_frames[138])
    hairy = _engine(moustache_portrait, driving_frames, neutral_track)
    rest = hairy.output_landmarks.copy()
    out = hairy.animate(driving_frames[138], driver)
    now = hairy.output_landmarks
    bare = _engine(read_rgb(media_dir / "avatar_astronaut_nasa.png"), driving_frames, neutral_track)
    bare_rest = bare.output_landmarks.copy()
    bare.animate(driving_frames[138], driver)
    bare_now = bare.output_landmarks
    # As wide as without the moustache...
    assert lm.mouth_opening(now) > 0.8 * lm.mouth_opening(bare_now)

    # ...but the hair over the upper lip rises less towards the nose; the lower lip goes further down.
    def below_nose(points, index):
        return float(np.linalg.norm(points[index] - points[2]))  # 2: under the nose tip

    def change(before, after, index):
        return below_nose(after, index) - below_nose(before, index)

    bare_rise = -change(bare_rest, bare_now, lm.UPPER_INNER_LIP)
    assert bare_rise > 3.0  # the driver's upper lip rose: there is something to keep still
    assert -change(rest, now, lm.UPPER_INNER_LIP) < 0.6 * bare_rise

    def lower_share(before, after):  # of the lips' parting, what the lower lip did
        lower = change(before, after, lm.LOWER_INNER_LIP)
        return lower / (lower - change(before, after, lm.UPPER_INNER_LIP))

    assert lower_share(rest, now) > lower_share(bare_rest, bare_now) + 0.02
    # The cavity is drawn between the lips, dark, with teeth under the hair.
    mid = ((now[lm.UPPER_INNER_LIP] + now[lm.LOWER_INNER_LIP]) / 2).astype(int)
    assert out[mid[1], mid[0]].mean() < 0.5 * np.median(moustache_portrait)
    assert hairy.debug_stats["inverted_triangles"] == 0
    assert detect_face(out).found


def test_a_tight_three_quarter_crop_has_no_border_streaks(la_velata, driving_frames, neutral_track):
    x0, y0, x1, y1 = detect_face(la_velata).box
    mx, my = (x1 - x0) / 6, (y1 - y0) / 6
    tight = la_velata[int(y0 - 2 * my) : int(y1 + my), int(x0 - mx) : int(x1 + mx)].copy()
    engine = _engine(tight, driving_frames, neutral_track)
    assert streak_lines(engine.avatar_canvas, depth=64) == 0
    out = engine.animate(driving_frames[138], detect_face(driving_frames[138]))
    assert streak_lines(out, depth=64) == 0


def test_a_small_gray_tight_crop_has_no_border_streaks_and_an_untouched_face(avatar_mona_lisa):
    """Upscaled 5x, the heavily blurred fill past a small picture rounds to repeated edge lines."""
    from avatarify_app.tracking import crop_face
    from avatarify_app.tracking.crop import transform_points

    x0, y0, x1, y1 = detect_face(avatar_mona_lisa).box
    mx, my = (x1 - x0) / 6, (y1 - y0) / 6
    tight = avatar_mona_lisa[int(y0 - 2 * my) : int(y1 + my), int(x0 - mx) : int(x1 + mx)]
    small = cv2.resize(tight, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    engine = create_engine(MeshChoice(), EngineOptions(size=512))
    engine.set_avatar(gray)
    canvas = engine.avatar_canvas
    assert streak_lines(canvas, depth=64) == 0
    assert (canvas.max(axis=2) == canvas.min(axis=2)).all()
    # The picture itself is exactly the crop's: nothing blurred or grained on the face.
    crop = crop_face(gray, detect_face(gray).box, 512, scale=2.0, keep_inside=True)
    h, w = gray.shape[:2]
    (px0, py0), (px1, py1) = transform_points(
        crop.crop_from_frame, np.array([[0.0, 0.0], [w - 1.0, h - 1.0]])
    )
    inside = (slice(int(np.ceil(py0)), int(py1) + 1), slice(int(np.ceil(px0)), int(px1) + 1))
    assert np.array_equal(canvas[inside], crop.image[inside])


@pytest.fixture(scope="module")
def tight_astronaut(media_dir):
    """An official-photo framing: the face fills most of the square canvas."""
    image = read_rgb(media_dir / "avatar_astronaut_nasa.png")
    x0, y0, x1, y1 = detect_face(image).box
    mx, my = (x1 - x0) / 6, (y1 - y0) / 6
    return image[max(int(y0 - 2 * my), 0) : int(y1 + my), max(int(x0 - mx), 0) : int(x1 + mx)].copy()


def _moved(track, dx, dy):
    points = track.landmarks.astype(np.float64).copy()
    points[:, 0] += dx
    points[:, 1] += dy
    return track_from_landmarks(points.astype(np.float32))


def test_a_drifting_driver_never_takes_the_face_out_of_the_canvas(
    tight_astronaut, driving_frames, neutral_track
):
    """A phone held in a hand: the driver's face drifts far across its picture, which at the avatar's
    scale would take the avatar's face past the canvas's edges; it comes to a stop just inside them."""
    engine = _engine(tight_astronaut, driving_frames, neutral_track)
    rest = engine.output_landmarks.copy()
    height = float(np.ptp(neutral_track.landmarks[:, 1]))
    size = engine.output_shape[0]
    for dx, dy in ((0, height), (0, -height), (height, 0), (-height, 0), (0.7 * height, 0.7 * height)):
        out = engine.animate(driving_frames[0], _moved(neutral_track, dx, dy))
        now = engine.output_landmarks
        assert now.min() >= 0.0
        assert now.max() <= size - 1
        shift = now.mean(axis=0) - rest.mean(axis=0)
        assert shift @ np.array([dx, dy]) > 0  # it still went the driver's way
        assert engine.debug_stats["inverted_triangles"] == 0
        assert detect_face(out).found
    # Away from the edges the head follows the driver exactly (the same as with no canvas at all).
    from avatarify_app.engines.mesh.motion import MotionTransfer

    small = _moved(neutral_track, 3.0, -2.0).landmarks
    bounded = MotionTransfer(rest, neutral_track.landmarks, canvas=(size, size))
    free = MotionTransfer(rest, neutral_track.landmarks)
    assert np.array_equal(bounded(small).landmarks, free(small).landmarks)
    assert np.allclose(bounded(neutral_track.landmarks).landmarks, rest, atol=1e-9)


def _lips_parted(points, extra):
    """The landmarks with the lower lip and the jaw dropped by ``extra`` times the mouth's width."""
    moved = points[:, :2].astype(np.float64).copy()
    width = float(np.linalg.norm(moved[lm.LIPS_INNER[10]] - moved[lm.LIPS_INNER[0]]))
    below = moved[:, 1] > moved[lm.LIPS_OUTER[5], 1]  # under the lower lip's middle: the jaw
    below[list(lm.LIPS_INNER[1:10]) + list(lm.LIPS_OUTER[1:10])] = True
    moved[below, 1] += extra * width
    return moved


@pytest.mark.parametrize("gray", [False, True])
def test_a_wide_open_mouth_shows_lower_teeth_and_a_slightly_open_one_does_not(
    tight_astronaut, gray, monkeypatch
):
    from avatarify_app.engines.mesh import features

    engine = create_engine(MeshChoice(), EngineOptions(size=512))
    engine.set_avatar(tight_astronaut)
    image = engine.avatar_canvas
    if gray:
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    points = engine.output_landmarks
    tones = features.MouthTones.of(image, points)
    rest_opening = lm.mouth_opening(points)

    def painted(moved, lower_teeth):
        out = image.copy()
        with monkeypatch.context() as patch:
            if not lower_teeth:
                patch.setattr(features, "_LOWER_TEETH_FROM", 10.0)
            features.paint_mouth_cavity(out, moved, tones, rest_opening)
        if gray:
            assert (out.max(axis=2) == out.min(axis=2)).all()
        return out.astype(np.float32).mean(axis=2)

    wide = _lips_parted(points, 0.6)
    lower, upper = wide[lm.LOWER_INNER_LIP], wide[lm.UPPER_INNER_LIP]
    near = np.round(lower + (upper - lower) * (2.5 / np.linalg.norm(upper - lower))).astype(int)
    with_teeth, without = painted(wide, True), painted(wide, False)
    assert with_teeth[near[1], near[0]] > without[near[1], near[0]] + 40  # a light row over the lower lip
    middle = np.round((lower + upper) / 2).astype(int)
    assert with_teeth[middle[1], middle[0]] == without[middle[1], middle[0]]  # the cavity's middle stays dark
    slightly = _lips_parted(points, 0.12)
    assert np.array_equal(painted(slightly, True), painted(slightly, False))


def test_a_closed_eye_shows_a_lash_line_and_facemesh_reads_it_closed(
    tight_astronaut, driving_frames, neutral_track, monkeypatch
):
    from avatarify_app.engines.mesh import features

    engine = _engine(tight_astronaut, driving_frames, neutral_track)
    points = neutral_track.landmarks.copy()
    for ring in (lm.RIGHT_EYE, lm.LEFT_EYE):
        idx = list(ring)
        middle = points[idx, 1].mean()
        points[idx, 1] = middle + (points[idx, 1] - middle) * 0.1
    closed = track_from_landmarks(points)
    out = engine.animate(driving_frames[0], closed)
    now = engine.output_landmarks
    with monkeypatch.context() as patch:
        patch.setattr(features, "_lash_line", lambda ring, shape: np.zeros(shape, np.float32))
        bare = engine.animate(driving_frames[0], closed)
    lashes, no_lashes = out.astype(np.float32).mean(axis=2), bare.astype(np.float32).mean(axis=2)
    for top, bottom in ((lm.RIGHT_EYE_TOP, lm.RIGHT_EYE_BOTTOM), (lm.LEFT_EYE_TOP, lm.LEFT_EYE_BOTTOM)):
        x, y = np.round((now[top] + now[bottom]) / 2).astype(int)
        assert lashes[y - 1 : y + 2, x].min() < 0.8 * no_lashes[y - 1 : y + 2, x].min()  # dark along the seam
        above = (slice(y - 12, y - 6), slice(x - 3, x + 4))
        assert np.array_equal(out[above], bare[above])  # the lid above it untouched
    rest = lm.eye_opening(detect_face(engine.avatar_canvas).landmarks)
    assert lm.eye_opening(detect_face(out).landmarks) < 0.5 * rest


def test_a_closed_eye_behind_glasses_stays_gray_and_reads_closer():
    """The bundled Grace Hopper in gray: the closed lid is filled in from the picture around the eye
    (her glasses, her skin), channel by channel, so it stays exactly gray, and FaceMesh reads the eyes
    less open than at rest."""
    from avatarify_app.avatars import bundled_avatars, load_image

    hopper = load_image(next(p for p in bundled_avatars() if p.stem == "grace_hopper"))
    gray = cv2.cvtColor(cv2.cvtColor(hopper, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    engine = create_engine(MeshChoice(), EngineOptions(size=512))
    engine.set_avatar(gray)
    canvas = engine.avatar_canvas
    points = detect_face(canvas).landmarks
    engine.calibrate(canvas, track_from_landmarks(points))
    closed = points.copy()
    for ring in (lm.RIGHT_EYE, lm.LEFT_EYE):
        idx = list(ring)
        middle = closed[idx, 1].mean()
        closed[idx, 1] = middle + (closed[idx, 1] - middle) * 0.1
    out = engine.animate(canvas, track_from_landmarks(closed))
    assert (out.max(axis=2) == out.min(axis=2)).all()
    assert not np.array_equal(out, engine.animate(canvas, track_from_landmarks(points)))
    assert lm.eye_opening(detect_face(out).landmarks) < 0.95 * lm.eye_opening(points)
