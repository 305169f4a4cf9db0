"""FommEngine end to end: a tiny checkpoint, a real portrait and real driving frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatarify_app.engines import FommChoice, create_engine
from avatarify_app.engines.base import EngineOptions, OutputFraming
from avatarify_app.engines.fomm import FommEngine
from avatarify_app.errors import CheckpointError, DeviceError, InputError, NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.modelstore import fomm_files
from avatarify_app.pipeline.engine_setup import open_engine
from avatarify_app.tracking import detect_face


@pytest.fixture(scope="module")
def driving_tracks(driving_frames: dict[int, np.ndarray]) -> dict[int, FaceTrack]:
    tracks = {n: detect_face(image) for n, image in driving_frames.items()}
    assert all(t.found for t in tracks.values())
    return tracks


def _engine(checkpoint: Path, config: Path, **options) -> FommEngine:
    return FommEngine(
        EngineOptions(**options), checkpoint=checkpoint, config=config, backend="torch", device="cpu"
    )


def test_animates_a_portrait_with_real_driving_frames(
    tiny_checkpoint, tiny_config, avatar_mona_lisa, driving_frames, driving_tracks
):
    engine = _engine(tiny_checkpoint, tiny_config, size=96)
    assert engine.device_name == "CPU, torch fp32"
    assert engine.frame_size == 64  # the tiny config's frame_shape
    engine.set_avatar(avatar_mona_lisa)
    assert engine.avatar_track.found
    assert not engine.is_calibrated
    outputs = {n: engine.animate(driving_frames[n], driving_tracks[n]) for n in (0, 75, 138)}
    assert engine.is_calibrated  # the first frame with a face calibrated
    # The engine returns the model's own size; sinks scale it (``size`` is the files' size).
    assert engine.output_shape == (64, 64)
    for out in outputs.values():
        assert out.shape == (64, 64, 3)
        assert out.dtype == np.uint8
        assert out.std() > 0
    assert not np.array_equal(outputs[0], outputs[138]), "the driver's mouth opened but nothing moved"
    engine.close()


def test_no_motion_at_zero_strength_and_on_the_calibration_frame(
    tiny_checkpoint, tiny_config, avatar_mona_lisa, driving_frames, driving_tracks
):
    engine = _engine(tiny_checkpoint, tiny_config, size=64)
    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], driving_tracks[0])
    at_rest = engine.animate(driving_frames[0], driving_tracks[0])
    engine.strength = 0.0
    still = [engine.animate(driving_frames[n], driving_tracks[n]) for n in (75, 138)]
    assert np.array_equal(still[0], still[1])
    assert np.abs(still[0].astype(int) - at_rest.astype(int)).max() <= 1


def test_full_framing_keeps_the_background_still(
    tiny_checkpoint, tiny_config, avatar_mona_lisa, driving_frames, driving_tracks
):
    engine = _engine(tiny_checkpoint, tiny_config, framing=OutputFraming.FULL)
    engine.set_avatar(avatar_mona_lisa)
    out = engine.animate(driving_frames[138], driving_tracks[138])
    assert engine.output_shape == avatar_mona_lisa.shape[:2]
    assert out.shape == avatar_mona_lisa.shape
    x0, y0, x1, y1 = engine.avatar_track.box
    face = out[int(y0) : int(y1), int(x0) : int(x1)]
    assert not np.array_equal(face, avatar_mona_lisa[int(y0) : int(y1), int(x0) : int(x1)])
    assert np.array_equal(out[-40:], avatar_mona_lisa[-40:]), "pixels far from the face changed"


def test_avatar_without_a_face(tiny_checkpoint, tiny_config):
    engine = _engine(tiny_checkpoint, tiny_config)
    with pytest.raises(NoFaceError, match="no face found in the avatar image: choose a portrait"):
        engine.set_avatar(np.full((256, 256, 3), 128, np.uint8))
    with pytest.raises(InputError, match=r"the avatar must be .* uint8; got shape \(64, 64, 3\) and float64"):
        engine.set_avatar(np.zeros((64, 64, 3)))


def test_without_a_checkpoint_the_error_says_where_to_put_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATARIFY_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(CheckpointError) as info:
        fomm_files(None, None)
    message = str(info.value)
    assert f"put vox-adv-cpk.pth.tar in {tmp_path / 'models'}" in message
    assert "--checkpoint PATH" in message
    with pytest.raises(CheckpointError, match=r"FOMM checkpoint .*missing\.pth\.tar not found"):
        fomm_files(tmp_path / "missing.pth.tar", None)
    with pytest.raises(CheckpointError, match=r"FOMM checkpoint .*missing\.pth\.tar not found"):
        open_engine(FommChoice(checkpoint=tmp_path / "missing.pth.tar"), EngineOptions())
    with pytest.raises(CheckpointError, match="needs a checkpoint"):
        create_engine(FommChoice(), EngineOptions())


def test_create_engine_and_the_default_checkpoint_place(tmp_path, tiny_checkpoint, tiny_config, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    tiny_checkpoint.rename(models / "vox-cpk.pth.tar")
    monkeypatch.setenv("AVATARIFY_MODELS_DIR", str(models))
    checkpoint, config = fomm_files(None, tiny_config)
    assert checkpoint == models / "vox-cpk.pth.tar"
    assert fomm_files(checkpoint, None)[1].name == "vox-256.yaml"
    engine = create_engine(FommChoice(checkpoint=checkpoint, config=config, backend="torch"), EngineOptions())
    assert isinstance(engine, FommEngine)
    assert engine.name == "fomm"


def test_a_missing_device_is_refused(tiny_checkpoint, tiny_config):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="cuda was asked for, but this torch has no CUDA GPU"):
        FommEngine(EngineOptions(), checkpoint=tiny_checkpoint, config=tiny_config, device="cuda")
    with pytest.raises(InputError, match="int8 needs the openvino backend"):
        FommEngine(
            EngineOptions(), checkpoint=tiny_checkpoint, config=tiny_config, backend="torch", precision="int8"
        )


def test_the_driver_crop_follows_the_head_but_not_the_jaw(driving_tracks):
    from avatarify_app.engines.fomm.engine import _follow_anchor, _make_anchor
    from avatarify_app.tracking.face_mesh import track_from_landmarks
    from avatarify_app.tracking.landmarks import RIGID

    neutral = driving_tracks[0]
    anchor = _make_anchor(neutral)
    assert np.allclose(_follow_anchor(anchor, neutral), neutral.box)
    moved = neutral.landmarks.copy()
    moved[:, :2] = (moved[:, :2] - 200) * 1.1 + 200 + np.array([10.0, 5.0])
    expected = (np.array(neutral.box).reshape(2, 2) - 200) * 1.1 + 200 + np.array([10.0, 5.0])
    assert np.allclose(_follow_anchor(anchor, track_from_landmarks(moved)), expected.reshape(4), atol=1e-3)
    jaw_down = neutral.landmarks.copy()
    not_rigid = np.setdiff1d(np.arange(len(jaw_down)), RIGID)
    jaw_down[not_rigid, 1] += np.where(jaw_down[not_rigid, 1] > neutral.landmarks[1, 1], 25.0, 0.0)
    opened = track_from_landmarks(jaw_down)
    assert opened.box[3] > neutral.box[3] + 20  # the landmark box grew...
    assert np.allclose(_follow_anchor(anchor, opened), neutral.box)  # ...the crop did not


def test_no_avatar_yet(tiny_checkpoint, tiny_config):
    engine = _engine(tiny_checkpoint, tiny_config, size=128)
    assert not engine.avatar_track.found
    assert engine.output_shape == (64, 64)
    engine.close()
    engine.close()
