"""The torch runtime: the networks themselves, on CUDA, Apple's MPS or the CPU.

On CUDA the networks run channels-last, the generator in fp16 by default; ``cuda_graphs.py`` captures
the per-frame step on top of this runtime.
"""

from __future__ import annotations

import torch

from avatarify_app.engines.fomm.model.fusion import fold_batch_norms
from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.model.keypoints import Keypoints, KPDetector
from avatarify_app.engines.fomm.runtime.base import AvatarTensors, Runtime
from avatarify_app.engines.fomm.runtime.device import ComputeDevice


class TorchRuntime(Runtime):
    """The networks in torch on ``compute``'s device, batch norms folded.

    ``precision``: "fp32", or "fp16" (the generator in half precision; the keypoint detector stays in
    float32, its soft-argmax needs it). The networks are modified in place (folded, moved).
    """

    def __init__(
        self,
        kp_detector: KPDetector,
        generator: OcclusionAwareGenerator,
        compute: ComputeDevice,
        precision: str = "fp32",
    ) -> None:
        self.device = compute.device
        self.precision = precision
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.memory_format = torch.contiguous_format if compute.is_cpu else torch.channels_last
        for network in (kp_detector, generator):
            for p in network.parameters():
                p.requires_grad_(False)
        # torch's stub for Module.to omits memory_format, which Module.to takes (torch docs).
        self.kp_detector = fold_batch_norms(kp_detector).to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.generator = fold_batch_norms(generator).to(  # type: ignore[call-overload]
            self.device, self.dtype, memory_format=self.memory_format
        )
        self.label = f"{compute.label}, torch {precision}"

    def keypoints(self, image: torch.Tensor) -> Keypoints:
        with torch.inference_mode():
            kp = self.kp_detector(image.contiguous(memory_format=self.memory_format))
        return {k: v.float() for k, v in kp.items()}

    def prepare(self, source: torch.Tensor) -> AvatarTensors:
        with torch.inference_mode():
            image = source.to(self.dtype).contiguous(memory_format=self.memory_format)
            features = self.generator.encode(image)
            assert self.generator.dense_motion_network is not None  # the vox layout has one
            small = self.generator.dense_motion_network.downsample(image)
        return AvatarTensors(self.keypoints(source), features, small)

    def generate(self, kp_driving: Keypoints, avatar: AvatarTensors) -> torch.Tensor:
        with torch.inference_mode():
            out = self.generator(
                avatar.source_small,  # unused: the features and the small source are given
                kp_driving={k: v.to(self.dtype) for k, v in kp_driving.items()},
                kp_source={k: v.to(self.dtype) for k, v in avatar.kp_source.items()},
                source_features=avatar.features,
                source_small=avatar.source_small,
                return_deformed=False,
            )
        return out["prediction"].float()

    def close(self) -> None:
        self.kp_detector = None  # type: ignore[assignment]
        self.generator = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
