"""Fixtures for the FOMM tests (helpers in fomm_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from fomm_helpers import (
    randomize_,
    save_original_layout,
    smooth_images,
    spread_output_,
    tiny_config_dict,
)

from avatarify_app.engines.fomm.config import FommConfig, build_models
from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.model.keypoints import KPDetector


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict()), encoding="utf-8")
    return path


@pytest.fixture
def tiny_models(tiny_config: Path) -> tuple[KPDetector, OcclusionAwareGenerator]:
    torch.manual_seed(0)
    kp_detector, generator = build_models(FommConfig.from_yaml(tiny_config))
    randomize_(kp_detector, generator)
    return kp_detector, generator


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_models: tuple[KPDetector, OcclusionAwareGenerator]) -> Path:
    return save_original_layout(tmp_path / "tiny-vox.pth.tar", *tiny_models)


@pytest.fixture
def images() -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth source and driving image pair, (1, 3, 64, 64) in [0, 1]."""
    smooth = smooth_images(2)
    return smooth[:1].contiguous(), smooth[1:].contiguous()


@pytest.fixture(scope="session")
def session_tiny(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, config): tiny networks with a spread-out prediction, written once per session."""
    folder = tmp_path_factory.mktemp("tiny-fomm")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict()), encoding="utf-8")
    torch.manual_seed(0)
    kp_detector, generator = build_models(FommConfig.from_yaml(config))
    randomize_(kp_detector, generator)
    spread_output_(kp_detector, generator, smooth_images(2))
    return save_original_layout(folder / "tiny-vox.pth.tar", kp_detector, generator), config


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """A converted-model cache shared by the tests of a session (conversions are slow)."""
    return tmp_path_factory.mktemp("cache", numbered=True) / "converted-models"  # AVATARIFY_CACHE_DIR layout
