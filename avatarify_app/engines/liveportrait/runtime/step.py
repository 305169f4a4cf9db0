"""LivePortrait's per-frame step as one plain function of tensors, ``frame_step(nets, inputs, flags)``.

Every runtime calls it: torch eager and OpenVINO directly, CUDA graphs by capturing it once
(``runtime/cuda_graphs.py``). So the function may not branch on tensor values, read a tensor back
to the host or make a tensor from host values: all it reads per frame is in ``StepInputs`` (fixed
shapes), and all its branches are on ``StepFlags`` (host booleans, part of the capture key).

Shapes (released layout: S = 256, K = 21, F's volume C x D = 32 x 16 at S/4):
  driver (1, 3, S, S) float32 in [0, 1] -> prediction (1, 3, 2S, 2S) in about [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol

import torch

from avatarify_app.engines.liveportrait.checkpoint import LivePortraitModels
from avatarify_app.engines.liveportrait.model import KeypointInfo, MotionOutput, stitch
from avatarify_app.engines.liveportrait.model.keypoints import relative_motion, retarget_eye
from avatarify_app.engines.liveportrait.model.stitching import StitchingRetargeting
from avatarify_app.engines.liveportrait.model.warping import SourceMotionCache


class StepNetworks(Protocol):
    """M, W then G, and the MLPs, as one runtime runs them."""

    stitching: StitchingRetargeting

    def motion(self, x: torch.Tensor) -> MotionOutput: ...

    def warp_decode(
        self,
        feature_3d: torch.Tensor,
        x_d: torch.Tensor,
        x_s: torch.Tensor,
        cache: SourceMotionCache | None,
    ) -> torch.Tensor: ...


class TorchNetworks:
    """``StepNetworks`` on the torch modules (W with the avatar's cached source-only work)."""

    def __init__(self, models: LivePortraitModels) -> None:
        self.models = models
        self.stitching = models.stitching

    def motion(self, x: torch.Tensor) -> MotionOutput:
        return self.models.motion(x)

    def warp_decode(
        self,
        feature_3d: torch.Tensor,
        x_d: torch.Tensor,
        x_s: torch.Tensor,
        cache: SourceMotionCache | None,
    ) -> torch.Tensor:
        """(1, C, D, S/4, S/4), (1, K, 3), (1, K, 3) -> (1, 3, 2S, 2S)."""
        warped, _ = self.models.warping(feature_3d, x_d, x_s, cache)
        return self.models.spade(warped)


@dataclass(frozen=True, slots=True)
class StepFlags:
    """The step's host-side switches: ``stitching`` (the stitching MLP), ``lip`` (add the avatar's
    lip-closing delta), ``eye_retargeting`` (the eye MLP from ``StepInputs.eye_target``; needs the
    avatar's ``eye_ratios``)."""

    stitching: bool = True
    lip: bool = False
    eye_retargeting: bool = False


@dataclass(frozen=True, slots=True)
class StepInputs:
    """Everything ``frame_step`` reads. Per frame: ``driver`` (1, 3, S, S) float32 in [0, 1], the
    driver's crop; ``weights`` (K, 1) the expression gain per keypoint
    (``RegionGains.expression_weights``); ``head`` () the head gain; ``eye_target`` (1, 1) the eye
    ratio the lids should take (the avatar's own mean ratio: no change).
    Per avatar (``set_avatar``): ``feature_3d`` (1, C, D, S/4, S/4), ``source`` its M parameters,
    ``x_s`` (1, K, 3), ``motion_cache`` (W's source-only part, None: W computes it), ``lip_delta``
    (1, K, 3) or None, ``eye_ratios`` (1, 2) or None. Per calibration: ``neutral`` (M's parameters).
    All float32 on one device."""

    driver: torch.Tensor
    weights: torch.Tensor
    head: torch.Tensor
    eye_target: torch.Tensor
    feature_3d: torch.Tensor
    source: KeypointInfo
    x_s: torch.Tensor
    motion_cache: SourceMotionCache | None
    lip_delta: torch.Tensor | None
    eye_ratios: torch.Tensor | None
    neutral: KeypointInfo


def frame_step(nets: StepNetworks, inputs: StepInputs, flags: StepFlags) -> torch.Tensor:
    """M on the driver's crop -> relative motion -> (eye MLP) -> stitching MLP -> (lip delta) -> W -> G.

    Shape:
        inputs.driver (1, 3, S, S) -> (1, 3, 2S, 2S)
    """
    info = KeypointInfo.from_heads(nets.motion(inputs.driver).float())
    x_d = relative_motion(inputs.source, info, inputs.neutral, inputs.weights, inputs.head)
    if flags.eye_retargeting:
        assert inputs.eye_ratios is not None
        own = inputs.eye_ratios.mean(dim=1, keepdim=True)  # (1, 1)
        rows = torch.cat([inputs.eye_ratios.expand(2, 2), torch.cat([inputs.eye_target, own])], dim=1)
        deltas = retarget_eye(nets.stitching, inputs.x_s.expand(2, -1, -1), rows).float()  # (2, K, 3)
        x_d = x_d + (deltas[0] - deltas[1])[None]  # the target's delta relative to the avatar's own
    if flags.stitching:
        x_d = stitch(nets.stitching, inputs.x_s, x_d)
    if flags.lip:
        assert inputs.lip_delta is not None
        x_d = x_d + inputs.lip_delta
    return nets.warp_decode(inputs.feature_3d, x_d, inputs.x_s, inputs.motion_cache)


# -- the inputs as a tree of tensors (for static buffers) -------------------------------------------


def leaves(tree: Any) -> list[torch.Tensor | None]:
    """The tensors (and Nones) of a tree of dataclasses, depth first in field order."""
    if tree is None or isinstance(tree, torch.Tensor):
        return [tree]
    return [leaf for f in fields(tree) for leaf in leaves(getattr(tree, f.name))]


def clone_tree(tree: Any) -> Any:
    """The same tree with each tensor cloned (fresh storage, same shape, dtype and device)."""
    if tree is None:
        return None
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    return type(tree)(**{f.name: clone_tree(getattr(tree, f.name)) for f in fields(tree)})


def signature(tree: Any) -> tuple[tuple[tuple[int, ...], torch.dtype, torch.device] | None, ...]:
    """Shape, dtype and device of each leaf (None for a None): two trees with equal signatures fit the
    same static buffers."""
    return tuple(None if t is None else (tuple(t.shape), t.dtype, t.device) for t in leaves(tree))
