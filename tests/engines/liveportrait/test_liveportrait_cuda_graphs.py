"""The per-frame step that CUDA graphs capture (``runtime.step.frame_step``) and the graph's static
buffers. On the CPU: the step equals the networks called one by one, and ``GraphedStep`` with its CPU
stand-in capture equals the step across frames, avatars, gains and switches. The ``gpu`` tests (graph
replay against eager on CUDA) skip without CUDA: none has run here yet."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from liveportrait_helpers import randomize_, save_models

from avatarify_app.engines.base import EngineOptions
from avatarify_app.engines.catalog import LivePortraitChoice
from avatarify_app.engines.liveportrait.checkpoint import build_models
from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from avatarify_app.engines.liveportrait.engine import BACKENDS, LivePortraitEngine
from avatarify_app.engines.liveportrait.model import KeypointInfo, RegionGains, stitch
from avatarify_app.engines.liveportrait.model.keypoints import relative_driving_keypoints, retarget_eye
from avatarify_app.engines.liveportrait.runtime.cuda_graphs import GraphedStep, capture_eager
from avatarify_app.engines.liveportrait.runtime.step import StepInputs, clone_tree, leaves, signature
from avatarify_app.errors import InputError
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import detect_face

TINY = LivePortraitConfig.tiny()
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_models(tmp_path_factory.mktemp("lp-graphs"), randomize_(build_models(TINY), seed=2))


@pytest.fixture(scope="module")
def tracks(driving_frames: dict[int, np.ndarray]) -> dict[int, FaceTrack]:
    return {n: detect_face(image) for n, image in driving_frames.items()}


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _engine(folder: Path, config: LivePortraitConfig = TINY, **kwargs) -> LivePortraitEngine:
    options = {k: kwargs.pop(k) for k in ("strength", "eyes", "mouth", "head") if k in kwargs}
    return LivePortraitEngine(EngineOptions(**options), checkpoint=folder, config=config, **kwargs)


def _reference(engine: LivePortraitEngine, inputs: StepInputs, track: FaceTrack) -> torch.Tensor:
    """The per-frame path with the networks called one by one, W without the avatar's cache, the
    gains as floats (the engine's path before the step was one function)."""
    models = engine.models
    retarget = engine.eye_retargeting and inputs.eye_ratios is not None and track.landmarks is not None
    gains = RegionGains(
        float(engine.strength),
        0.0 if retarget else float(engine.eyes),
        float(engine.mouth),
        float(engine.head),
    )
    info = KeypointInfo.from_heads(models.motion(inputs.driver))
    x_d = relative_driving_keypoints(inputs.source, info, inputs.neutral, gains)
    if retarget:
        assert inputs.eye_ratios is not None
        own = float(inputs.eye_ratios.mean())
        rows = torch.tensor([[float(inputs.eye_target)], [own]])
        deltas = retarget_eye(
            models.stitching,
            inputs.x_s.expand(2, -1, -1),
            torch.cat([inputs.eye_ratios.expand(2, 2), rows], 1),
        )
        x_d = x_d + (deltas[0] - deltas[1])[None]
    if engine.stitching:
        x_d = stitch(models.stitching, inputs.x_s, x_d)
    if engine.normalize_lip and inputs.lip_delta is not None:
        x_d = x_d + inputs.lip_delta
    return models.spade(models.warping(inputs.feature_3d, x_d, inputs.x_s)[0])


@pytest.mark.parametrize(
    "settings",
    [{}, {"strength": 0.8, "eyes": 0.3, "mouth": 1.5, "head": 0.5}, {"eye_retargeting": True, "eyes": 0.7}],
    ids=["defaults", "gains", "eye-retargeting"],
)
def test_the_step_equals_the_networks_one_by_one(
    tiny_folder, avatar_mona_lisa, driving_frames, tracks, settings
):
    engine = _engine(tiny_folder, **settings)
    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], tracks[0])
    for n in (75, 138):
        inputs, flags = engine.step_inputs(driving_frames[n], tracks[n])
        assert flags.eye_retargeting == settings.get("eye_retargeting", False)
        with torch.no_grad():
            got, want = engine._step(inputs, flags), _reference(engine, inputs, tracks[n])
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    engine.close()


def test_the_graphed_step_with_a_cpu_capture_follows_every_input(
    tiny_folder, avatar_mona_lisa, driving_frames, tracks, media_dir
):
    """Static buffers: each frame's inputs reach the captured function; a new avatar, new gains and a
    new calibration need no new capture; other switches do; the returned tensor is the caller's."""
    engine = _engine(tiny_folder)
    graphed = GraphedStep(engine._step, torch.device("cpu"), capture=capture_eager)

    def both(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, flags = engine.step_inputs(driving_frames[n], tracks[n])
        return graphed(inputs, flags), engine._step(inputs, flags)

    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], tracks[0])
    first, want = both(138)
    assert torch.equal(first, want)
    kept = first.clone()
    for n in (75, 0, 138):
        got, want = both(n)
        assert torch.equal(got, want)
    assert torch.equal(first, kept), "a later replay changed an output already returned"
    engine.head, engine.mouth = 0.4, 2.0  # gains: tensors in the buffers
    engine.set_avatar(_read(media_dir / "avatar_raphael_la_velata.jpg"))  # same shapes, new tensors
    engine.calibrate(driving_frames[75], tracks[75])
    for n in (138, 0):
        got, want = both(n)
        assert torch.equal(got, want)
    assert graphed.captures == 1
    engine.stitching = False  # a switch: a new capture
    got, want = both(138)
    assert torch.equal(got, want)
    assert graphed.captures == 2
    graphed.close()
    engine.close()


def test_tree_helpers_keep_shapes_and_order(tiny_folder, avatar_mona_lisa, driving_frames, tracks):
    engine = _engine(tiny_folder)
    engine.set_avatar(avatar_mona_lisa)
    engine.calibrate(driving_frames[0], tracks[0])
    inputs, _ = engine.step_inputs(driving_frames[138], tracks[138])
    copy = clone_tree(inputs)
    assert signature(copy) == signature(inputs)
    for a, b in zip(leaves(copy), leaves(inputs), strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.data_ptr() != b.data_ptr()
            assert torch.equal(a, b)
    assert leaves(inputs)[0] is inputs.driver
    engine.close()


def test_cuda_graphs_need_cuda(tiny_folder):
    with pytest.raises(InputError, match="cuda-graphs backend needs a CUDA device"):
        _engine(tiny_folder, backend="cuda-graphs")


def test_the_catalog_offers_the_engine_backends():
    backend = next(f for f in fields(LivePortraitChoice) if f.name == "backend")
    assert tuple(backend.metadata["choices"]) == BACKENDS


# -- on a CUDA GPU ----------------------------------------------------------------------------------


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float().clamp(0, 1) - b.float().clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_graph_replay_equals_eager_on_cuda(
    small_folder, small_config, avatar_mona_lisa, driving_frames, tracks, media_dir, precision
):
    engine = _engine(small_folder, small_config, device="cuda", precision=precision, head=0.7)
    assert engine.device_name.endswith(f"CUDA graphs {precision}")
    graphed = engine._graphed
    assert graphed is not None
    for avatar in (avatar_mona_lisa, _read(media_dir / "avatar_raphael_la_velata.jpg")):
        engine.set_avatar(avatar)
        engine.calibrate(driving_frames[0], tracks[0])
        for n in (138, 75, 0):
            inputs, flags = engine.step_inputs(driving_frames[n], tracks[n])
            replayed, eager = graphed(inputs, flags), engine._step(inputs, flags)
            if precision == "fp32":
                assert float((replayed - eager).abs().max()) <= 1e-3
            else:
                assert _psnr(replayed, eager) >= 40.0
        out = engine.animate(driving_frames[138], tracks[138])
        assert out.shape == (512, 512, 3)
    assert graphed.captures == 1
    engine.close()


@pytest.mark.gpu
@needs_cuda
def test_fp16_graphs_stay_close_to_fp32_eager(
    small_folder, small_config, avatar_mona_lisa, driving_frames, tracks
):
    outputs = []
    for backend, precision in (("torch", "fp32"), ("cuda-graphs", "fp16")):
        engine = _engine(small_folder, small_config, device="cuda", precision=precision, backend=backend)
        engine.set_avatar(avatar_mona_lisa)
        engine.calibrate(driving_frames[0], tracks[0])
        outputs.append(torch.from_numpy(engine.animate(driving_frames[138], tracks[138]) / 255.0))
        engine.close()
    assert _psnr(*outputs) >= 30.0
