"""Fixtures for the LivePortrait tests (helpers in liveportrait_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from liveportrait_helpers import randomize_, save_models, write_released_folder

from avatarify_app.engines.liveportrait.checkpoint import LivePortraitModels, build_models
from avatarify_app.engines.liveportrait.config import LivePortraitConfig


@pytest.fixture(scope="session")
def released_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights in the full released layout (.pth, about 520 MB), written once per session."""
    return write_released_folder(tmp_path_factory.mktemp("liveportrait-released"))  # about 3 s


@pytest.fixture(scope="session")
def small_config() -> LivePortraitConfig:
    return LivePortraitConfig.small()


@pytest.fixture(scope="session")
def small_models(small_config: LivePortraitConfig) -> LivePortraitModels:
    """The small layout with random weights that keep activations in range (do not modify)."""
    return randomize_(build_models(small_config), seed=0)


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory: pytest.TempPathFactory, small_models: LivePortraitModels) -> Path:
    """``small_models`` saved as a folder in the released form (.pth, nested stitching file)."""
    return save_models(tmp_path_factory.mktemp("liveportrait-small"), small_models)
