"""Relative motion: convex hull area, normalize_kp as the FOMM demo computes it, expression strength."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from avatarify_app.engines.fomm.model.motion import (
    convex_hull_area,
    movement_scale,
    normalize_kp,
    scale_motion,
)


def _kp(seed: int, batch: int = 1, k: int = 10) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    value = torch.rand(batch, k, 2, generator=generator) * 1.6 - 0.8
    jacobian = torch.eye(2) + 0.3 * torch.randn(batch, k, 2, 2, generator=generator)
    return {"value": value, "jacobian": jacobian}


def test_hull_area_of_simple_shapes():
    square_with_inside = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [0.5, 1.5]])
    assert convex_hull_area(square_with_inside) == pytest.approx(4.0)
    assert convex_hull_area(np.array([[0, 0], [4, 0], [0, 3]])) == pytest.approx(6.0)
    assert convex_hull_area(np.array([[0, 0], [1, 1], [2, 2], [3, 3]])) == 0.0  # collinear
    assert convex_hull_area(np.array([[0, 0], [1, 1]])) == 0.0


def test_hull_area_matches_opencv_on_random_points():
    rng = np.random.default_rng(5)
    for _ in range(20):
        points = rng.uniform(-1, 1, size=(10, 2)).astype(np.float32)
        expected = cv2.contourArea(cv2.convexHull(points))
        assert convex_hull_area(points) == pytest.approx(expected, rel=1e-5)


def test_no_motion_returns_the_source_keypoints():
    kp_source, kp_initial = _kp(0), _kp(1)
    kp_new = normalize_kp(
        kp_source,
        kp_initial,
        kp_initial,
        adapt_movement_scale=True,
        use_relative_movement=True,
        use_relative_jacobian=True,
    )
    assert torch.allclose(kp_new["value"], kp_source["value"])
    assert torch.allclose(kp_new["jacobian"], kp_source["jacobian"], atol=1e-6)


def test_movement_scale_is_the_root_of_the_hull_area_ratio():
    kp_initial = _kp(1, batch=2)
    kp_source = {
        "value": kp_initial["value"] * torch.tensor([[[0.5]], [[2.0]]]),
        "jacobian": kp_initial["jacobian"],
    }
    assert torch.allclose(movement_scale(kp_source, kp_initial), torch.tensor([0.5, 2.0]), atol=1e-5)
    kp_driving = {"value": kp_initial["value"] + 0.1, "jacobian": kp_initial["jacobian"]}
    kp_new = normalize_kp(
        kp_source, kp_driving, kp_initial, adapt_movement_scale=True, use_relative_movement=True
    )
    assert torch.allclose(kp_new["value"][0], kp_source["value"][0] + 0.05, atol=1e-6)
    assert torch.allclose(kp_new["value"][1], kp_source["value"][1] + 0.2, atol=1e-6)


def test_relative_motion_without_adapted_scale_moves_by_the_driver_displacement():
    kp_source, kp_initial, kp_driving = _kp(0), _kp(1), _kp(2)
    kp_new = normalize_kp(kp_source, kp_driving, kp_initial, use_relative_movement=True)
    expected = kp_source["value"] + kp_driving["value"] - kp_initial["value"]
    assert torch.allclose(kp_new["value"], expected)
    assert torch.equal(kp_new["jacobian"], kp_driving["jacobian"])  # absolute jacobian


def test_relative_jacobian_is_driving_times_initial_inverse_times_source():
    kp_source, kp_initial, kp_driving = _kp(0), _kp(1), _kp(2)
    kp_new = normalize_kp(
        kp_source, kp_driving, kp_initial, use_relative_movement=True, use_relative_jacobian=True
    )
    for k in range(10):
        j_drv, j_ini, j_src = (kp["jacobian"][0, k].double() for kp in (kp_driving, kp_initial, kp_source))
        expected = j_drv @ torch.linalg.inv(j_ini) @ j_src
        assert torch.allclose(kp_new["jacobian"][0, k].double(), expected, atol=1e-5)


def test_absolute_motion_returns_the_driving_keypoints_and_inputs_are_untouched():
    kp_source, kp_initial, kp_driving = _kp(0), _kp(1), _kp(2)
    before = {k: v.clone() for k, v in kp_driving.items()}
    kp_new = normalize_kp(kp_source, kp_driving, kp_initial)
    assert kp_new["value"] is kp_driving["value"]
    normalize_kp(kp_source, kp_driving, kp_initial, True, True, True)
    assert all(torch.equal(before[k], kp_driving[k]) for k in before)


def test_strength_scales_the_displacement():
    kp_source, kp_target = _kp(0), _kp(3)
    half = scale_motion(kp_source, kp_target, 0.5)
    assert torch.allclose(half["value"], (kp_source["value"] + kp_target["value"]) / 2)
    assert torch.allclose(half["jacobian"], (kp_source["jacobian"] + kp_target["jacobian"]) / 2)
    none = scale_motion(kp_source, kp_target, 0.0)
    assert torch.equal(none["value"], kp_source["value"])
    assert scale_motion(kp_source, kp_target, 1.0)["value"] is kp_target["value"]
