"""The files packaging ships: the Linux desktop entry, the icons, the PyInstaller recipe and scripts."""

from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import pytest

from avatarify_app.config import RESOURCES_DIR, app_root

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
DESKTOP_FILE = PACKAGING / "avatarify.desktop"
ICONS = RESOURCES_DIR / "icons"


def test_desktop_entry_has_what_menus_need() -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP_FILE, encoding="utf-8")

    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Avatarify"
    assert entry["Exec"] == "avatarify"
    assert entry["Icon"] == "avatarify"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    assert entry["Version"] == "1.0"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="apt install desktop-file-utils")
def test_desktop_entry_validates() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(DESKTOP_FILE)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", f"validator hints: {result.stdout}"


def test_icon_pngs_have_their_named_sizes() -> None:
    pngs = sorted(ICONS.glob("avatarify-*.png"))
    assert {p.name for p in pngs} >= {"avatarify-48.png", "avatarify-256.png"}
    for png in pngs:
        size = int(png.stem.split("-")[1])
        image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        assert image is not None, png
        assert image.shape == (size, size, 4), f"{png.name}: {image.shape}"
        assert image[0, 0, 3] == 0, f"{png.name}: the corner must be transparent (rounded square)"


def test_icon_svg_is_well_formed() -> None:
    root = ET.parse(ICONS / "avatarify.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"


def test_pyinstaller_recipe_bundles_the_data_the_app_reads() -> None:
    text = (PACKAGING / "avatarify.spec").read_text(encoding="utf-8")
    ast.parse(text)
    for needed in (
        f'"{RESOURCES_DIR.relative_to(app_root()).as_posix()}"',  # where importlib.resources looks
        '"models"',
        '"*.yaml"',
        "**/*.tflite",
        "**/*.binarypb",
        "PySide6.QtMultimedia",
    ):
        assert needed in text, f"the spec does not mention {needed}"
    assert 'collect_submodules("avatarify_app")' in text  # CLI sub-commands are imported by name
    assert (PACKAGING / "entry.py").is_file()


@pytest.mark.parametrize("script", ["build_linux.sh", "smoke_test.sh", "install_linux.sh"])
def test_shell_scripts_parse(script: str) -> None:
    path = PACKAGING / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    result = subprocess.run(
        ["bash", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
