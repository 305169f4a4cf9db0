"""LivePortrait's per-frame step (``step.frame_step``) captured once as a CUDA graph, replayed per frame.

At batch 1 the step (M, the keypoint maths, the stitching MLP, W, G: several hundred kernels) is
bound by kernel launches on a recent GPU more than by its arithmetic; a graph replays them with one
launch. The graph reads static buffers: ``GraphedStep`` clones the first ``StepInputs`` into them,
captures, then per frame copies each input into its buffer and replays. The avatar's and the
neutral frame's tensors are copied only when they are other tensor objects than last time (a new
avatar or calibration: a device-to-device copy, no new capture). A new capture happens only when the
inputs' shapes, dtypes or None-ness change, or the ``StepFlags`` do (e.g. stitching switched off, an
avatar without a lip delta after one with).

The step runs under the engine's autocast (fp16 on CUDA by default); capture needs the autocast
weight cache off (``torch.autocast(..., cache_enabled=False)``), which the engine's step does.

``capture`` is pluggable: ``capture_cuda`` (the real one) or ``capture_eager`` (a CPU stand-in that
re-runs the function on the static buffers, so the buffer and copy logic can be tested without a
GPU). Never run on a GPU by this project yet: the GPU tests skip without CUDA.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from avatarify_app.engines.liveportrait.runtime.step import (
    StepFlags,
    StepInputs,
    clone_tree,
    leaves,
    signature,
)

logger = logging.getLogger(__name__)

WARMUP_STEPS = 3
Body = Callable[[], torch.Tensor]
Replay = Callable[[], None]
Capture = Callable[[Body, torch.device], tuple[Replay, torch.Tensor]]
Step = Callable[[StepInputs, StepFlags], torch.Tensor]


def capture_cuda(body: Body, device: torch.device) -> tuple[Replay, torch.Tensor]:
    """Warm ``body`` up on a side stream (cuDNN/cuBLAS choose their kernels, the allocator settles),
    then capture it; returns the graph's replay and its output tensor (rewritten by each replay)."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(WARMUP_STEPS):
            body()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = body()
    return graph.replay, output


def capture_eager(body: Body, device: torch.device) -> tuple[Replay, torch.Tensor]:
    """The CPU stand-in for ``capture_cuda``: "replay" runs ``body`` again and writes its result into
    the first run's output tensor, as a graph replay rewrites its output."""
    output = body()

    def replay() -> None:
        output.copy_(body())

    return replay, output


class GraphedStep:
    """``step(inputs, flags)`` through a captured graph: same results as calling ``step`` directly
    (up to the float rounding of other kernels' choices), one launch per frame.

    ``captures`` counts the captures made (for tests and the log). Returns a fresh tensor each call
    (the graph's output buffer is rewritten by the next replay).
    """

    def __init__(self, step: Step, device: torch.device, capture: Capture = capture_cuda) -> None:
        self.step = step
        self.device = device
        self.capture = capture
        self.captures = 0
        self._key: tuple[Any, ...] | None = None
        self._buffers: StepInputs | None = None
        self._sources: list[torch.Tensor | None] = []
        self._replay: Replay | None = None
        self._output: torch.Tensor | None = None

    def __call__(self, inputs: StepInputs, flags: StepFlags) -> torch.Tensor:
        key = (flags, signature(inputs))
        if key != self._key:
            self._capture_for(inputs, flags, key)
        else:
            self._copy_in(inputs)
        assert self._replay is not None
        assert self._output is not None
        self._replay()
        return self._output.clone()

    def _copy_in(self, inputs: StepInputs) -> None:
        """Copy each input tensor that is not the one copied last time into its static buffer."""
        assert self._buffers is not None
        new = leaves(inputs)
        for buffer, source, last in zip(leaves(self._buffers), new, self._sources, strict=True):
            if source is not None and source is not last:
                assert buffer is not None
                buffer.copy_(source)
        self._sources = new

    def _capture_for(self, inputs: StepInputs, flags: StepFlags, key: tuple[Any, ...]) -> None:
        self._replay = self._output = None  # drop the old graph (and its memory pool) first
        buffers: StepInputs = clone_tree(inputs)
        self._buffers = buffers
        self._sources = leaves(inputs)
        self._replay, self._output = self.capture(lambda: self.step(buffers, flags), self.device)
        self._key = key
        self.captures += 1
        logger.info("captured LivePortrait's per-frame step (%s), capture %d", flags, self.captures)

    def close(self) -> None:
        self._key = self._buffers = self._replay = self._output = None
        self._sources = []
