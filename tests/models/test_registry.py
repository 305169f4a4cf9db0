"""The registry file and where the models folder is."""

from __future__ import annotations

from pathlib import Path

import pytest

from avatarify_app.config import app_root
from avatarify_app.modelstore import (
    MODELS_DIR_ENV,
    RegistryError,
    default_models_dir,
    find_entry,
    inspect_model,
    load_registry,
    registry,
)
from tests.models.conftest import md5_of


def test_the_shipped_registry_knows_both_vox_checkpoints() -> None:
    entries = load_registry()

    adv = find_entry(entries, "vox-adv-cpk")
    assert adv.file == "vox-adv-cpk.pth.tar"
    assert adv.md5 == "8a45a24037871c045fbb8a6a8aa95ebc"
    assert adv.config_path().is_file()
    assert "CC BY-NC 4.0" in adv.licence
    assert all(url.startswith("https://") for url in adv.urls)

    vox = find_entry(entries, "vox-cpk")
    assert (vox.file, vox.md5, vox.size, vox.urls) == ("vox-cpk.pth.tar", None, None, ())
    assert vox.config_path().is_file()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("models: 3", "no 'models' list"),
        ("models: [{name: a, file: a.pth}]", "missing config"),
        ("models: [{name: a, file: ../a.pth, config: c}]", "bare file name"),
        ("models: [{name: a, file: a.pth, config: c, md5: ABC}]", "32 lowercase hex"),
        ("models: [{name: a, file: a.pth, config: c, size: -1}]", "positive byte count"),
        ("models: [{name: a, file: a.pth, config: c}, {name: a, file: b.pth, config: c}]", "more than once"),
        ("models: [", "not valid YAML"),
    ],
)
def test_a_malformed_registry_names_its_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=problem):
        load_registry(path)


def test_a_missing_registry_says_so(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="is the installation complete"):
        load_registry(tmp_path / "none.yaml")


def test_models_dir_precedence(tmp_path: Path) -> None:
    env = {MODELS_DIR_ENV: str(tmp_path / "from-env")}
    assert default_models_dir(tmp_path / "given", environ=env) == tmp_path / "given"
    assert default_models_dir(None, environ=env) == tmp_path / "from-env"
    # This test runs in a source checkout: models/ beside pyproject.toml.
    assert default_models_dir(None, environ={}) == app_root() / "models"


def test_without_a_checkout_models_go_to_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "app_root", lambda: tmp_path / "installed")  # no pyproject.toml there
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_models_dir(None, environ={}) == tmp_path / "data" / "avatarify" / "models"


def test_inspect_model_hashes_only_present_files(tmp_path: Path) -> None:
    data = b"checkpoint bytes"
    entries = load_registry()
    entry = find_entry(entries, "vox-adv-cpk")
    assert inspect_model(entry, tmp_path).present is False

    (tmp_path / entry.file).write_bytes(data)
    status = inspect_model(entry, tmp_path)
    assert (status.present, status.md5_ok, status.md5) == (True, False, md5_of(data))
    assert inspect_model(entry, tmp_path, verify=False).md5_ok is None
