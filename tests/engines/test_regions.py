"""Region weights and the partial head motion, on a real face's FaceMesh landmarks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from avatarify_app.engines.regions import (
    EYE_CORE,
    MOUTH_CORE,
    expression_gains,
    partial_similarity,
    region_weights,
)
from avatarify_app.tracking import detect_face
from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.crop import fit_similarity, transform_points

NOSE_TIP, FOREHEAD, LEFT_TEMPLE = 4, lm.FOREHEAD_TOP, 454


@pytest.fixture(scope="module")
def face(driving_frames) -> np.ndarray:
    return detect_face(driving_frames[0]).landmarks


def test_each_landmark_gets_its_region(face):
    weights = region_weights(face, face)
    assert weights.shape == (lm.NUM_LANDMARKS, 2)
    assert np.all(weights >= 0)
    assert np.all(weights.sum(axis=1) <= 1 + 1e-12)
    np.testing.assert_array_equal(weights[list(EYE_CORE)], [[1.0, 0.0]] * len(EYE_CORE))
    np.testing.assert_array_equal(weights[list(MOUTH_CORE)], [[0.0, 1.0]] * len(MOUTH_CORE))
    assert weights[lm.CHIN, 1] == 1.0  # the jaw goes with the mouth
    for rigid in (NOSE_TIP, FOREHEAD, LEFT_TEMPLE):
        assert weights[rigid].sum() < 0.2, rigid


def test_weights_fade_smoothly_between_regions(face):
    # Along the line from an eye down to the mouth corner, no step is larger than a small fraction.
    eye, corner = face[lm.RIGHT_EYE_BOTTOM, :2], face[61, :2]
    line = eye + np.linspace(0, 1, 200)[:, None] * (corner - eye)
    weights = region_weights(line, face)
    assert weights[0, 0] == 1.0
    assert weights[-1, 1] == 1.0
    assert np.abs(np.diff(weights, axis=0)).max() < 0.03
    assert weights.sum(axis=1).min() < 0.2, "the cheek between them belongs to neither region"


def test_weights_do_not_depend_on_where_the_face_is(face):
    move = cv2.getRotationMatrix2D((200.0, 240.0), 25.0, 1.7)
    move[:, 2] += (40, -30)
    moved = transform_points(move, face[:, :2].astype(np.float64))
    np.testing.assert_allclose(region_weights(moved, moved), region_weights(face, face), atol=1e-9)


def test_points_off_the_face_belong_to_no_region(face):
    x0, y0 = face[:, :2].min(axis=0)
    x1, y1 = face[:, :2].max(axis=0)
    far = np.array([[x0 - 150, y1 + 100], [x1 + 150, y1 + 100], [(x0 + x1) / 2, y0 - 200]])
    np.testing.assert_array_equal(region_weights(far, face), np.zeros((3, 2)))


def test_gains_blend_the_region_strengths(face):
    weights = region_weights(face, face)
    np.testing.assert_array_equal(expression_gains(weights, 0.7, 1.0, 1.0), np.full(len(face), 0.7))
    gains = expression_gains(weights, 1.0, 0.0, 2.0)
    assert np.all(gains[list(EYE_CORE)] == 0.0)
    assert np.all(gains[list(MOUTH_CORE)] == 2.0)
    assert gains[FOREHEAD] == pytest.approx(1.0, abs=0.1)
    assert np.all(expression_gains(weights, 0.5, 0.0, 2.0) == pytest.approx(0.5 * gains))


def test_partial_head_motion(face):
    centre = np.array([240.0, 230.0])
    angle, scale, shift = math.radians(12), 1.2, np.array([30.0, -10.0])
    rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    motion = np.concatenate([rotation, (centre + shift - rotation @ centre)[:, None]], axis=1)

    assert partial_similarity(motion, centre, 1.0) is motion
    np.testing.assert_allclose(partial_similarity(motion, centre, 0.0), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    for amount in (0.5, 2.0):
        part = partial_similarity(motion, centre, amount)
        a, b = part[0, 0], part[1, 0]
        assert math.atan2(b, a) == pytest.approx(amount * angle)
        assert math.hypot(a, b) == pytest.approx(scale**amount)
        np.testing.assert_allclose(part[:, :2] @ centre + part[:, 2], centre + amount * shift)
    # The fit the engines use gives back such a motion from the rigid landmarks it moved.
    rigid = face[list(lm.RIGID), :2].astype(np.float64)
    np.testing.assert_allclose(fit_similarity(rigid, transform_points(motion, rigid)), motion, atol=1e-9)
