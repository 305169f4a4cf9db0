"""F, M, W and G converted to OpenVINO once per weights folder and layout, cached as IR, run on the CPU.

W converts only with its trilinear sample written as 2-D samples (``WarpingNetwork.use_4d_sampling``):
OpenVINO's GridSample takes 4-D tensors only. The keypoint maths and the three MLPs stay in torch (they
cost well under a millisecond). First use of a folder converts the four networks (minutes at the
released size on a small CPU; ``progress`` hears about each); later uses read the IR back. A cache
entry that cannot be read (damaged, half written) is converted again. Precision: f32.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from avatarify_app.engines.liveportrait.checkpoint import LivePortraitModels
from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from avatarify_app.engines.liveportrait.model.motion_extractor import MotionOutput

logger = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when a converted graph changes: old cache entries are then ignored
PARTS = ("appearance", "motion", "warping", "spade")
Progress = Callable[[str], None]


def import_openvino() -> ModuleType:
    """``openvino`` without its usage telemetry (a None ``openvino_telemetry`` makes it a no-op)."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def weights_key(files: list[Path], config: LivePortraitConfig) -> str:
    """A short hash of the weight files' contents and the layout (the cache entry's name)."""
    digest = hashlib.md5(repr(config).encode(), usedforsecurity=False)
    for path in sorted(files):
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class _Motion(nn.Module):
    """M with its seven heads concatenated (one output tensor for the converter)."""

    def __init__(self, models: LivePortraitModels) -> None:
        super().__init__()
        self.motion = models.motion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.motion(x)
        return torch.cat([o.kp, o.pitch, o.yaw, o.roll, o.t, o.exp, o.scale], dim=1)


class _Warp(nn.Module):
    """W (4-D sampling) returning only the warped features."""

    def __init__(self, models: LivePortraitModels) -> None:
        super().__init__()
        self.warping = copy.deepcopy(models.warping)
        self.warping.use_4d_sampling()

    def forward(self, feature: torch.Tensor, x_d: torch.Tensor, x_s: torch.Tensor) -> torch.Tensor:
        return self.warping(feature, x_d, x_s)[0]


class OpenVinoNetworks:
    """The four networks as compiled OpenVINO models with torch tensors in and out (CPU, float32).

    ``converted_now``: the parts this construction converted (empty when all came from the cache).
    Raises ``ImportError`` when OpenVINO is not installed.
    """

    def __init__(
        self,
        models: LivePortraitModels,
        config: LivePortraitConfig,
        key: str,
        cache_dir: Path,
        progress: Progress | None = None,
        threads: int | None = None,
    ) -> None:
        ov = import_openvino()
        core = ov.Core()
        self.stitching = models.stitching  # the MLPs stay in torch
        folder = Path(cache_dir) / f"liveportrait-{key}-v{EXPORT_VERSION}"
        folder.mkdir(parents=True, exist_ok=True)
        s = config.input_size
        a = config.appearance
        side = s // 2**a.num_down_blocks
        decoder_in = models.spade.fc.in_channels
        examples: dict[str, tuple[nn.Module, tuple[torch.Tensor, ...]]] = {
            "appearance": (models.appearance, (torch.rand(1, 3, s, s),)),
            "motion": (_Motion(models), (torch.rand(1, 3, s, s),)),
            "warping": (
                _Warp(models),
                (
                    torch.randn(1, a.reshape_channel, a.reshape_depth, side, side),
                    0.3 * torch.randn(1, 21, 3),
                    0.3 * torch.randn(1, 21, 3),
                ),
            ),
            "spade": (models.spade, (torch.randn(1, decoder_in, side, side),)),
        }
        properties: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            properties["INFERENCE_NUM_THREADS"] = threads
        self.converted_now: list[str] = []
        self._compiled: dict[str, Any] = {}
        for part in PARTS:
            xml = folder / f"{part}.xml"
            model = None
            if xml.is_file() and xml.with_suffix(".bin").is_file():
                try:
                    model = core.read_model(str(xml))
                except RuntimeError as exc:
                    logger.warning("cached %s unreadable (%s): converting again", xml, exc)
            if model is None:
                if progress is not None:
                    progress(
                        f"converting LivePortrait's {part} network for OpenVINO (once for these weights)"
                    )
                module, inputs = examples[part]
                with torch.no_grad(), warnings.catch_warnings():
                    # The shapes are fixed at conversion: tracing them into constants is what we want.
                    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                    warnings.filterwarnings("ignore", "`torch.jit.trace", DeprecationWarning)
                    model = ov.convert_model(module.eval(), example_input=inputs)
                _save(ov, model, xml)
                self.converted_now.append(part)
            self._compiled[part] = core.compile_model(model, "CPU", properties)
        logger.info("OpenVINO networks ready (%s converted now) in %s", self.converted_now or "none", folder)

    def _run(self, part: str, *inputs: torch.Tensor) -> torch.Tensor:
        out = self._compiled[part]([np.ascontiguousarray(t.detach().float().numpy()) for t in inputs])[0]
        return torch.from_numpy(np.array(out))

    def appearance(self, x: torch.Tensor) -> torch.Tensor:
        return self._run("appearance", x)

    def motion(self, x: torch.Tensor) -> MotionOutput:
        heads = self._run("motion", x)
        n = (heads.shape[1] - 3 * 66 - 3 - 1) // 2  # kp and exp: 3K each
        sizes = [n, 66, 66, 66, 3, n, 1]
        return MotionOutput(*torch.split(heads, sizes, dim=1))

    def warping(self, feature: torch.Tensor, x_d: torch.Tensor, x_s: torch.Tensor) -> torch.Tensor:
        return self._run("warping", feature, x_d, x_s)

    def spade(self, feature: torch.Tensor) -> torch.Tensor:
        return self._run("spade", feature)

    def warp_decode(
        self, feature_3d: torch.Tensor, x_d: torch.Tensor, x_s: torch.Tensor, cache: object = None
    ) -> torch.Tensor:
        """W then G (``step.StepNetworks``; W's source-only cache is torch's, unused here)."""
        return self.spade(self.warping(feature_3d, x_d, x_s))


def _save(ov: ModuleType, model: Any, xml: Path) -> None:
    """Write the IR under temporary names, then rename the weights and the graph into place, so a
    half-written entry never carries the final names."""
    tmp = xml.with_name(f"{xml.stem}.tmp{os.getpid()}.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
    os.replace(tmp, xml)
