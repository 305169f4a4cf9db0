"""Region strengths for FOMM: keypoints given regions by the driver's FaceMesh landmarks, their motion
scaled per region, the head motion scaled through the driving crop. Mechanics with placed keypoints and
random-weight networks (no trained checkpoint here)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from avatarify_app.engines.base import EngineOptions
from avatarify_app.engines.fomm import FommEngine
from avatarify_app.engines.fomm.model.motion import scale_motion
from avatarify_app.engines.fomm.regions import KeypointRegions, keypoints_to_pixels, scale_regions
from avatarify_app.engines.regions import MOUTH_CORE
from avatarify_app.tracking import crop_face, detect_face
from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.crop import transform_points

SIZE = 256


def _rolled(image: np.ndarray, angle: float, dx: float, dy: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def neutral(driving_frames):
    """The neutral driver: image, track, crop, and keypoints placed on an eye, the lips, the forehead
    and the nose bridge, with random jacobians."""
    image = driving_frames[0]
    track = detect_face(image)
    crop = crop_face(image, track.box, SIZE)
    in_crop = transform_points(crop.crop_from_frame, track.landmarks[:, :2].astype(np.float64))
    places = [
        in_crop[list(lm.RIGHT_EYE)].mean(axis=0),
        in_crop[list(MOUTH_CORE)].mean(axis=0),
        in_crop[lm.FOREHEAD_TOP],
        in_crop[6],  # between the eyes: partly eyes
    ]
    values = torch.tensor(np.array(places) / (SIZE - 1) * 2 - 1, dtype=torch.float32)[None]
    noise = torch.randn(1, len(places), 2, 2, generator=torch.Generator().manual_seed(2))
    jacobians = torch.eye(2).repeat(1, len(places), 1, 1) + 0.1 * noise
    return image, track, crop, {"value": values, "jacobian": jacobians}


def test_keypoints_get_the_region_they_sit_in(neutral):
    _, track, crop, kp = neutral
    np.testing.assert_allclose(
        keypoints_to_pixels(kp["value"][0].numpy(), SIZE)[2],
        transform_points(crop.crop_from_frame, track.landmarks[:, :2])[lm.FOREHEAD_TOP],
        atol=1e-3,
    )
    weights = KeypointRegions.calibrate(kp, crop, track.landmarks).weights
    assert weights.shape == (4, 2)
    np.testing.assert_allclose(weights[:3], [[1, 0], [0, 1], [0, 0]], atol=0.02)
    assert 0.2 < weights[3, 0] < 1.0
    assert weights[3, 1] < 0.05
    assert np.all(weights.sum(axis=1) <= 1 + 1e-9)


def test_scaling_moves_each_region_from_the_avatars_keypoints(neutral):
    _, track, crop, kp = neutral
    regions = KeypointRegions.calibrate(kp, crop, track.landmarks)
    generator = torch.Generator().manual_seed(3)
    source = {
        "value": torch.rand(1, 4, 2, generator=generator) - 0.5,
        "jacobian": torch.eye(2).repeat(1, 4, 1, 1),
    }
    target = {k: v + 0.2 * torch.randn(v.shape, generator=generator) for k, v in source.items()}

    same = scale_regions(regions, source, target, 0.8, 1.0, 1.0)
    for key in ("value", "jacobian"):
        assert torch.equal(same[key], scale_motion(source, target, 0.8)[key])

    muted = scale_regions(regions, source, target, 1.0, 0.0, 0.0)  # eyes and mouth at neutral
    for key in ("value", "jacobian"):
        torch.testing.assert_close(muted[key][:, :2], source[key][:, :2], atol=0.02, rtol=0)
        torch.testing.assert_close(muted[key][:, 2], target[key][:, 2])  # the forehead moves on
    doubled = scale_regions(regions, source, target, 1.0, 2.0, 1.0)
    torch.testing.assert_close(
        doubled["value"][:, 0], source["value"][:, 0] + 2 * (target["value"][:, 0] - source["value"][:, 0]),
        atol=0.05, rtol=0,
    )  # fmt: skip
    torch.testing.assert_close(doubled["value"][:, 1:3], target["value"][:, 1:3])
    assert scale_regions(None, source, target, 0.5, 0.0, 0.0)["value"].equal(
        scale_motion(source, target, 0.5)["value"]
    )


def test_head_zero_recuts_the_crop_to_the_neutral_head(neutral, driving_frames):
    image, track, crop, kp = neutral
    regions = KeypointRegions.calibrate(kp, crop, track.landmarks)
    moved = _rolled(driving_frames[75], angle=-12, dx=25, dy=10)
    moved_track = detect_face(moved)
    moved_crop = crop_face(moved, moved_track.box, SIZE)
    assert regions.head_crop(moved, moved_crop, moved_track.landmarks, 1.0) is moved_crop

    still = regions.head_crop(moved, moved_crop, moved_track.landmarks, 0.0)
    seen = detect_face(still.image)  # the crop the keypoint detector gets: head at its neutral pose
    neutral_seen = detect_face(crop.image)
    rigid = list(lm.RIGID)
    assert np.abs(seen.landmarks[rigid, :2] - neutral_seen.landmarks[rigid, :2]).mean() < 3.0
    assert seen.pose.roll == pytest.approx(neutral_seen.pose.roll, abs=2.0)
    before = detect_face(moved_crop.image)
    assert abs(before.pose.roll - neutral_seen.pose.roll) > 8  # the plain crop shows the roll
    assert lm.mouth_opening(seen.landmarks) > lm.mouth_opening(neutral_seen.landmarks) + 0.1


def test_engine_applies_region_strengths(tiny_checkpoint, tiny_config, avatar_mona_lisa, driving_frames):
    # fp32 asked for: the identities below are exact there, on any CPU (bf16 rounds the per-keypoint
    # gains' arithmetic differently from the plain strength's).
    engine = FommEngine(
        EngineOptions(size=64), checkpoint=tiny_checkpoint, config=tiny_config, device="cpu", precision="fp32"
    )
    engine.set_avatar(avatar_mona_lisa)
    tracks = {n: detect_face(driving_frames[n]) for n in (0, 138)}
    engine.calibrate(driving_frames[0], tracks[0])
    today = engine.animate(driving_frames[138], tracks[138])
    at_rest = engine.animate(driving_frames[0], tracks[0])
    engine.eyes, engine.mouth, engine.head = 0.0, 0.0, 0.0
    assert np.array_equal(engine.animate(driving_frames[0], tracks[0]), at_rest)
    muted = engine.animate(driving_frames[138], tracks[138])
    assert not np.array_equal(muted, today)
    engine.eyes, engine.mouth, engine.head = 1.0, 1.0, 1.0
    assert np.array_equal(engine.animate(driving_frames[138], tracks[138]), today)
    engine.close()
