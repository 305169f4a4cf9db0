"""The LivePortrait weights folder in the model store: finding it, listing it, importing it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from avatarify_app.errors import CheckpointError, InputError
from avatarify_app.modelstore.liveportrait import (
    RELEASED_FILES,
    import_folder,
    inspect_folder,
    resolve_folder,
)


def test_import_places_the_released_layout(tmp_path: Path, small_folder: Path, small_config):
    models_dir = tmp_path / "models"
    result = import_folder(small_folder, models_dir, config=small_config)
    assert result.folder == models_dir / "liveportrait"
    assert resolve_folder(models_dir=models_dir) == result.folder
    for released, path, md5, method in result.files:
        assert path == result.folder / released.subfolder / f"{released.part}.pth"
        assert path.read_bytes() == (small_folder / released.subfolder / path.name).read_bytes()
        assert len(md5) == 32
        assert method in ("hard link", "copy")
    statuses = inspect_folder(result.folder)
    assert all(s.path is not None and s.size for s in statuses)
    assert all("MIT" in s.file.licence for s in statuses)
    # Again: already there; a different file in the way needs force.
    again = import_folder(small_folder, models_dir, config=small_config)
    assert {m for *_, m in again.files} == {"already present"}


def test_import_refuses_a_foreign_file_before_writing(tmp_path: Path, small_folder: Path, small_config):
    source = shutil.copytree(small_folder, tmp_path / "src")
    torch.save({"kp_detector": {}}, source / "base_models" / "spade_generator.pth")
    with pytest.raises(CheckpointError, match="spade_generator.pth"):
        import_folder(source, tmp_path / "models", config=small_config)
    assert not (tmp_path / "models").exists()


def test_import_names_missing_files(tmp_path: Path, small_folder: Path):
    source = shutil.copytree(small_folder, tmp_path / "src")
    (source / "retargeting_models" / "stitching_retargeting_module.pth").unlink()
    with pytest.raises(InputError, match="lacks stitching_retargeting_module.pth"):
        import_folder(source, tmp_path / "models")
    with pytest.raises(InputError, match="no such folder"):
        import_folder(tmp_path / "nothing", tmp_path / "models")


def test_resolve_says_how_to_get_the_weights(tmp_path: Path):
    with pytest.raises(CheckpointError, match="huggingface-cli download KwaiVGI/LivePortrait"):
        resolve_folder(models_dir=tmp_path)
    assert [s.path for s in inspect_folder(tmp_path / "none")] == [None] * len(RELEASED_FILES)
