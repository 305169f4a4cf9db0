"""What the mesh engine's picture must never show: smears, colour on a gray photo, a mouth outside the
lips, folds. Real portraits, the real tracker on the output."""

import cv2
import numpy as np
import pytest

from avatarify_app.engines import EngineOptions, MeshChoice, create_engine
from avatarify_app.tracking import detect_face
from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.face_mesh import track_from_landmarks
from tests.tracking.test_crop import streak_lines


@pytest.fixture(scope="module")
def neutral_track(driving_frames):
    return detect_face(driving_frames[0])


@pytest.fixture(scope="module")
def open_track(driving_frames):
    return detect_face(driving_frames[138])


def _engine(avatar, driving_frames, neutral_track, strength=1.0):
    engine = create_engine(MeshChoice(), EngineOptions(size=512, strength=strength))
    engine.set_avatar(avatar)
    engine.calibrate(driving_frames[0], neutral_track)
    return engine


@pytest.fixture(scope="module")
def tight_portrait(avatar_mona_lisa):
    """A tightly framed portrait: the face and a sixth of it around, as an official photo."""
    x0, y0, x1, y1 = detect_face(avatar_mona_lisa).box
    mx, my = (x1 - x0) / 6, (y1 - y0) / 6
    return avatar_mona_lisa[int(y0 - 2 * my) : int(y1 + my), int(x0 - mx) : int(x1 + mx)].copy()


def test_a_tight_portrait_renders_without_border_streaks(
    tight_portrait, driving_frames, neutral_track, open_track
):
    engine = _engine(tight_portrait, driving_frames, neutral_track)
    assert streak_lines(engine.avatar_canvas, depth=64) == 0
    out = engine.animate(driving_frames[138], open_track)
    assert streak_lines(out, depth=64) == 0
    assert detect_face(out).found


def test_a_grayscale_avatar_stays_exactly_gray(tight_portrait, driving_frames, neutral_track, open_track):
    gray = cv2.cvtColor(cv2.cvtColor(tight_portrait, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    engine = _engine(gray, driving_frames, neutral_track, strength=2.0)  # wide open: cavity and teeth
    for n in (75, 138):
        out = engine.animate(driving_frames[n], open_track if n == 138 else detect_face(driving_frames[n]))
        assert (out.max(axis=2) == out.min(axis=2)).all()
    # The mouth did open and was painted (a dark cavity, not an untouched gray picture).
    found = detect_face(out)
    centre = found.landmarks[[lm.UPPER_INNER_LIP, lm.LOWER_INNER_LIP], :2].mean(axis=0).astype(int)
    assert out[centre[1], centre[0], 0] < 0.6 * np.median(gray)


@pytest.mark.parametrize("avatar_file", ["avatar_mona_lisa.jpg", "avatar_astronaut_nasa.png"])
def test_the_cavity_fills_the_inner_lips_and_only_them(
    media_dir, avatar_file, driving_frames, neutral_track, monkeypatch
):
    from avatarify_app.engines.mesh import engine as mesh_engine
    from tests.conftest import read_rgb

    engine = _engine(read_rgb(media_dir / avatar_file), driving_frames, neutral_track)
    open_driver = detect_face(driving_frames[138])
    pressed = neutral_track.landmarks.copy()
    pressed[list(lm.LIPS_INNER)[:10], 1] -= 2.0  # the lower lip pressed up a little
    closed_driver = track_from_landmarks(pressed)
    out = engine.animate(driving_frames[138], open_driver)
    drawn = engine.output_landmarks
    closed = engine.animate(driving_frames[0], closed_driver)
    # The same frames without the mouth painted: what differs is the cavity.
    monkeypatch.setattr(mesh_engine, "paint_mouth_cavity", lambda *args: None)
    plain = engine.animate(driving_frames[138], open_driver)
    assert np.array_equal(engine.animate(driving_frames[0], closed_driver), closed)  # closed: nothing
    ys, xs = np.nonzero(np.abs(out.astype(int) - plain).max(axis=2) > 8)
    # Open: the cavity lies inside the inner-lip contour the lips were warped to (anti-aliasing
    # aside), fills most of it, is dark, and FaceMesh sees the output's mouth open.
    inner = drawn[list(lm.LIPS_INNER), :2].astype(np.float32)
    assert len(xs) > 0.7 * cv2.contourArea(inner)
    inside = [
        cv2.pointPolygonTest(inner, (float(x), float(y)), True) > -1.5 for x, y in zip(xs, ys, strict=True)
    ]
    assert np.mean(inside) > 0.99
    assert np.median(out[ys, xs].mean(axis=1)) < 0.5 * np.median(plain[ys, xs].mean(axis=1))
    found = detect_face(out).landmarks
    assert lm.mouth_opening(found) > 0.5 * lm.mouth_opening(drawn)


def _pushed_hard(track):
    """A strong synthetic expression: jaw dropped a third of the face, lips pressed across, mouth
    corners pulled wide, brows raised, one eye squeezed shut past closed."""
    points = track.landmarks.copy()
    face_h = np.linalg.norm(points[lm.CHIN, :2] - points[lm.FOREHEAD_TOP, :2])
    mouth_y = points[[lm.UPPER_INNER_LIP, lm.LOWER_INNER_LIP], 1].mean()
    below = np.clip((points[:, 1] - mouth_y) / (0.1 * face_h), 0.0, 1.0)
    points[:, 1] += (
        0.33 * face_h * below * np.clip(1 - np.abs(points[:, 0] - points[lm.CHIN, 0]) / face_h, 0, 1)
    )
    points[list(lm.LIPS_INNER)[:10], 1] -= 0.08 * face_h  # lower inner lip pushed above the upper
    for corner, side in ((61, -1), (291, 1)):
        points[corner, 0] += side * 0.15 * face_h
    points[[70, 63, 105, 66, 107, 336, 296, 334, 293, 300], 1] -= 0.08 * face_h
    eye = list(lm.RIGHT_EYE)
    middle = points[eye, 1].mean()
    points[eye, 1] = middle - (points[eye, 1] - middle) * 0.8  # the lids cross
    return track_from_landmarks(points)


@pytest.mark.parametrize("avatar_file", ["avatar_mona_lisa.jpg", "avatar_raphael_la_velata.jpg"])
def test_a_strong_expression_at_strength_2_folds_no_triangle(
    media_dir, avatar_file, driving_frames, neutral_track
):
    from tests.conftest import read_rgb

    engine = _engine(read_rgb(media_dir / avatar_file), driving_frames, neutral_track, strength=2.0)
    engine.animate(driving_frames[0], _pushed_hard(neutral_track))
    assert engine.debug_stats["folded_triangles"] > 20  # the transfer alone would fold the face...
    assert engine.debug_stats["inverted_triangles"] == 0  # ...the warp it renders folds nothing
    # A real wide-open frame and a turned head at strength 2 as well.
    for image in (driving_frames[138], cv2.flip(driving_frames[75], 1)):
        engine.animate(image, detect_face(image))
        assert engine.debug_stats["inverted_triangles"] == 0
