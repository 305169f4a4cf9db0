"""The CUDA-graph runtime: the captured step equals the eager one. Skips without CUDA (none here yet)."""

from __future__ import annotations

import pytest
import torch
from fomm_helpers import smooth_images

from avatarify_app.engines.fomm.checkpoint import load_checkpoint
from avatarify_app.engines.fomm.model.motion import movement_scale
from avatarify_app.engines.fomm.runtime import Motion, select_device
from avatarify_app.engines.fomm.runtime.cuda_graphs import CudaGraphRuntime
from avatarify_app.engines.fomm.runtime.torch_eager import TorchRuntime

_skip_without_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def needs_cuda(test):
    """Skipped without CUDA; ``-m gpu`` selects these (scripts/gpu_check.sh)."""
    return pytest.mark.gpu(_skip_without_cuda(test))


def test_strength_as_a_tensor_equals_strength_as_a_float(session_tiny):
    """The graph keeps the strength in a device tensor; the motion must not depend on which it gets."""
    kp_detector, _ = load_checkpoint(*session_tiny)
    images = smooth_images(3, seed=7)
    with torch.no_grad():
        source, initial, driver = (kp_detector(images[i : i + 1]) for i in range(3))
    motion = Motion(initial, movement_scale(source, initial))
    for strength in (0.0, 0.4, 1.0):
        as_float = motion.apply(source, driver, strength)
        as_tensor = motion.apply(source, driver, torch.tensor(strength))
        for key in ("value", "jacobian"):
            assert torch.allclose(as_float[key], as_tensor[key], atol=1e-6)


def test_cuda_graphs_need_a_cuda_device(session_tiny):
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        CudaGraphRuntime(*load_checkpoint(*session_tiny), select_device("cpu"), "fp32")


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_the_captured_step_equals_the_eager_step(session_tiny, precision):
    device = select_device("cuda")
    eager = TorchRuntime(*load_checkpoint(*session_tiny), device, precision)
    graphs = CudaGraphRuntime(*load_checkpoint(*session_tiny), device, precision)
    assert graphs.label.endswith(f"torch {precision} + CUDA graphs")
    images = smooth_images(4, seed=3).to(device.device)
    source, initial, drivers = images[:1], images[1:2], images[2:]

    def setup(runtime):
        avatar = runtime.prepare(source)
        kp_initial = runtime.keypoints(initial)
        return avatar, Motion(kp_initial, movement_scale(avatar.kp_source, kp_initial))

    eager_state, graph_state = setup(eager), setup(graphs)
    tolerance = 1e-4 if precision == "fp32" else 2e-2
    for strength in (1.0, 0.5):  # a new strength needs no new capture
        for i in range(2):
            driver = drivers[i : i + 1]
            expected = eager.step(driver, *eager_state, strength)
            got = graphs.step(driver, *graph_state, strength)
            assert got.device.type == "cuda"
            assert (got - expected).abs().max().item() <= tolerance
    graph = graphs._graph
    assert graph is not None
    graphs.step(drivers[:1], *graph_state, 1.0)
    assert graphs._graph is graph, "the same avatar and calibration replay the same graph"
    new_state = setup(graphs)  # a new avatar or calibration: captured again
    graphs.step(drivers[:1], *new_state, 1.0)
    assert graphs._graph is not graph
    graphs.close()
    eager.close()


@needs_cuda
def test_the_engine_uses_cuda_graphs_by_default_on_a_gpu(session_tiny, avatar_mona_lisa, driving_frames):
    from avatarify_app.engines.base import EngineOptions
    from avatarify_app.engines.fomm import FommEngine
    from avatarify_app.tracking import detect_face

    checkpoint, config = session_tiny
    engine = FommEngine(EngineOptions(size=64), checkpoint=checkpoint, config=config)
    assert engine.device_name.startswith("CUDA: ")
    assert engine.device_name.endswith("torch fp16 + CUDA graphs")
    engine.set_avatar(avatar_mona_lisa)
    track = detect_face(driving_frames[0])
    out = engine.animate(driving_frames[0], track)
    assert out.shape == (64, 64, 3)
    engine.close()
