"""Loading the released LivePortrait folder: the full layout loads strictly; bad files give one line."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from liveportrait_helpers import BASE, STITCHING_JSON, random_tensor, released_layout

from avatarify_app.engines.liveportrait.checkpoint import (
    LivePortraitModels,
    build_models,
    find_files,
    load_models,
)
from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from avatarify_app.errors import CheckpointError


def _layouts(models: LivePortraitModels) -> dict[str, dict[str, list[int]]]:
    modules = {
        "appearance_feature_extractor": models.appearance,
        "motion_extractor": models.motion,
        "warping_module": models.warping,
        "spade_generator": models.spade,
        "stitching_retargeting_module.stitching": models.stitching.stitching,
        "stitching_retargeting_module.lip": models.stitching.lip,
        "stitching_retargeting_module.eye": models.stitching.eye,
    }
    return {name: {k: list(v.shape) for k, v in m.state_dict().items()} for name, m in modules.items()}


def test_our_modules_have_every_released_key_and_shape():
    layout = released_layout()
    ours = _layouts(build_models(LivePortraitConfig.released()))
    assert set(ours) == set(layout)
    for name in layout:
        assert ours[name] == layout[name], name
    # The reference's published parameter counts (0.84 M, 28.12 M, 45.53 M, 55.37 M, 0.23 M).
    counts = {
        name: sum(
            torch.Size(s).numel()
            for k, s in keys.items()
            if "running" not in k and "num_batches" not in k and not k.endswith(("weight_u", "weight_v"))
        )
        for name, keys in layout.items()
    }
    assert counts["appearance_feature_extractor"] == 836_224
    assert counts["motion_extractor"] == 28_118_728
    assert counts["warping_module"] == 45_529_829
    assert counts["spade_generator"] == 55_365_388


def test_released_layout_folder_loads_strictly(released_folder: Path):
    models = load_models(released_folder)
    written = torch.load(
        released_folder / "base_models" / "motion_extractor.pth", map_location="cpu", weights_only=True
    )
    key = "detector.fc_yaw.weight"
    assert torch.equal(models.motion.state_dict()[key], written[key])
    stitching = torch.load(
        released_folder / "retargeting_models" / "stitching_retargeting_module.pth", weights_only=True
    )
    assert torch.equal(models.stitching.eye.mlp[0].weight, stitching["retarget_eye"]["module.mlp.0.weight"])
    assert not models.spade.training


def test_safetensors_mirror_loads(tmp_path: Path, small_models: LivePortraitModels, small_config):
    from liveportrait_helpers import save_models

    folder = save_models(tmp_path / "st", small_models, fmt="safetensors")
    assert all(p.suffix == ".safetensors" for p in find_files(folder).values())
    loaded = load_models(folder, small_config)
    for a, b in zip(
        loaded.spade.state_dict().values(), small_models.spade.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert torch.equal(loaded.stitching.lip.mlp[0].bias, small_models.stitching.lip.mlp[0].bias)


def test_flat_folder_is_found(tmp_path: Path, small_folder: Path, small_config):
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in small_folder.rglob("*.pth"):
        os.symlink(path, flat / path.name)
    load_models(flat, small_config)


def _copy(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


def test_a_missing_file_is_named(tmp_path: Path, small_folder: Path, small_config):
    folder = _copy(small_folder, tmp_path / "w")
    (folder / "base_models" / "warping_module.pth").unlink()
    with pytest.raises(CheckpointError, match=r"lacks warping_module\.pth"):
        load_models(folder, small_config)
    with pytest.raises(CheckpointError, match="not found"):
        load_models(tmp_path / "nowhere", small_config)


def test_a_foreign_file_names_the_first_mismatch(tmp_path: Path, small_folder: Path, small_config):
    folder = _copy(small_folder, tmp_path / "w")
    path = folder / "base_models" / "motion_extractor.pth"
    state = torch.load(path, weights_only=True)
    state["detector.fc_kp.weight"] = torch.zeros(60, state["detector.fc_kp.weight"].shape[1])
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"motion_extractor\.pth .*detector\.fc_kp\.weight is \(60, "):
        load_models(folder, small_config)
    # A file from another model entirely (a FOMM-like state dict).
    torch.save({"kp_detector": {"kp.weight": torch.zeros(10, 35, 7, 7)}}, path)
    with pytest.raises(CheckpointError, match=r"motion extractor \(M\) of the released layout"):
        load_models(folder, small_config)


def test_the_small_folder_does_not_load_as_the_released_layout(small_folder: Path):
    with pytest.raises(CheckpointError, match="mis-shaped"):
        load_models(small_folder)


def test_a_stitching_file_without_its_entries(tmp_path: Path, small_folder: Path, small_config):
    folder = _copy(small_folder, tmp_path / "w")
    torch.save({"model": {}}, folder / "retargeting_models" / "stitching_retargeting_module.pth")
    with pytest.raises(CheckpointError, match="no 'retarget_shoulder' entry"):
        load_models(folder, small_config)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, small_folder: Path, small_config):
    folder = _copy(small_folder, tmp_path / "w")
    path = folder / "base_models" / "appearance_feature_extractor.pth"
    torch.save({"first.conv.weight": _Payload()}, path)
    with pytest.raises(CheckpointError, match="refused: it contains code"):
        load_models(folder, small_config)
    with path.open("wb") as f:
        pickle.dump(_Payload(), f)  # a plain (non-torch) pickle
    with pytest.raises(CheckpointError, match="appearance_feature_extractor.pth"):
        load_models(folder, small_config)


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_a_truncated_file(tmp_path: Path, small_models, small_config, fmt: str):
    from liveportrait_helpers import save_models

    folder = save_models(tmp_path / "w", small_models, fmt=fmt)
    path = folder / "base_models" / f"spade_generator.{fmt}"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"spade_generator.* damaged \(truncated download\?\)"):
        load_models(folder, small_config)


def test_nan_weights_are_refused(tmp_path: Path, small_folder: Path, small_config):
    folder = _copy(small_folder, tmp_path / "w")
    path = folder / "base_models" / "warping_module.pth"
    state = torch.load(path, weights_only=True)
    state["fourth.weight"][0, 0] = float("nan")
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="fourth.weight holds NaN"):
        load_models(folder, small_config)


def test_released_json_covers_the_five_files():
    layout = released_layout()
    assert set(BASE) | set(STITCHING_JSON) == set(layout)


def test_safetensors_stitching_file_in_the_released_layout(tmp_path: Path):
    """The flat safetensors mirror of the stitching file, at full size, from the json layout."""
    from safetensors.torch import load_file, save_file

    from avatarify_app.engines.liveportrait.checkpoint import load_state_dict, stitching_entries

    gen = torch.Generator().manual_seed(1)
    layout = released_layout()
    flat = {
        f"{entry}.{k}": random_tensor(k, shape, gen)
        for name, entry in STITCHING_JSON.items()
        for k, shape in layout[name].items()
    }
    path = tmp_path / "stitching_retargeting_module.safetensors"
    save_file(flat, str(path))
    models = build_models(LivePortraitConfig.released())
    for name, state in stitching_entries(load_file(str(path)), path.name).items():
        load_state_dict(getattr(models.stitching, name), state, path.name, name)
    assert torch.equal(models.stitching.stitching.mlp[6].bias, flat["retarget_shoulder.mlp.6.bias"])
