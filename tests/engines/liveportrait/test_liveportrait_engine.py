"""LivePortraitEngine end to end: random weights, a real portrait, real driving frames, real FaceMesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from liveportrait_helpers import randomize_, save_models

from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming
from avatarify_app.engines.liveportrait.checkpoint import build_models
from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from avatarify_app.engines.liveportrait.engine import LivePortraitEngine
from avatarify_app.engines.liveportrait.ratios import eye_ratios, lip_ratio
from avatarify_app.errors import CheckpointError, InputError, NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import detect_face

TINY = LivePortraitConfig.tiny()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_models(tmp_path_factory.mktemp("lp-tiny"), randomize_(build_models(TINY), seed=1))


@pytest.fixture(scope="module")
def driving_tracks(driving_frames: dict[int, np.ndarray]) -> dict[int, FaceTrack]:
    tracks = {n: detect_face(image) for n, image in driving_frames.items()}
    assert all(t.found for t in tracks.values())
    return tracks


def _engine(folder: Path, config: LivePortraitConfig = TINY, **kwargs) -> LivePortraitEngine:
    options = {k: kwargs.pop(k) for k in ("framing", "strength", "eyes", "mouth", "head") if k in kwargs}
    return LivePortraitEngine(
        EngineOptions(**options), checkpoint=folder, config=config, device="cpu", **kwargs
    )


def test_released_sizes_give_512_frames(
    small_folder, small_config, avatar_mona_lisa, driving_frames, driving_tracks
):
    """The small layout has the released structure: 256 in, 512 x 512 x 3 uint8 out."""
    engine = _engine(small_folder, small_config)
    assert isinstance(engine, Engine)
    assert engine.device_name == "CPU, torch fp32"
    assert engine.frames_behind == 0
    engine.set_avatar(avatar_mona_lisa)
    out = engine.animate(driving_frames[138], driving_tracks[138])
    assert engine.is_calibrated
    assert out.shape == (512, 512, 3)
    assert out.dtype == np.uint8
    assert engine.output_shape == (512, 512)
    assert out.std() > 1
    engine.close()
    engine.close()


def test_motion_moves_the_output(tiny_folder, avatar_mona_lisa, driving_frames, driving_tracks):
    engine = _engine(tiny_folder)
    engine.set_avatar(avatar_mona_lisa)
    assert engine.avatar_track.found
    assert not engine.is_calibrated
    first = engine.animate(driving_frames[0], driving_tracks[0])  # calibrates
    assert engine.is_calibrated
    assert first.shape == (128, 128, 3)
    wide = engine.animate(driving_frames[138], driving_tracks[138])
    assert np.abs(first.astype(int) - wide.astype(int)).max() > 0, "the mouth opened but nothing moved"
    again = engine.animate(driving_frames[0], driving_tracks[0])
    np.testing.assert_array_equal(again, first)  # back at the neutral pose: the same picture


def test_at_the_neutral_frame_gains_change_nothing(
    tiny_folder, avatar_mona_lisa, driving_frames, driving_tracks
):
    """Relative motion: the calibrated frame drives x_d = x_s whatever the strengths."""
    engine = _engine(tiny_folder)
    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], driving_tracks[0])
    base = engine.animate(driving_frames[0], driving_tracks[0])
    engine.strength, engine.eyes, engine.mouth, engine.head = 0.3, 0.0, 2.0, 0.5
    scaled = engine.animate(driving_frames[0], driving_tracks[0])
    assert np.abs(scaled.astype(int) - base.astype(int)).max() <= 1  # float rounding of R^0.5 only


def test_regions_and_strength_change_the_output(
    tiny_folder, avatar_mona_lisa, driving_frames, driving_tracks
):
    engine = _engine(tiny_folder)
    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], driving_tracks[0])
    frame, track = driving_frames[138], driving_tracks[138]
    full = engine.animate(frame, track)
    outputs = {}
    for name in ("strength", "eyes", "mouth", "head"):
        setattr(engine, name, 0.0)
        outputs[name] = engine.animate(frame, track)
        setattr(engine, name, 1.0)
        assert not np.array_equal(outputs[name], full), f"{name} = 0 changed nothing"
    np.testing.assert_array_equal(engine.animate(frame, track), full)
    assert not np.array_equal(outputs["eyes"], outputs["mouth"])


def test_stitching_and_eye_retargeting_options(tiny_folder, avatar_mona_lisa, driving_frames, driving_tracks):
    frame, track = driving_frames[138], driving_tracks[138]
    results = {}
    for label, kwargs in {
        "default": {},
        "no stitching": {"stitching": False},
        "eye retargeting": {"eye_retargeting": True},
    }.items():
        engine = _engine(tiny_folder, **kwargs)
        engine.set_avatar(avatar_mona_lisa)
        engine.calibrate(driving_frames[0], driving_tracks[0])
        results[label] = engine.animate(frame, track)
    assert not np.array_equal(results["default"], results["no stitching"])
    assert not np.array_equal(results["default"], results["eye retargeting"])


def test_no_face_returns_the_last_output(tiny_folder, avatar_mona_lisa, driving_frames, driving_tracks):
    engine = _engine(tiny_folder)
    engine.set_avatar(avatar_mona_lisa)
    blank = np.zeros_like(driving_frames[0])
    rest = engine.animate(blank, FaceTrack.missing())
    assert rest.shape == (128, 128, 3)  # the avatar's crop at rest
    assert not engine.is_calibrated
    out = engine.animate(driving_frames[75], driving_tracks[75])
    np.testing.assert_array_equal(engine.animate(blank, FaceTrack.missing()), out)


def test_calibrate_without_a_face_raises(tiny_folder, avatar_mona_lisa, driving_frames):
    engine = _engine(tiny_folder)
    engine.set_avatar(avatar_mona_lisa)
    with pytest.raises(NoFaceError, match="no face in the driving frame"):
        engine.calibrate(driving_frames[0], FaceTrack.missing())
    assert not engine.is_calibrated


def test_a_faceless_avatar_raises(tiny_folder):
    engine = _engine(tiny_folder)
    with pytest.raises(NoFaceError, match="no face found in the avatar"):
        engine.set_avatar(np.full((200, 200, 3), 128, np.uint8))


def test_full_framing_pastes_back_into_the_avatar(
    tiny_folder, avatar_mona_lisa, driving_frames, driving_tracks
):
    engine = _engine(tiny_folder, framing=OutputFraming.FULL)
    engine.set_avatar(avatar_mona_lisa)
    out = engine.animate(driving_frames[138], driving_tracks[138])
    h, w = avatar_mona_lisa.shape[:2]
    assert out.shape == (h, w, 3)
    assert engine.output_shape == (h, w)
    changed = np.any(out != avatar_mona_lisa, axis=2)
    assert changed.any()
    # Outside the face crop the picture is untouched, byte for byte.
    x0, y0, x1, y1 = engine.avatar_track.box
    side = 2.0 * max(x1 - x0, y1 - y0)
    far = np.ones((h, w), bool)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    far[max(int(cy - side), 0) : int(cy + side), max(int(cx - side), 0) : int(cx + side)] = False
    assert far.any()
    assert not changed[far].any()


def test_bad_arguments(tiny_folder, tmp_path):
    with pytest.raises(InputError, match="unknown backend"):
        _engine(tiny_folder, backend="onnx")
    with pytest.raises(InputError, match="fp16 needs a CUDA device"):
        _engine(tiny_folder, precision="fp16")
    with pytest.raises(CheckpointError, match="not found"):
        _engine(tmp_path / "none")
    engine = _engine(tiny_folder)
    with pytest.raises(InputError, match=r"must be an RGB image of shape \(H, W, 3\) and type uint8"):
        engine.set_avatar(np.zeros((10, 10), np.uint8))


def test_ratios_from_facemesh(driving_frames, driving_tracks):
    closed, wide = driving_tracks[0].landmarks, driving_tracks[138].landmarks
    assert closed is not None
    assert wide is not None
    assert lip_ratio(wide) > lip_ratio(closed) + 0.1
    assert lip_ratio(closed) < 0.1
    left, right = eye_ratios(closed)
    assert 0.1 < left < 0.6
    assert 0.1 < right < 0.6
    # Scale- and shift-invariant: the ratios of the same face in another pixel frame are the same.
    moved = closed * 2.5 + 10
    assert eye_ratios(moved)[0] == pytest.approx(left, rel=1e-4)
    assert lip_ratio(moved * 1.0) == pytest.approx(lip_ratio(closed), abs=1e-6)


@pytest.mark.slow
def test_openvino_backend_matches_torch_and_caches(
    tiny_folder, tmp_path, avatar_mona_lisa, driving_frames, driving_tracks
):
    """F, M, W (4-D sampling) and G on OpenVINO: the same picture as torch, converted once."""
    outputs = {}
    messages: list[str] = []
    for label, backend in (("torch", "torch"), ("first", "openvino"), ("cached", "openvino")):
        engine = _engine(tiny_folder, backend=backend, cache_dir=tmp_path / "cache", progress=messages.append)
        engine.set_avatar(avatar_mona_lisa)
        engine.calibrate(driving_frames[0], driving_tracks[0])
        outputs[label] = engine.animate(driving_frames[138], driving_tracks[138])
        if label == "first":
            assert engine.device_name == "CPU, OpenVINO fp32"
            assert any("converting" in m for m in messages)
        if label == "cached":
            assert engine._ov is not None
            assert engine._ov.converted_now == []
        engine.close()
    for label in ("first", "cached"):
        assert np.abs(outputs[label].astype(int) - outputs["torch"].astype(int)).max() <= 2
    with pytest.raises(InputError, match="fp16 needs a CUDA device"):
        _engine(tiny_folder, backend="openvino", precision="fp16")
