"""Each LivePortrait stage against an independent computation (numpy, or torch.nn.functional / torch's
own modules on the same weights), derived from the paper and the reference's maths as written in
docs/liveportrait.md ("Checkpoint-exact")."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avatarify_app.engines.liveportrait.checkpoint import LivePortraitModels
from avatarify_app.engines.liveportrait.model import (
    KeypointInfo,
    RegionGains,
    relative_driving_keypoints,
    stitch,
)
from avatarify_app.engines.liveportrait.model.keypoints import (
    EYE_KEYPOINTS,
    LIP_KEYPOINTS,
    bins_to_degrees,
    rotation_matrix,
    rotation_power,
    source_keypoints,
    transform_keypoints,
)
from avatarify_app.engines.liveportrait.model.layers import (
    GRN,
    SPADE,
    ChannelsFirstLayerNorm,
    SpectralNormConv2d,
)
from avatarify_app.engines.liveportrait.model.warping import (
    keypoint_gaussians,
    make_coordinate_grid_3d,
    warp_volume,
    warp_volume_4d,
)

GEN = np.random.default_rng(7)


def np_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The head rotation for row vectors: x_rotated = x @ R with R = (Rz(roll) Ry(yaw) Rx(pitch))^T."""
    p, y, r = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (rz @ ry @ rx).T


def np_info(seed: int) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    return {
        "kp": g.normal(0, 0.3, (21, 3)),
        "exp": g.normal(0, 0.03, (21, 3)),
        "angles": g.uniform(-30, 30, 3),
        "t": g.normal(0, 0.05, 3),
        "scale": np.array([g.uniform(0.8, 1.2)]),
    }


def to_info(d: dict[str, np.ndarray]) -> KeypointInfo:
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in d.items()}
    pitch, yaw, roll = (t["angles"][i].reshape(1) for i in range(3))
    return KeypointInfo(
        kp=t["kp"][None],
        exp=t["exp"][None],
        pitch=pitch,
        yaw=yaw,
        roll=roll,
        rotation=rotation_matrix(pitch, yaw, roll),
        t=t["t"][None],
        scale=t["scale"][None],
    )


def test_head_pose_bins_to_degrees():
    logits = GEN.normal(0, 2, (3, 66))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = 3 * (p * np.arange(66)).sum(1) - 97.5
    got = bins_to_degrees(torch.tensor(logits)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)
    # A certain bin i gives 3 i - 97.5: bin 32 is -1.5 degrees, bin 33 is +1.5.
    one_hot = torch.full((2, 66), -1e4, dtype=torch.float64)
    one_hot[0, 32] = one_hot[1, 33] = 0
    np.testing.assert_allclose(bins_to_degrees(one_hot).numpy(), [-1.5, 1.5], atol=1e-9)


def test_rotation_matrix_against_numpy_euler_matrices():
    angles = GEN.uniform(-60, 60, (5, 3))
    t = torch.tensor(angles)
    got = rotation_matrix(t[:, 0], t[:, 1], t[:, 2]).numpy()
    for i, (p, y, r) in enumerate(angles):
        np.testing.assert_allclose(got[i], np_rotation(p, y, r), atol=1e-12)
        assert abs(np.linalg.det(got[i]) - 1) < 1e-12
    # Yaw alone turns about the vertical (y) axis: y coordinates are kept.
    yaw = rotation_matrix(torch.zeros(1), torch.tensor([30.0]), torch.zeros(1))[0]
    point = torch.tensor([[0.3, 0.2, 0.0]]) @ yaw
    assert point[0, 1] == pytest.approx(0.2)
    assert point[0, 0] == pytest.approx(0.3 * math.cos(math.radians(30)), abs=1e-6)


def test_transformed_keypoints_equation_2():
    d = np_info(1)
    r = np_rotation(*d["angles"])
    expected = d["scale"][0] * (d["kp"] @ r + d["exp"])
    expected[:, :2] += d["t"][:2]  # tz is dropped
    got = source_keypoints(to_info(d))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_relative_motion_against_numpy():
    s, d0, d1 = np_info(2), np_info(3), np_info(4)
    rs, r0, r1 = (np_rotation(*x["angles"]) for x in (s, d0, d1))
    rotation = r1 @ r0.T @ rs
    exp = s["exp"] + d1["exp"] - d0["exp"]
    scale = s["scale"][0] * d1["scale"][0] / d0["scale"][0]
    t = s["t"] + d1["t"] - d0["t"]
    expected = scale * (s["kp"] @ rotation + exp)
    expected[:, :2] += t[:2]
    got = relative_driving_keypoints(to_info(s), to_info(d1), to_info(d0))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # The neutral frame itself drives nothing: x_d = x_s.
    same = relative_driving_keypoints(to_info(s), to_info(d0), to_info(d0))
    np.testing.assert_allclose(same.numpy(), source_keypoints(to_info(s)).numpy(), atol=1e-12)


def test_region_gains_scale_the_expression_change_per_keypoint():
    s, d0, d1 = (to_info(np_info(i)) for i in (5, 6, 7))
    d1_exp_only = KeypointInfo(**{**{f: getattr(d0, f) for f in d0.__slots__}, "exp": d1.exp})
    base = source_keypoints(s)
    moved = relative_driving_keypoints(s, d1_exp_only, d0, RegionGains(eyes=0.0))
    change = (moved - base).abs().sum(-1)[0]
    assert float(change[list(EYE_KEYPOINTS)].max()) < 1e-12
    assert float(change[list(LIP_KEYPOINTS)].min()) > 0
    double = relative_driving_keypoints(s, d1_exp_only, d0, RegionGains(mouth=2.0))
    full = relative_driving_keypoints(s, d1_exp_only, d0)
    lips = list(LIP_KEYPOINTS)
    np.testing.assert_allclose(
        (double - base)[0, lips].numpy(), 2 * (full - base)[0, lips].numpy(), atol=1e-12
    )


def test_rotation_power():
    r = rotation_matrix(*(torch.tensor([a], dtype=torch.float64) for a in (20.0, -35.0, 10.0)))
    half = rotation_power(r, 0.5)
    np.testing.assert_allclose((half @ half).numpy(), r.numpy(), atol=1e-10)
    np.testing.assert_allclose(rotation_power(r, 0.0).numpy(), np.eye(3)[None], atol=1e-12)
    np.testing.assert_allclose(rotation_power(r, 2.0).numpy(), (r @ r).numpy(), atol=1e-10)
    identity = torch.eye(3, dtype=torch.float64)[None]
    np.testing.assert_allclose(rotation_power(identity, 0.3).numpy(), identity.numpy(), atol=1e-12)


def _np_mlp(linears: list[torch.nn.Linear], x: np.ndarray) -> np.ndarray:
    for i, layer in enumerate(linears):
        x = x @ layer.weight.double().numpy().T + layer.bias.double().numpy()
        if i < len(linears) - 1:
            x = np.maximum(x, 0)
    return x


def test_stitching_against_numpy(small_models: LivePortraitModels):
    mlps = small_models.stitching
    x_s, x_d = (torch.tensor(GEN.normal(0, 0.3, (1, 21, 3)), dtype=torch.float32) for _ in range(2))
    linears = [m for m in mlps.stitching.mlp if isinstance(m, torch.nn.Linear)]
    delta = _np_mlp(linears, np.concatenate([x_s.reshape(-1), x_d.reshape(-1)]).astype(np.float64))
    expected = x_d[0].double().numpy() + delta[:63].reshape(21, 3)
    expected[:, :2] += delta[63:65]
    np.testing.assert_allclose(stitch(mlps, x_s, x_d)[0].numpy(), expected, atol=1e-5)


def test_warp_volume_is_trilinear_sampling():
    vol = torch.tensor(GEN.normal(0, 1, (1, 2, 4, 5, 6)), dtype=torch.float64)
    points = np.array([[0.1, -0.3, 0.5], [-0.95, 0.9, -0.2], [0.0, 0.0, 0.0], [1.2, 0.1, 0.1]])
    grid = torch.tensor(points).view(1, 1, 1, -1, 3)
    got = warp_volume(vol, grid)[0, :, 0, 0].numpy()  # (C, N)
    v = vol[0].numpy()
    c, d, h, w = v.shape
    for n, (x, y, z) in enumerate(points):
        # align_corners=False: -1 and 1 are the outer edges, voxel i's centre is at (2 i + 1) / size - 1.
        fx, fy, fz = ((x + 1) * w - 1) / 2, ((y + 1) * h - 1) / 2, ((z + 1) * d - 1) / 2
        x0, y0, z0 = math.floor(fx), math.floor(fy), math.floor(fz)
        total = np.zeros(c)
        for dz in (0, 1):
            for dy in (0, 1):
                for dx in (0, 1):
                    xi, yi, zi = x0 + dx, y0 + dy, z0 + dz
                    weight = (1 - abs(fx - xi)) * (1 - abs(fy - yi)) * (1 - abs(fz - zi))
                    if 0 <= xi < w and 0 <= yi < h and 0 <= zi < d:  # zeros outside
                        total += weight * v[:, zi, yi, xi]
        np.testing.assert_allclose(got[:, n], total, atol=1e-12)


def test_coordinate_grid_and_gaussians():
    grid = make_coordinate_grid_3d(3, 4, 5, torch.float64)
    assert grid.shape == (3, 4, 5, 3)
    np.testing.assert_allclose(
        grid[2, 1, 4].numpy(), [1.0, 2 * 1 / 3 - 1, 1.0]
    )  # (x, y, z) of voxel z2 y1 x4
    kp = torch.tensor([[[0.2, -0.1, 0.4]]], dtype=torch.float64)
    heat = keypoint_gaussians(kp, grid)[0, 0]
    point = grid[1, 2, 3].numpy()
    expected = np.exp(-0.5 * ((point - kp[0, 0].numpy()) ** 2).sum() / 0.01)
    assert float(heat[1, 2, 3]) == pytest.approx(expected, rel=1e-12)


def test_dense_motion_is_the_identity_when_nothing_moves(small_models: LivePortraitModels):
    dense = small_models.warping.dense_motion_network
    feature = torch.randn(1, 4, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    kp = torch.tensor(GEN.normal(0, 0.3, (1, 21, 3)), dtype=torch.float32)
    with torch.no_grad():
        motion = dense(feature, kp, kp)
    identity = make_coordinate_grid_3d(4, 64, 64)
    np.testing.assert_allclose(motion.deformation[0].numpy(), identity.numpy(), atol=2e-6)
    np.testing.assert_allclose(motion.mask.sum(1).numpy(), 1.0, atol=1e-5)
    assert motion.occlusion_map is not None
    assert motion.occlusion_map.shape == (1, 1, 64, 64)


def test_a_conv_block_against_functional(small_models: LivePortraitModels):
    block = small_models.appearance.first
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    conv = F.conv2d(x, block.conv.weight, block.conv.bias, padding=1).double().numpy()
    norm = block.norm
    mean, var = norm.running_mean.double().numpy(), norm.running_var.double().numpy()
    gamma, beta = norm.weight.double().numpy(), norm.bias.double().numpy()
    expected = (conv - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * gamma[:, None, None]
    expected = np.maximum(expected + beta[:, None, None], 0)
    with torch.no_grad():
        np.testing.assert_allclose(block(x).numpy(), expected, atol=1e-5)


def test_spectral_norm_conv_against_torch_spectral_norm():
    torch.manual_seed(3)
    conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3, padding=1))
    conv.train()
    conv(torch.zeros(1, 6, 4, 4))  # one power iteration, as training leaves u and v
    conv.eval()
    ours = SpectralNormConv2d(6, 5, 3)
    ours.load_state_dict(conv.state_dict(), strict=True)
    x = torch.randn(2, 6, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), conv(x), atol=1e-6, rtol=1e-6)
        u, v = conv.weight_u, conv.weight_v
        sigma = float(u @ conv.weight_orig.reshape(5, -1) @ v)
        torch.testing.assert_close(ours.weight(), conv.weight_orig / sigma)


def test_spade_against_numpy_instance_norm():
    torch.manual_seed(4)
    spade = SPADE(3, 2, hidden=4).eval()
    x, seg = torch.randn(1, 3, 8, 8), torch.randn(1, 2, 4, 4)
    xn = x.double().numpy()[0]
    normalized = (xn - xn.mean((1, 2), keepdims=True)) / np.sqrt(xn.var((1, 2), keepdims=True) + 1e-5)
    seg_up = F.interpolate(seg, size=(8, 8), mode="nearest")
    with torch.no_grad():
        actv = F.relu(F.conv2d(seg_up, spade.mlp_shared[0].weight, spade.mlp_shared[0].bias, padding=1))
        gamma = F.conv2d(actv, spade.mlp_gamma.weight, spade.mlp_gamma.bias, padding=1)[0].double().numpy()
        beta = F.conv2d(actv, spade.mlp_beta.weight, spade.mlp_beta.bias, padding=1)[0].double().numpy()
        np.testing.assert_allclose(spade(x, seg)[0].numpy(), normalized * (1 + gamma) + beta, atol=1e-5)


def test_convnext_norms_against_numpy():
    torch.manual_seed(5)
    ln = ChannelsFirstLayerNorm(4)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = torch.randn(2, 4, 3, 3)
    xn = x.double().numpy()
    ref = (xn - xn.mean(1, keepdims=True)) / np.sqrt(xn.var(1, keepdims=True) + 1e-6)
    ref = (
        ref * ln.weight.detach().double().numpy()[:, None, None]
        + ln.bias.detach().double().numpy()[:, None, None]
    )
    with torch.no_grad():
        np.testing.assert_allclose(ln(x).numpy(), ref, atol=1e-5)
    grn = GRN(4)
    with torch.no_grad():
        grn.gamma.normal_()
        grn.beta.normal_()
    y = torch.randn(2, 3, 3, 4)
    yn = y.double().numpy()
    g = np.sqrt((yn**2).sum((1, 2), keepdims=True))
    n = g / (g.mean(-1, keepdims=True) + 1e-6)
    expected = grn.gamma.detach().double().numpy() * (yn * n) + grn.beta.detach().double().numpy() + yn
    with torch.no_grad():
        np.testing.assert_allclose(grn(y).numpy(), expected, atol=1e-5)


def test_transform_keypoints_batch_shapes():
    b = 3
    out = transform_keypoints(
        torch.zeros(b, 21, 3), torch.eye(3).expand(b, 3, 3), torch.zeros(b, 21, 3), torch.ones(b, 1),
        torch.tensor([[0.1, 0.2, 0.3]] * b),
    )  # fmt: skip
    assert out.shape == (b, 21, 3)
    np.testing.assert_allclose(out[:, :, 2].numpy(), 0.0)  # tz dropped
    np.testing.assert_allclose(out[:, :, 0].numpy(), 0.1)


def test_the_per_avatar_cache_changes_nothing(small_models: LivePortraitModels):
    gen = torch.Generator().manual_seed(2)
    feature = torch.randn(1, 4, 4, 32, 32, generator=gen)
    x_s = 0.3 * torch.randn(1, 21, 3, generator=gen)
    x_d = x_s + 0.05 * torch.randn(1, 21, 3, generator=gen)
    warping = small_models.warping
    with torch.no_grad():
        plain, _ = warping(feature, x_d, x_s)
        cached, _ = warping(feature, x_d, x_s, warping.prepare(feature, x_s))
    torch.testing.assert_close(cached, plain, atol=0, rtol=0)


def test_the_4d_decomposition_of_the_trilinear_sample():
    """warp_volume_4d (2-D grid samples only, for OpenVINO) equals the 5-D sample, padding included."""
    gen = torch.Generator().manual_seed(6)
    vol = torch.randn(2, 3, 4, 5, 6, generator=gen, dtype=torch.float64)
    grid = torch.rand(2, 3, 4, 5, 3, generator=gen, dtype=torch.float64) * 2.6 - 1.3  # some points outside
    torch.testing.assert_close(warp_volume_4d(vol, grid), warp_volume(vol, grid), atol=1e-12, rtol=0)


def test_warping_with_4d_sampling(small_models: LivePortraitModels):
    gen = torch.Generator().manual_seed(3)
    feature = torch.randn(1, 4, 4, 32, 32, generator=gen, dtype=torch.float64)
    x_s = 0.3 * torch.randn(1, 21, 3, generator=gen, dtype=torch.float64)
    x_d = x_s + 0.05 * torch.randn(1, 21, 3, generator=gen, dtype=torch.float64)
    warping = copy.deepcopy(small_models.warping).double()
    with torch.no_grad():
        plain, _ = warping(feature, x_d, x_s)
        warping.use_4d_sampling()
        four, _ = warping(feature, x_d, x_s)
    torch.testing.assert_close(four, plain, atol=1e-10, rtol=0)
