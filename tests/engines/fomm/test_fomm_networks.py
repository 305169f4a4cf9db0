"""The FOMM networks: known cases (identity motion, soft-argmax), caching and the fast inference copies."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from avatarify_app.engines.fomm.model.dense_motion import sparse_motions
from avatarify_app.engines.fomm.model.fusion import fold_batch_norms
from avatarify_app.engines.fomm.model.generator import warp
from avatarify_app.engines.fomm.model.keypoints import heatmap_to_keypoints
from avatarify_app.engines.fomm.model.layers import (
    AntiAliasInterpolation2d,
    inverse_2x2,
    make_coordinate_grid,
)


def test_coordinate_grid_spans_minus_one_to_one_x_first():
    grid = make_coordinate_grid(3, 5)
    assert grid.shape == (3, 5, 2)
    assert grid[0, 0].tolist() == [-1.0, -1.0]
    assert grid[2, 4].tolist() == [1.0, 1.0]
    assert grid[0, 2].tolist() == [0.0, -1.0]  # x varies along the width


def test_closed_form_inverse_matches_torch():
    matrices = torch.eye(2) + 0.3 * torch.randn(4, 10, 2, 2, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(inverse_2x2(matrices), torch.linalg.inv(matrices), atol=1e-5)
    assert inverse_2x2(matrices.half()).dtype == torch.float16


def test_anti_alias_kernel_is_the_checkpoint_buffer_and_a_blur_then_subsample():
    down = AntiAliasInterpolation2d(3, 0.25)
    assert down.weight.shape == (3, 1, 13, 13)
    assert torch.allclose(down.weight.sum(dim=(1, 2, 3)), torch.ones(3))
    x = torch.rand(1, 3, 64, 64)
    reference = F.conv2d(F.pad(x, (6, 6, 6, 6)), down.weight, groups=3)[:, :, ::4, ::4]
    assert torch.allclose(down(x), reference, atol=1e-6)
    assert down(x).shape == (1, 3, 16, 16)


def test_soft_argmax_of_a_peaked_heatmap_is_that_pixel_on_the_grid():
    heatmap = torch.zeros(1, 2, 5, 9)
    heatmap[0, 0, 0, 0] = 1.0  # top-left
    heatmap[0, 1, 2, 6] = 1.0  # row 2 of 5 (y = 0), column 6 of 9 (x = 0.5)
    value = heatmap_to_keypoints(heatmap)
    assert torch.allclose(value, torch.tensor([[[-1.0, -1.0], [0.5, 0.0]]]))


def test_kp_detector_shapes_range_and_identity_jacobian_at_init(tiny_models, images):
    kp_detector, _ = tiny_models
    torch.nn.init.zeros_(kp_detector.jacobian.weight)  # as constructed: bias = identity, weights zero
    with torch.no_grad():
        kp = kp_detector(torch.cat(images))
    assert kp["value"].shape == (2, 5, 2)
    assert kp["jacobian"].shape == (2, 5, 2, 2)
    assert kp["value"].abs().max() <= 1.0
    assert torch.allclose(kp["jacobian"], torch.eye(2).expand(2, 5, 2, 2), atol=1e-6)


def test_sparse_motion_maps_driving_keypoint_to_source_keypoint(tiny_models, images):
    kp_detector, _ = tiny_models
    with torch.no_grad():
        kp_src, kp_drv = kp_detector(images[0]), kp_detector(images[1])
    # Put the driving keypoint on a pixel of a 5x5 grid: there the motion must give the source keypoint.
    kp_drv = {"value": torch.zeros(1, 5, 2), "jacobian": kp_drv["jacobian"]}
    motions = sparse_motions(kp_src, kp_drv, 5, 5)
    assert motions.shape == (1, 6, 5, 5, 2)
    assert torch.allclose(motions[0, 0], make_coordinate_grid(5, 5))  # background: identity
    assert torch.allclose(motions[0, 1:, 2, 2], kp_src["value"][0], atol=1e-6)


def test_dense_motion_is_identity_when_driving_equals_source(tiny_models, images):
    kp_detector, generator = tiny_models
    with torch.no_grad():
        kp = kp_detector(images[0])
        motion = generator.dense_motion_network(images[0], kp_driving=kp, kp_source=kp)
    h, w = motion["deformation"].shape[1:3]
    assert (h, w) == (32, 32)  # scale_factor 0.5 of 64
    identity = make_coordinate_grid(h, w).unsqueeze(0)
    error = (motion["deformation"] - identity).abs().max().item()
    assert error < 1e-5, f"deformation differs from the identity grid by {error}"
    assert torch.allclose(motion["mask"].sum(dim=1), torch.ones(1, h, w), atol=1e-5)
    assert motion["occlusion_map"].shape == (1, 1, h, w)
    assert motion["sparse_deformed"].shape == (1, 6, 3, h, w)


def test_generator_outputs(tiny_models, images):
    kp_detector, generator = tiny_models
    with torch.no_grad():
        kp_src, kp_drv = kp_detector(images[0]), kp_detector(images[1])
        out = generator(images[0], kp_source=kp_src, kp_driving=kp_drv)
    assert set(out) == {"prediction", "mask", "occlusion_map", "deformation", "sparse_deformed", "deformed"}
    assert out["prediction"].shape == (1, 3, 64, 64)
    assert out["deformed"].shape == (1, 3, 64, 64)
    assert out["prediction"].min() >= 0
    assert out["prediction"].max() <= 1
    assert torch.isfinite(out["prediction"]).all()


def test_warp_by_the_identity_grid_gives_back_the_input(images):
    identity = make_coordinate_grid(64, 64).unsqueeze(0)
    error = (warp(images[0], identity, align_corners=True) - images[0]).abs().max().item()
    assert error < 1e-5, f"the identity warp changed the image by {error}"
    resized = warp(images[0][:, :, ::2, ::2], identity, align_corners=True)  # deformation resized first
    assert resized.shape == (1, 3, 32, 32)


def test_align_corners_is_a_setting_that_reaches_grid_sample(tiny_models, images):
    kp_detector, generator = tiny_models
    with torch.no_grad():
        kp_src, kp_drv = kp_detector(images[0]), kp_detector(images[1])
        aligned = generator(images[0], kp_source=kp_src, kp_driving=kp_drv)["prediction"]
        generator.align_corners = generator.dense_motion_network.align_corners = False
        unaligned = generator(images[0], kp_source=kp_src, kp_driving=kp_drv)["prediction"]
    assert not torch.allclose(aligned, unaligned, atol=1e-6)


def test_cached_encoder_features_give_the_full_forward(tiny_models, images):
    kp_detector, generator = tiny_models
    source, driving = images
    with torch.no_grad():
        kp_src, kp_drv = kp_detector(source), kp_detector(driving)
        full = generator(source, kp_source=kp_src, kp_driving=kp_drv)
        cached = generator(
            source,
            kp_source=kp_src,
            kp_driving=kp_drv,
            source_features=generator.encode(source),
            source_small=generator.dense_motion_network.downsample(source),
            return_deformed=False,
        )
    assert "deformed" not in cached
    for key in ("prediction", "deformation", "occlusion_map", "mask"):
        error = (full[key] - cached[key]).abs().max().item()
        assert error < 1e-5, f"{key}: cached path differs by {error}"


def test_folded_networks_equal_the_originals(tiny_models, images):
    kp_detector, generator = tiny_models
    source, driving = images
    fast_kp = fold_batch_norms(copy.deepcopy(kp_detector))
    fast_generator = fold_batch_norms(copy.deepcopy(generator))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast_kp.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in fast_generator.modules()) == len(
        fast_generator.bottleneck
    ), "only the residual blocks' pre-activation norms stay"
    with torch.no_grad():
        kp_src, kp_drv = kp_detector(source), kp_detector(driving)
        reference = generator(source, kp_source=kp_src, kp_driving=kp_drv)
        fast_src, fast_drv = fast_kp(source), fast_kp(driving)
        out = fast_generator(
            source,
            kp_source=fast_src,
            kp_driving=fast_drv,
            source_features=fast_generator.encode(source),
            return_deformed=False,
        )
    assert (fast_drv["value"] - kp_drv["value"]).abs().max() < 1e-5
    assert (fast_drv["jacobian"] - kp_drv["jacobian"]).abs().max() < 1e-4
    for key in ("prediction", "deformation", "occlusion_map"):
        error = (out[key] - reference[key]).abs().max().item()
        assert error < 1e-4, f"{key}: folded differs by {error}"
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in kp_detector.modules()), (
        "the original was modified"
    )


def test_half_precision_generator_follows_float32(tiny_models, images):
    """The fp16 path (CUDA in the app; run here on the CPU) keeps its dtype throughout."""
    kp_detector, generator = tiny_models
    half = fold_batch_norms(copy.deepcopy(generator)).to(torch.float16)
    source = images[0]
    with torch.no_grad():
        kp_src, kp_drv = kp_detector(source), kp_detector(images[1])
        reference = generator(source, kp_source=kp_src, kp_driving=kp_drv)["prediction"]
        out = half(
            source.half(),
            kp_source={k: v.half() for k, v in kp_src.items()},
            kp_driving={k: v.half() for k, v in kp_drv.items()},
            return_deformed=False,
        )["prediction"]
    assert out.dtype == torch.float16
    assert (out.float() - reference).abs().max() < 2e-2
