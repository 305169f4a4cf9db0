"""Region strengths on the mesh engine, judged by FaceMesh on its output: real portrait, the shared clip
(mouth opening) and the demo motion made by scripts/make_demo_motion.py (blinks)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatarify_app.config import DEMO_CLIP
from avatarify_app.engines import EngineOptions, MeshChoice, create_engine
from avatarify_app.tracking import detect_face
from avatarify_app.tracking import landmarks as lm

DEMO_REST, DEMO_BLINKS = 0, (130, 292)  # frames of the demo motion: at rest, eyes nearly closed


def _demo_frames(indices: tuple[int, ...]) -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(DEMO_CLIP))
    frames, index = {}, 0
    while len(frames) < len(indices):
        ok, image = capture.read()
        assert ok, f"{DEMO_CLIP} ended before frame {max(indices)}"
        if index in indices:
            frames[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()
    return frames


def _rolled(image: np.ndarray, angle: float, dx: float, dy: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def drivers(driving_frames) -> dict[str, tuple[np.ndarray, object]]:
    """Driving frames with their tracks, found once for the module."""
    images = {f"clip{n}": driving_frames[n] for n in (0, 75, 138)}
    images["clip75_moved"] = _rolled(driving_frames[75], angle=-12, dx=30, dy=15)  # clockwise roll
    for n, image in _demo_frames((DEMO_REST, *DEMO_BLINKS)).items():
        images[f"demo{n}"] = image
    tracks = {name: detect_face(image) for name, image in images.items()}
    assert all(t.found for t in tracks.values())
    return {name: (images[name], tracks[name]) for name in images}


@pytest.fixture(scope="module")
def mesh(avatar_mona_lisa):
    engine = create_engine(MeshChoice(), EngineOptions(size=256))
    engine.set_avatar(avatar_mona_lisa)
    return engine, detect_face(engine.avatar_canvas)


def _animate(mesh, drivers, neutral: str, name: str, **controls: float):
    """FaceMesh of the output for driver ``name`` after calibrating on ``neutral``."""
    engine, _ = mesh
    engine.calibrate(*drivers[neutral])
    for control in ("strength", "eyes", "mouth", "head"):
        setattr(engine, control, controls.get(control, 1.0))
    out = engine.animate(*drivers[name])
    found = detect_face(out)
    assert found.found
    return out, found.landmarks


def _rigid_centre(points: np.ndarray) -> np.ndarray:
    return points[list(lm.RIGID), :2].mean(axis=0)


def test_mouth_zero_keeps_the_mouth_at_rest_while_the_eyes_follow(mesh, drivers):
    rest = mesh[1].landmarks
    _, talking = _animate(mesh, drivers, "clip0", "clip138")
    assert lm.mouth_opening(talking) > lm.mouth_opening(rest) + 0.05
    _, muted = _animate(mesh, drivers, "clip0", "clip138", mouth=0.0)
    assert lm.mouth_opening(muted) == pytest.approx(lm.mouth_opening(rest), abs=0.01)
    for blink in DEMO_BLINKS:
        _, blinking = _animate(mesh, drivers, f"demo{DEMO_REST}", f"demo{blink}", mouth=0.0)
        assert lm.eye_opening(blinking) < 0.8 * lm.eye_opening(rest)


def test_eyes_zero_keeps_the_eyes_open_through_blinks_while_the_mouth_follows(mesh, drivers):
    rest = mesh[1].landmarks
    for blink in DEMO_BLINKS:
        _, closed = _animate(mesh, drivers, f"demo{DEMO_REST}", f"demo{blink}")
        assert lm.eye_opening(closed) < 0.8 * lm.eye_opening(rest)
        _, open_ = _animate(mesh, drivers, f"demo{DEMO_REST}", f"demo{blink}", eyes=0.0)
        assert lm.eye_opening(open_) == pytest.approx(lm.eye_opening(rest), rel=0.1)
    _, talking = _animate(mesh, drivers, "clip0", "clip138", eyes=0.0)
    assert lm.mouth_opening(talking) > lm.mouth_opening(rest) + 0.05


def test_head_zero_keeps_the_head_in_place_while_the_mouth_follows(mesh, drivers):
    rest = mesh[1]
    out, moved = _animate(mesh, drivers, "clip0", "clip75_moved")
    assert np.linalg.norm(_rigid_centre(moved) - _rigid_centre(rest.landmarks)) > 8  # 256 px output
    assert abs(detect_face(out).pose.roll - rest.pose.roll) > 8
    out, still = _animate(mesh, drivers, "clip0", "clip75_moved", head=0.0)
    np.testing.assert_allclose(_rigid_centre(still), _rigid_centre(rest.landmarks), atol=2.0)
    assert detect_face(out).pose.roll == pytest.approx(rest.pose.roll, abs=2.0)
    # Frame 75's rounded, half-open mouth reads small on FaceMesh (about 0.03 against 0.001 at rest).
    assert lm.mouth_opening(still) > lm.mouth_opening(rest.landmarks) + 0.012


def test_region_strengths_at_one_give_todays_output(mesh, drivers):
    engine, _ = mesh
    engine.calibrate(*drivers["clip0"])
    for control in ("strength", "eyes", "mouth", "head"):
        setattr(engine, control, 1.0)
    today = engine.animate(*drivers["clip75_moved"])
    # Just off 1 the blended path runs (per-landmark gains, a partial head similarity): same picture.
    engine.eyes = engine.mouth = engine.head = 1.0 + 1e-9
    blended = engine.animate(*drivers["clip75_moved"])
    assert np.abs(blended.astype(int) - today.astype(int)).max() <= 1
    engine.eyes = engine.mouth = engine.head = 1.0
