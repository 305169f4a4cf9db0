"""Where the app keeps its files: the per-user folders (platformdirs) and the bundled resources
(importlib.resources), from a checkout and from an installed wheel."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from avatarify_app import config
from avatarify_app.avatars import BUNDLED_AVATARS_DIR
from avatarify_app.modelstore import converted_models_dir

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG folders are Linux's")


@linux_only
def test_user_folders_keep_their_linux_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", config.CACHE_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.user_data_dir() == tmp_path / ".local" / "share" / "avatarify"
    assert config.user_cache_dir() == tmp_path / ".cache" / "avatarify"
    assert config.user_log_dir() == tmp_path / ".local" / "state" / "avatarify" / "log"


@linux_only
def test_user_folders_follow_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert config.user_data_dir() == tmp_path / "data" / "avatarify"
    assert config.user_cache_dir() == tmp_path / "cache" / "avatarify"
    assert config.user_log_dir() == tmp_path / "state" / "avatarify" / "log"
    assert converted_models_dir() == tmp_path / "cache" / "avatarify" / "converted-models"


def test_the_cache_folder_can_be_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(config.CACHE_DIR_ENV, "~/models-cache")
    assert config.user_cache_dir() == tmp_path / "models-cache"
    assert converted_models_dir() == tmp_path / "models-cache" / "converted-models"


def test_bundled_resources_are_found_inside_the_package() -> None:
    package = Path(config.__file__).parent
    assert package / "resources" == config.RESOURCES_DIR
    assert config.DEMO_CLIP.is_file()
    assert BUNDLED_AVATARS_DIR.is_relative_to(config.RESOURCES_DIR)
    assert (config.RESOURCES_DIR / "icons" / "avatarify-256.png").is_file()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools builds the wheel")
def test_an_installed_wheel_carries_the_resources(tmp_path: Path) -> None:
    """Built from a copy of the sources (the build writes next to them), installed into a folder of
    its own, run from elsewhere: the app finds its avatars, icons and demo clip in the installed
    package."""
    root = Path(config.__file__).resolve().parents[1]
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(root / "avatarify_app", source / "avatarify_app", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [*pip, "wheel", str(source), "-w", str(wheels), "--no-deps", "--no-build-isolation"],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", str(wheel), "--no-deps", "--target", str(site)], check=True, timeout=300)

    probe = (
        "from avatarify_app import config; from avatarify_app.avatars import bundled_avatars; "
        "print(config.RESOURCES_DIR); print(config.DEMO_CLIP.is_file()); "
        "print((config.RESOURCES_DIR / 'icons' / 'avatarify-256.png').is_file()); "
        "print(','.join(p.name for p in bundled_avatars()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(site), "PATH": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    folder, has_clip, has_icon, avatars = result.stdout.split("\n")[:4]
    assert Path(folder) == site / "avatarify_app" / "resources"
    assert (has_clip, has_icon) == ("True", "True")
    assert avatars == "grace_hopper.jpg,astronaut.png"
