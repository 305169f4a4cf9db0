"""The acceptance check: each stage against the reference code itself (KwaiVGI/LivePortrait), same weights.

Runs only where ``LIVEPORTRAIT_REFERENCE`` names a checkout of the reference repository (its
``src/modules`` and ``src/utils/camera.py`` need only torch and numpy); skipped elsewhere. The small
layout keeps it quick; docs/liveportrait.md gives the figures of the same comparison at full size.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path

import pytest
import torch
from liveportrait_helpers import randomize_

from avatarify_app.engines.liveportrait.checkpoint import build_models
from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from avatarify_app.engines.liveportrait.model import (
    KeypointInfo,
    relative_driving_keypoints,
    source_keypoints,
    stitch,
)

REFERENCE = os.environ.get("LIVEPORTRAIT_REFERENCE")
pytestmark = pytest.mark.skipif(
    not REFERENCE or not (Path(REFERENCE) / "src" / "modules").is_dir(),
    reason="set LIVEPORTRAIT_REFERENCE to a KwaiVGI/LivePortrait checkout to compare with the reference",
)


@pytest.fixture(scope="module")
def ref():
    import sys

    sys.path.insert(0, str(REFERENCE))
    try:
        yield {
            name: importlib.import_module(f"src.{name}")
            for name in (
                "modules.appearance_feature_extractor",
                "modules.motion_extractor",
                "modules.convnextv2",
                "modules.warping_network",
                "modules.spade_generator",
                "modules.stitching_retargeting_network",
                "utils.camera",
            )
        }
    finally:
        sys.path.remove(str(REFERENCE))


def test_every_stage_matches_the_reference(ref):
    small = LivePortraitConfig.small()
    cfg = dataclasses.replace(small, spade=dataclasses.replace(small.spade, spade_hidden=128))  # fixed there
    ours = randomize_(build_models(cfg), seed=5)
    a, m, w, s = cfg.appearance, cfg.motion, cfg.warping, cfg.spade
    rf = ref["modules.appearance_feature_extractor"].AppearanceFeatureExtractor(
        3, a.block_expansion, a.num_down_blocks, a.max_features, a.reshape_channel, a.reshape_depth,
        a.num_resblocks,
    )  # fmt: skip
    rm = ref["modules.motion_extractor"].MotionExtractor(num_kp=21)
    rm.detector = ref["modules.convnextv2"].ConvNeXtV2(depths=list(m.depths), dims=list(m.dims), num_kp=21)
    rw = ref["modules.warping_network"].WarpingNetwork(
        num_kp=21, block_expansion=w.block_expansion, max_features=w.max_features,
        num_down_blocks=w.num_down_blocks, reshape_channel=w.reshape_channel, estimate_occlusion_map=True,
        dense_motion_params={
            "block_expansion": w.dense_block_expansion, "max_features": w.dense_max_features,
            "num_blocks": w.dense_num_blocks, "reshape_depth": w.dense_reshape_depth, "compress": w.compress,
        },
    )  # fmt: skip
    rg = ref["modules.spade_generator"].SPADEDecoder(
        upscale=s.upscale, block_expansion=s.block_expansion, max_features=s.max_features,
        num_down_blocks=s.num_down_blocks, out_channels=s.out_channels,
    )  # fmt: skip
    rs = ref["modules.stitching_retargeting_network"].StitchingRetargetingNetwork(
        126, list(cfg.stitching_hidden), 65
    )
    for r, o in ((rf, ours.appearance), (rm, ours.motion), (rw, ours.warping), (rg, ours.spade),
                 (rs, ours.stitching.stitching)):  # fmt: skip
        r.load_state_dict(o.state_dict(), strict=True)
        r.eval()
    camera = ref["utils.camera"]
    gen = torch.Generator().manual_seed(0)
    src, d0, d1 = (torch.rand(1, 3, 256, 256, generator=gen) for _ in range(3))
    with torch.no_grad():
        f_ref = rf(src)
        torch.testing.assert_close(ours.appearance(src), f_ref, atol=1e-5, rtol=0)
        infos = {}
        for name, x in (("s", src), ("d0", d0), ("d1", d1)):
            raw = rm(x)
            rot = camera.get_rotation_matrix(
                *(camera.headpose_pred_to_degree(raw[k]) for k in ("pitch", "yaw", "roll"))
            )
            infos[name] = (raw, rot, KeypointInfo.from_heads(ours.motion(x)))
        raw, rot_s, info_s = infos["s"]
        torch.testing.assert_close(info_s.rotation, rot_s, atol=1e-5, rtol=0)
        kp_s = raw["kp"].view(1, 21, 3)
        x_s_ref = (kp_s @ rot_s + raw["exp"].view(1, 21, 3)) * raw["scale"][..., None]
        x_s_ref[:, :, :2] += raw["t"][:, None, :2]
        torch.testing.assert_close(source_keypoints(info_s), x_s_ref, atol=1e-5, rtol=0)
        (r0, rot0, info0), (r1, rot1, info1) = infos["d0"], infos["d1"]
        rotation = rot1 @ rot0.permute(0, 2, 1) @ rot_s
        exp = raw["exp"].view(1, 21, 3) + r1["exp"].view(1, 21, 3) - r0["exp"].view(1, 21, 3)
        t = raw["t"] + r1["t"] - r0["t"]
        t[..., 2] = 0
        x_d_ref = raw["scale"] * (r1["scale"] / r0["scale"]) * (kp_s @ rotation + exp) + t
        torch.testing.assert_close(
            relative_driving_keypoints(info_s, info1, info0), x_d_ref, atol=1e-5, rtol=0
        )
        delta = rs(torch.cat([x_s_ref.view(1, -1), x_d_ref.view(1, -1)], 1))
        x_st = x_d_ref + delta[:, :63].view(1, 21, 3)
        x_st[..., :2] += delta[:, 63:65].view(1, 1, 2)
        torch.testing.assert_close(stitch(ours.stitching, x_s_ref, x_d_ref), x_st, atol=1e-5, rtol=0)
        warped_ref = rw(f_ref, kp_driving=x_st, kp_source=x_s_ref)
        warped, motion = ours.warping(f_ref, x_st, x_s_ref)
        torch.testing.assert_close(motion.deformation, warped_ref["deformation"], atol=1e-5, rtol=0)
        torch.testing.assert_close(warped, warped_ref["out"], atol=1e-3, rtol=0)
        torch.testing.assert_close(
            ours.spade(warped_ref["out"]), rg(feature=warped_ref["out"]), atol=1e-3, rtol=0
        )
