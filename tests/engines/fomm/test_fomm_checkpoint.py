"""Checkpoints: the vox-256 architecture by name and shape, the original file layout, and refusals."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest
import torch
import yaml
from fomm_helpers import save_original_layout, tiny_config_dict

from avatarify_app.engines.fomm.checkpoint import load_checkpoint, load_state_dict, read_checkpoint
from avatarify_app.engines.fomm.config import VOX256_MODEL_PARAMS, FommConfig, build_models
from avatarify_app.errors import CheckpointError, InputError
from avatarify_app.modelstore import ModelEntry, file_md5, find_entry, identify_checkpoint, load_registry

REPO = Path(__file__).resolve().parents[3]

# From shared/design/fomm_checkpoint.md: names and shapes the released vox checkpoints use.
VOX_KP_SHAPES = {
    "predictor.encoder.down_blocks.0.conv.weight": (64, 3, 3, 3),
    "predictor.encoder.down_blocks.4.conv.weight": (1024, 512, 3, 3),
    "predictor.decoder.up_blocks.0.conv.weight": (512, 1024, 3, 3),
    "predictor.decoder.up_blocks.1.conv.weight": (256, 1024, 3, 3),
    "predictor.decoder.up_blocks.4.conv.weight": (32, 128, 3, 3),
    "predictor.decoder.up_blocks.4.norm.running_var": (32,),
    "kp.weight": (10, 35, 7, 7),
    "jacobian.weight": (40, 35, 7, 7),
    "down.weight": (3, 1, 13, 13),
}
VOX_GENERATOR_SHAPES = {
    "first.conv.weight": (64, 3, 7, 7),
    "down_blocks.0.conv.weight": (128, 64, 3, 3),
    "down_blocks.1.conv.weight": (256, 128, 3, 3),
    "bottleneck.r0.conv1.weight": (256, 256, 3, 3),
    "bottleneck.r5.conv2.weight": (256, 256, 3, 3),
    "bottleneck.r5.norm2.running_mean": (256,),
    "up_blocks.0.conv.weight": (128, 256, 3, 3),
    "up_blocks.1.conv.weight": (64, 128, 3, 3),
    "final.weight": (3, 64, 7, 7),
    "dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight": (128, 44, 3, 3),
    "dense_motion_network.hourglass.encoder.down_blocks.4.conv.weight": (1024, 1024, 3, 3),
    "dense_motion_network.hourglass.decoder.up_blocks.0.conv.weight": (1024, 1024, 3, 3),
    "dense_motion_network.hourglass.decoder.up_blocks.1.conv.weight": (512, 2048, 3, 3),
    "dense_motion_network.hourglass.decoder.up_blocks.4.conv.weight": (64, 256, 3, 3),
    "dense_motion_network.mask.weight": (11, 108, 7, 7),
    "dense_motion_network.occlusion.weight": (1, 108, 7, 7),
    "dense_motion_network.down.weight": (3, 1, 13, 13),
}


def _without_batch_counts(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def test_vox256_networks_have_the_checkpoint_names_and_shapes():
    config = FommConfig.from_yaml(REPO / "models" / "vox-256.yaml")
    kp_detector, generator = build_models(config)
    kp_state, generator_state = kp_detector.state_dict(), generator.state_dict()
    assert len(kp_state) == 75
    assert len(generator_state) == 196
    assert sum(p.numel() for p in kp_detector.parameters()) == pytest.approx(14.2e6, rel=0.01)
    assert sum(p.numel() for p in generator.parameters()) == pytest.approx(45.6e6, rel=0.01)
    for key, shape in VOX_KP_SHAPES.items():
        assert tuple(kp_state[key].shape) == shape, key
    for key, shape in VOX_GENERATOR_SHAPES.items():
        assert tuple(generator_state[key].shape) == shape, key
    # A strict load of a file without num_batches_tracked (as older files are) into fresh networks.
    fresh_kp, fresh_generator = build_models(config)
    load_state_dict(fresh_kp, _without_batch_counts(kp_state), "kp_detector", "vox")
    load_state_dict(fresh_generator, _without_batch_counts(generator_state), "generator", "vox")
    assert torch.equal(fresh_generator.bottleneck.r3.conv1.weight, generator.bottleneck.r3.conv1.weight)


def test_the_adv_config_has_the_same_networks_and_the_builtin_layout_matches_the_yaml():
    for name in ("vox-256.yaml", "vox-adv-256.yaml"):
        data = yaml.safe_load((REPO / "models" / name).read_text())
        assert data["model_params"] == VOX256_MODEL_PARAMS, name
        assert data["dataset_params"]["frame_shape"][0] == 256
    assert FommConfig.vox256().frame_size == 256


def test_legacy_checkpoint_without_batch_counts_loads_into_eval_networks(tmp_path, tiny_config, tiny_models):
    kp_detector, generator = tiny_models
    path = tmp_path / "old.pth.tar"
    torch.save(
        {
            "kp_detector": _without_batch_counts(kp_detector.state_dict()),
            "generator": _without_batch_counts(generator.state_dict()),
            "epoch": 12,
            "optimizer_kp_detector": {"state": {}},
        },
        path,
        _use_new_zipfile_serialization=False,
    )
    kp_loaded, generator_loaded = load_checkpoint(path, tiny_config)
    assert not kp_loaded.training
    assert not generator_loaded.training
    for name, tensor in generator.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(generator_loaded.state_dict()[name], tensor), name
    assert torch.equal(kp_loaded.jacobian.weight, kp_detector.jacobian.weight)


def test_checkpoint_with_cuda_tagged_storages_loads_on_the_cpu(
    tmp_path, tiny_config, tiny_models, monkeypatch
):
    """The released files were saved from GPU models: their storages say 'cuda:0'."""
    path = tmp_path / "gpu.pth.tar"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        save_original_layout(path, *tiny_models, legacy=True)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # what happens without map_location
    kp_loaded, _ = load_checkpoint(path, tiny_config)
    assert kp_loaded.kp.weight.device.type == "cpu"
    assert torch.equal(kp_loaded.kp.weight, tiny_models[0].kp.weight)


def test_zip_format_and_data_parallel_prefixes_load(tmp_path, tiny_config, tiny_models):
    kp_detector, generator = tiny_models
    path = tmp_path / "new.pth"
    torch.save(
        {
            "kp_detector": {f"module.{k}": v for k, v in kp_detector.state_dict().items()},
            "generator": generator.state_dict(),
        },
        path,
    )
    kp_loaded, _ = load_checkpoint(path, tiny_config)
    assert torch.equal(kp_loaded.kp.bias, kp_detector.kp.bias)


def test_missing_file(tmp_path, tiny_config):
    with pytest.raises(CheckpointError, match=r"checkpoint .*nowhere\.pth\.tar not found"):
        load_checkpoint(tmp_path / "nowhere.pth.tar", tiny_config)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", r"empty\.pth is not a checkpoint, or it is damaged"),
        (os.urandom(4096), r"empty\.pth is not a checkpoint"),
        (
            b"<html><body>Too many users have viewed this file</body></html>",
            r"empty\.pth is not a checkpoint",
        ),
    ],
    ids=["empty", "random-bytes", "html-page"],
)
def test_garbage_files_are_not_checkpoints(tmp_path, content, expected):
    path = tmp_path / "empty.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=expected):
        read_checkpoint(path)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_truncated_download_is_damaged(tmp_path, tiny_models, legacy):
    path = save_original_layout(tmp_path / "vox.pth.tar", *tiny_models, legacy=legacy)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"vox\.pth\.tar is not a checkpoint, or it is damaged"):
        read_checkpoint(path)


def test_foreign_dict_names_what_it_found(tmp_path, tiny_models):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": tiny_models[1].state_dict(), "generator": {}, "epoch": 3}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == (
        "other.pth has no 'kp_detector' entry (found: epoch, generator, state_dict): "
        "is it a FOMM vox checkpoint?"
    )


def test_bare_tensor_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match=r"tensor\.pth is not a checkpoint: it holds a Tensor"):
        read_checkpoint(path)


def test_wrong_shapes_are_listed(tmp_path):
    other = FommConfig.from_dict(tiny_config_dict(num_kp=7))
    kp_detector, generator = build_models(other)
    path = save_original_layout(tmp_path / "seven.pth.tar", kp_detector, generator)
    config = FommConfig.from_dict(tiny_config_dict())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, config)
    message = str(info.value)
    assert message.startswith("seven.pth.tar: the kp_detector weights do not fit the config (4 mis-shaped: ")
    assert "kp.weight (7, 11, 7, 7) (expected (5, 11, 7, 7))" in message
    assert message.endswith("is the config the one this checkpoint was trained with?")


def test_missing_and_unexpected_keys_are_listed(tmp_path, tiny_models):
    kp_detector, generator = tiny_models
    state = generator.state_dict()
    del state["final.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "edited.pth"
    torch.save({"kp_detector": kp_detector.state_dict(), "generator": state}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, FommConfig.from_dict(tiny_config_dict()))
    assert (
        "the generator weights do not fit the config (1 missing: final.weight; 1 unexpected: extra.weight)"
        in str(info.value)
    )


class _Payload:
    """Pickles as a call to os.system: loading it with plain pickle would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth.tar"
    torch.save({"kp_detector": _Payload(marker), "generator": {}}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value).startswith("evil.pth.tar refused: contains code")
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps({"generator": _Payload(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match=r"evil\.pkl refused: contains code"):
        read_checkpoint(plain)
    assert not marker.exists()


def test_md5_identifies_known_checkpoints(tmp_path, tiny_checkpoint):
    expected = hashlib.md5(tiny_checkpoint.read_bytes()).hexdigest()
    assert file_md5(tiny_checkpoint) == expected
    assert identify_checkpoint(tiny_checkpoint) is None
    registry = load_registry()
    assert find_entry(registry, "vox-adv-cpk").md5 == "8a45a24037871c045fbb8a6a8aa95ebc"
    known = ModelEntry("tiny", "tiny.pth.tar", None, expected, "tiny.yaml", "test")
    assert identify_checkpoint(tiny_checkpoint, (*registry, known)) == known


def test_config_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read the FOMM config"):
        FommConfig.from_yaml(tmp_path / "none.yaml")
    path = tmp_path / "bad.yaml"
    path.write_text("dataset_params: {}\n")
    with pytest.raises(InputError, match=r"has no 'model_params' section: is it a FOMM config"):
        FommConfig.from_yaml(path)
    path.write_text("model_params:\n  common_params: {}\n")
    with pytest.raises(InputError, match="model_params lacks kp_detector_params, generator_params"):
        FommConfig.from_yaml(path)
    data = tiny_config_dict()
    data["model_params"]["kp_detector_params"]["colour"] = "blue"
    with pytest.raises(InputError, match="does not fit the networks"):
        build_models(FommConfig.from_dict(data))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_in_one_line(tmp_path, tiny_models, tiny_config, bad):
    kp_detector, generator = tiny_models
    with torch.no_grad():
        generator.final.weight[0, 0, 0, 0] = bad
    path = save_original_layout(tmp_path / "diverged.pth.tar", kp_detector, generator)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, tiny_config)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "diverged.pth.tar: the generator weights contain NaN or infinite values (final.weight)"
    )
