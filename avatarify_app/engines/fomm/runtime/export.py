"""Exporting the networks' per-frame parts to ONNX (static shapes, float32), for OpenVINO.

The exported graphs are thin wrappers around the torch modules, with tensors in and out instead of
keypoint dicts:

- keypoints: ``image`` (1, 3, S, S) -> ``value`` (1, K, 2), ``jacobian`` (1, K, 2, 2);
- avatar (once per avatar): ``source`` (1, 3, S, S) -> the encoder's ``features`` and the dense
  motion network's ``source_small``;
- generator: the driving and source keypoints, the avatar's cached ``features`` and ``source_small``
  -> ``prediction`` (1, 3, S, S) in [0, 1] (the encoder is not in it: it runs once per avatar);
- the generator in two parts, which OpenVINO may run at different precisions (``openvino_runtime``):
  motion (the keypoints and ``source_small`` -> the dense motion's ``deformation`` (1, h, w, 2) and
  ``occlusion`` (1, 1, h, w)) and decoder (``features``, ``deformation``, ``occlusion`` -> ``prediction``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator, warp
from avatarify_app.engines.fomm.model.keypoints import KPDetector
from avatarify_app.engines.fomm.runtime.base import AvatarTensors

KEYPOINT_OUTPUTS = ("value", "jacobian")
GENERATOR_INPUTS = (
    "kp_driving_value",
    "kp_driving_jacobian",
    "kp_source_value",
    "kp_source_jacobian",
    "features",
    "source_small",
)
AVATAR_OUTPUTS = ("features", "source_small")
MOTION_INPUTS = GENERATOR_INPUTS[:4] + ("source_small",)
MOTION_OUTPUTS = ("deformation", "occlusion")
DECODER_INPUTS = ("features", "deformation", "occlusion")
OPSET = 17


class KeypointsGraph(nn.Module):
    """``KPDetector`` with tensor outputs (value, then jacobian when the detector estimates one)."""

    def __init__(self, kp_detector: KPDetector) -> None:
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kp = self.kp_detector(image)
        return tuple(kp[name] for name in KEYPOINT_OUTPUTS if name in kp)


class AvatarGraph(nn.Module):
    """The generator's per-avatar part: the encoder's features and the dense motion network's
    downsampled source (run once per avatar)."""

    def __init__(self, generator: OcclusionAwareGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        network = self.generator.dense_motion_network
        small = network.downsample(source) if network is not None else source
        return self.generator.encode(source), small


class GeneratorGraph(nn.Module):
    """The generator's per-frame part: dense motion, warp of the cached features, decoder."""

    def __init__(self, generator: OcclusionAwareGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(
        self,
        kp_driving_value: torch.Tensor,
        kp_driving_jacobian: torch.Tensor,
        kp_source_value: torch.Tensor,
        kp_source_jacobian: torch.Tensor,
        features: torch.Tensor,
        source_small: torch.Tensor,
    ) -> torch.Tensor:
        return self.generator(
            source_small,  # unused: features and source_small are given
            kp_driving={"value": kp_driving_value, "jacobian": kp_driving_jacobian},
            kp_source={"value": kp_source_value, "jacobian": kp_source_jacobian},
            source_features=features,
            source_small=source_small,
            return_deformed=False,
        )["prediction"]


class MotionGraph(nn.Module):
    """The generator's dense motion: keypoints and the small source -> deformation and occlusion."""

    def __init__(self, generator: OcclusionAwareGenerator) -> None:
        super().__init__()
        if generator.dense_motion_network is None or generator.dense_motion_network.occlusion is None:
            raise ValueError("the split generator needs a dense motion network with an occlusion map")
        self.network = generator.dense_motion_network

    def forward(
        self,
        kp_driving_value: torch.Tensor,
        kp_driving_jacobian: torch.Tensor,
        kp_source_value: torch.Tensor,
        kp_source_jacobian: torch.Tensor,
        source_small: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        motion = self.network(
            source_small,  # unused: source_small is given
            {"value": kp_driving_value, "jacobian": kp_driving_jacobian},
            {"value": kp_source_value, "jacobian": kp_source_jacobian},
            source_small=source_small,
        )
        return motion["deformation"], motion["occlusion_map"]


class DecoderGraph(nn.Module):
    """The generator after its dense motion: warp the cached features, occlude, decode."""

    def __init__(self, generator: OcclusionAwareGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(
        self, features: torch.Tensor, deformation: torch.Tensor, occlusion: torch.Tensor
    ) -> torch.Tensor:
        out = warp(features, deformation, self.generator.align_corners)
        if occlusion.shape[2:] != out.shape[2:]:
            occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear")
        return self.generator.decode(out * occlusion)


def generator_inputs(kp_driving: dict[str, torch.Tensor], avatar: AvatarTensors) -> tuple[torch.Tensor, ...]:
    """The generator graph's inputs, in ``GENERATOR_INPUTS`` order."""
    return (
        kp_driving["value"],
        kp_driving["jacobian"],
        avatar.kp_source["value"],
        avatar.kp_source["jacobian"],
        avatar.features,
        avatar.source_small,
    )


def export_onnx(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs, outputs) -> Path:
    """Export ``module`` called on ``args`` to ``path`` (TorchScript-based exporter, static shapes)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape arithmetic
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def export_keypoints(kp_detector: KPDetector, size: int, path: Path) -> Path:
    """The keypoint detector for (1, 3, size, size) images, as ONNX."""
    graph = KeypointsGraph(kp_detector)
    example = torch.rand(1, 3, size, size)
    outputs = KEYPOINT_OUTPUTS[: len(graph(example))]
    return export_onnx(graph, (example,), path, ["image"], outputs)


def export_avatar(generator: OcclusionAwareGenerator, size: int, path: Path) -> Path:
    """The generator's per-avatar part for (1, 3, size, size) images, as ONNX."""
    example = torch.rand(1, 3, size, size)
    return export_onnx(AvatarGraph(generator), (example,), path, ["source"], AVATAR_OUTPUTS)


def export_generator(
    generator: OcclusionAwareGenerator, example: tuple[torch.Tensor, ...], path: Path
) -> Path:
    """The generator's per-frame part for inputs shaped as ``example`` (``generator_inputs``), as ONNX."""
    return export_onnx(GeneratorGraph(generator), example, path, GENERATOR_INPUTS, ["prediction"])


def export_split_generator(
    generator: OcclusionAwareGenerator, example: tuple[torch.Tensor, ...], folder: Path
) -> tuple[Path, Path]:
    """The generator's per-frame part as ``motion.onnx`` and ``decoder.onnx`` in ``folder``, for
    inputs shaped as ``example`` (``generator_inputs``)."""
    motion_graph = MotionGraph(generator).eval()
    motion_args = (*example[:4], example[5])
    with torch.no_grad():
        deformation, occlusion = motion_graph(*motion_args)
    motion = export_onnx(motion_graph, motion_args, folder / "motion.onnx", MOTION_INPUTS, MOTION_OUTPUTS)
    decoder = export_onnx(
        DecoderGraph(generator),
        (example[4], deformation, occlusion),
        folder / "decoder.onnx",
        DECODER_INPUTS,
        ["prediction"],
    )
    return motion, decoder
