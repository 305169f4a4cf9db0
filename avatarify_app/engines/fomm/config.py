"""FOMM model configs: the original yaml layout (``model_params`` with ``common_params``,
``kp_detector_params``, ``generator_params``) and building the two networks from it."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.model.keypoints import KPDetector
from avatarify_app.errors import InputError

DEFAULT_FRAME_SIZE = 256

# The network layout of the released vox-256 and vox-adv-256 checkpoints, as in models/vox-256.yaml
# (a test keeps the two equal): the fallback when the yaml files are not installed.
VOX256_MODEL_PARAMS: dict[str, Any] = {
    "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1,
        "block_expansion": 32,
        "max_features": 1024,
        "scale_factor": 0.25,
        "num_blocks": 5,
    },
    "generator_params": {
        "block_expansion": 64,
        "max_features": 512,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 6,
        "estimate_occlusion_map": True,
        "dense_motion_params": {
            "block_expansion": 64,
            "max_features": 1024,
            "num_blocks": 5,
            "scale_factor": 0.25,
        },
    },
}


@dataclass(frozen=True, slots=True)
class FommConfig:
    """The parts of a FOMM yaml the networks need.

    ``frame_size``: the side of the square images the networks were trained on, read from
    ``dataset_params.frame_shape`` (256 when absent); the engine crops faces to this size.
    """

    common_params: dict[str, Any]
    kp_detector_params: dict[str, Any]
    generator_params: dict[str, Any]
    frame_size: int = DEFAULT_FRAME_SIZE

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> FommConfig:
        """Read the ``model_params`` layout; raises ``InputError`` naming what is missing."""
        if not isinstance(data, dict) or not isinstance(data.get("model_params"), dict):
            raise InputError(f"{source} has no 'model_params' section: is it a FOMM config (vox-256.yaml)?")
        params = data["model_params"]
        missing = [k for k in ("common_params", "kp_detector_params", "generator_params") if k not in params]
        if missing:
            raise InputError(f"{source}: model_params lacks {', '.join(missing)}: is it a FOMM config?")
        shape = (data.get("dataset_params") or {}).get("frame_shape") or [DEFAULT_FRAME_SIZE]
        return cls(
            common_params=dict(params["common_params"]),
            kp_detector_params=dict(params["kp_detector_params"]),
            generator_params=dict(params["generator_params"]),
            frame_size=int(shape[0]),
        )

    @classmethod
    def vox256(cls) -> FommConfig:
        """The vox-256 layout (``VOX256_MODEL_PARAMS``), 256x256 frames."""
        return cls.from_dict({"model_params": copy.deepcopy(VOX256_MODEL_PARAMS)}, source="vox-256")

    @classmethod
    def from_yaml(cls, path: Path) -> FommConfig:
        """Read a config file; raises ``InputError`` when it is missing, unreadable or not a FOMM config."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read the FOMM config {path}: {exc.strerror or exc}") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{path} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, source=str(path))


def build_models(
    config: FommConfig, align_corners: bool = True
) -> tuple[KPDetector, OcclusionAwareGenerator]:
    """Fresh (randomly initialized) networks for ``config``, in eval mode on the CPU.

    Raises ``InputError`` when the config's parameters do not fit the networks.
    """
    try:
        kp_detector = KPDetector(**config.kp_detector_params, **config.common_params)
        generator = OcclusionAwareGenerator(
            **config.generator_params, **config.common_params, align_corners=align_corners
        )
    except TypeError as exc:
        raise InputError(f"the FOMM config does not fit the networks: {exc}") from exc
    return kp_detector.eval(), generator.eval()
