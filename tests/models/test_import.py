"""Importing a checkpoint the user has: recognised by md5, else proven by loading it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from avatarify_app.errors import CheckpointError, InputError
from avatarify_app.modelstore import ModelEntry, RegistryError, Verdict, check_loadable, import_checkpoint
from tests.models.conftest import md5_of


def tiny_entry(md5: str | None = None, name: str = "tiny", file: str = "tiny.pth.tar") -> ModelEntry:
    return ModelEntry(name, file, None, md5, "models/tiny.yaml", "test")


def test_a_file_whose_md5_matches_is_imported_without_loading(tmp_path: Path) -> None:
    data = os.urandom(4096)  # not even a checkpoint: the md5 alone identifies it
    source = tmp_path / "whatever-name.bin"
    source.write_bytes(data)
    entries = (tiny_entry(md5="f" * 32, name="other"), tiny_entry(md5=md5_of(data)))

    result = import_checkpoint(source, tmp_path / "models", entries)

    assert result.entry.name == "tiny"
    assert result.verdict is Verdict.MD5
    assert result.path == tmp_path / "models" / "tiny.pth.tar"
    assert result.path.read_bytes() == data
    assert result.method == "hard link"
    assert os.path.samefile(result.path, source)


def test_copy_when_asked(tmp_path: Path) -> None:
    data = os.urandom(4096)
    source = tmp_path / "tiny.pth.tar"
    source.write_bytes(data)

    result = import_checkpoint(source, tmp_path / "models", (tiny_entry(md5=md5_of(data)),), copy=True)

    assert result.method == "copy"
    assert not os.path.samefile(result.path, source)
    assert result.path.read_bytes() == data
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["tiny.pth.tar"]  # no temp file left


def test_unknown_md5_is_settled_by_loading_the_weights(
    tmp_path: Path, fomm_checkpoint: Path, app_root: Path
) -> None:
    result = import_checkpoint(
        fomm_checkpoint, tmp_path / "models", (tiny_entry(),), name="tiny", root=app_root
    )

    assert result.verdict is Verdict.LOADED
    assert result.path.read_bytes() == fomm_checkpoint.read_bytes()


def test_a_differing_md5_is_accepted_when_the_weights_load(
    tmp_path: Path, fomm_checkpoint: Path, app_root: Path
) -> None:
    result = import_checkpoint(
        fomm_checkpoint, tmp_path / "models", (tiny_entry(md5="0" * 32),), name="tiny", root=app_root
    )

    assert result.verdict is Verdict.LOADED_MD5_DIFFERS


def test_weights_that_do_not_fit_the_config_are_refused(
    tmp_path: Path, fomm_checkpoint: Path, app_root: Path
) -> None:
    vox = ModelEntry("vox", "vox.pth.tar", None, None, "models/vox-256.yaml", "test")
    (app_root / "models" / "vox-256.yaml").write_text(
        (Path(__file__).resolve().parents[2] / "models" / "vox-256.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )

    with pytest.raises(CheckpointError, match="was not imported: .*do not fit the config"):
        import_checkpoint(fomm_checkpoint, tmp_path / "models", (vox,), name="vox", root=app_root)

    assert not (tmp_path / "models" / "vox.pth.tar").exists()


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path, app_root: Path) -> None:
    source = tmp_path / "tiny.pth.tar"
    source.write_bytes(b"PK\x03\x04 definitely not torch")

    with pytest.raises(CheckpointError, match="tiny.pth.tar was not imported"):
        import_checkpoint(source, tmp_path / "models", (tiny_entry(),), root=app_root)

    assert not (tmp_path / "models" / "tiny.pth.tar").exists()


def test_the_entry_is_found_by_file_name(tmp_path: Path, fomm_checkpoint: Path, app_root: Path) -> None:
    renamed = fomm_checkpoint.with_name("tiny.pth.tar")
    fomm_checkpoint.rename(renamed)
    entries = (tiny_entry(name="first", file="first.pth.tar"), tiny_entry())

    result = import_checkpoint(renamed, tmp_path / "models", entries, root=app_root)

    assert result.entry.name == "tiny"


def test_a_file_no_entry_fits_asks_for_a_name(tmp_path: Path) -> None:
    source = tmp_path / "mystery.pth.tar"
    source.write_bytes(b"1234")

    with pytest.raises(InputError, match=r"say which it is with --name \(tiny\)"):
        import_checkpoint(source, tmp_path / "models", (tiny_entry(),))


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    source = tmp_path / "x.pth.tar"
    source.write_bytes(b"1234")

    with pytest.raises(RegistryError, match="known: tiny"):
        import_checkpoint(source, tmp_path / "models", (tiny_entry(),), name="vox")


def test_a_missing_source_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_checkpoint(tmp_path / "nope.pth.tar", tmp_path / "models", (tiny_entry(),))


def test_a_different_file_in_place_needs_force(tmp_path: Path) -> None:
    data = os.urandom(1000)
    source = tmp_path / "tiny.pth.tar"
    source.write_bytes(data)
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.pth.tar").write_bytes(b"old")
    entries = (tiny_entry(md5=md5_of(data)),)

    with pytest.raises(InputError, match="pass --force"):
        import_checkpoint(source, models, entries)
    assert (models / "tiny.pth.tar").read_bytes() == b"old"

    result = import_checkpoint(source, models, entries, force=True)
    assert result.path.read_bytes() == data


def test_importing_the_same_file_again_changes_nothing(tmp_path: Path) -> None:
    data = os.urandom(1000)
    source = tmp_path / "tiny.pth.tar"
    source.write_bytes(data)
    entries = (tiny_entry(md5=md5_of(data)),)
    import_checkpoint(source, tmp_path / "models", entries)

    again = import_checkpoint(source, tmp_path / "models", entries)

    assert again.method == "already present"


def test_the_load_check_uses_the_engines_one_checkpoint_reader(tmp_path: Path) -> None:
    import torch

    half = tmp_path / "half.pth.tar"
    torch.save({"generator": {"w": torch.zeros(2)}, "optimizer": {}}, half)
    with pytest.raises(CheckpointError, match=r"no 'kp_detector' entry \(found: generator, optimizer\)"):
        check_loadable(half)

    not_dict = tmp_path / "list.pth.tar"
    torch.save([1, 2], not_dict)
    with pytest.raises(CheckpointError, match="holds a list"):
        check_loadable(not_dict)


def test_without_the_fomm_engine_the_load_check_says_so(
    fomm_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "avatarify_app.engines.fomm.checkpoint", None)  # import fails
    with pytest.raises(CheckpointError, match="the fomm engine cannot be imported"):
        check_loadable(fomm_checkpoint)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("with_config", [True, False], ids=["networks", "state dicts"])
def test_weights_with_nan_or_inf_are_refused(
    bad: float, with_config: bool, tmp_path: Path, fomm_checkpoint: Path, app_root: Path
) -> None:
    import torch

    data = torch.load(fomm_checkpoint, map_location="cpu", weights_only=True)
    name = next(k for k, v in data["generator"].items() if v.is_floating_point())
    data["generator"][name].view(-1)[0] = bad
    damaged = tmp_path / "tiny.pth.tar"
    torch.save(data, damaged)
    if not with_config:
        (app_root / "models" / "tiny.yaml").unlink()  # only the state dicts can be read

    with pytest.raises(CheckpointError, match="was not imported: .*NaN or infinite"):
        import_checkpoint(damaged, tmp_path / "models", (tiny_entry(),), root=app_root)

    assert not (tmp_path / "models" / "tiny.pth.tar").exists()
