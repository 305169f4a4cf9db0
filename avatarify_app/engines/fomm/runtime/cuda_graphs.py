"""The per-frame step on CUDA captured as a CUDA graph: one launch instead of hundreds of kernels.

At fp16 on a recent GPU the FOMM step is bound by kernel launches, not by the GPU's arithmetic; a
CUDA graph replays the whole step (keypoint detector, relative motion, generator) with one launch.
Shapes are static, and everything stays on the GPU: the movement scale comes from calibration
(``Motion.scale``) and the strength is a device tensor, so changing it needs no new capture. A new
avatar or a new calibration captures again (about as long as two frames).

Not measured on a GPU by this project yet (no GPU machine was available); the tests that run it
skip without CUDA.
"""

from __future__ import annotations

import logging

import torch

from avatarify_app.engines.fomm.runtime.base import AvatarTensors, Motion
from avatarify_app.engines.fomm.runtime.torch_eager import TorchRuntime

logger = logging.getLogger(__name__)

WARMUP_STEPS = 2


class CudaGraphRuntime(TorchRuntime):
    """``TorchRuntime`` on CUDA whose ``step`` replays a captured graph (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {self.device}")
        self.label += " + CUDA graphs"
        self._graph: torch.cuda.CUDAGraph | None = None
        self._bound: tuple[AvatarTensors, Motion] | None = None
        self._image: torch.Tensor | None = None
        self._strength: torch.Tensor | None = None
        self._output: torch.Tensor | None = None

    def step(
        self, image: torch.Tensor, avatar: AvatarTensors, motion: Motion, strength: float | torch.Tensor
    ) -> torch.Tensor:
        bound = self._bound
        if self._graph is None or bound is None or bound[0] is not avatar or bound[1] is not motion:
            self._capture(image, avatar, motion)
        assert self._image is not None
        assert self._strength is not None
        assert self._output is not None
        assert self._graph is not None
        self._image.copy_(image)
        # One gain per keypoint, so region strengths change without a new capture.
        self._strength.copy_(torch.as_tensor(strength, dtype=torch.float32).expand_as(self._strength))
        self._graph.replay()
        return self._output.clone()

    def _body(self, avatar: AvatarTensors, motion: Motion) -> torch.Tensor:
        assert self._image is not None
        assert self._strength is not None
        kp_driving = motion.apply(avatar.kp_source, self.keypoints(self._image), self._strength)
        return self.generate(kp_driving, avatar)

    def _capture(self, image: torch.Tensor, avatar: AvatarTensors, motion: Motion) -> None:
        self._graph = None
        self._image = image.detach().clone()
        self._strength = torch.ones(motion.kp_initial["value"].shape[1], device=self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(WARMUP_STEPS):
                self._body(avatar, motion)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._output = self._body(avatar, motion)
        self._graph, self._bound = graph, (avatar, motion)
        logger.info("captured the FOMM step as a CUDA graph")

    def close(self) -> None:
        self._graph = None
        self._bound = None
        self._image = self._strength = self._output = None
        super().close()
