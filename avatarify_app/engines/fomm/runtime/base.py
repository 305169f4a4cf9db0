"""What every FOMM runtime does per frame, and the avatar and motion state it is given."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from avatarify_app.config import FOMM_BACKENDS, FOMM_PRECISIONS
from avatarify_app.engines.fomm.model.keypoints import Keypoints
from avatarify_app.engines.fomm.model.motion import relative_motion, scale_motion

BACKENDS = FOMM_BACKENDS
PRECISIONS = FOMM_PRECISIONS


@dataclass(frozen=True, slots=True)
class AvatarTensors:
    """What the generator's per-frame part needs from the avatar, computed once per avatar.

    ``kp_source``: its keypoints; ``features``: ``generator.encode(source)``; ``source_small``: the
    dense motion network's ``downsample(source)``. On the runtime's device, float32.
    """

    kp_source: Keypoints
    features: torch.Tensor
    source_small: torch.Tensor


@dataclass(frozen=True, slots=True)
class Motion:
    """Relative motion from the calibrated neutral frame (fixed until the next calibration).

    ``scale``: ``movement_scale`` of the avatar against the neutral driver, a (1,) tensor computed
    once at calibration; ``strength``: how far the keypoints move toward the driven pose (1 = all).
    """

    kp_initial: Keypoints
    scale: torch.Tensor
    use_relative_jacobian: bool = True

    def apply(self, kp_source: Keypoints, kp_driving: Keypoints, strength: torch.Tensor | float) -> Keypoints:
        """The avatar's keypoints for the driver's ``kp_driving``: relative motion, scaled by strength.

        ``strength``: one number, or a (K,) tensor of gains per keypoint (``scale_motion``). All tensor
        arithmetic on the keypoints' device (no host copies), so it can be captured in a CUDA graph.
        """
        moved = relative_motion(
            kp_source, kp_driving, self.kp_initial, self.scale, self.use_relative_jacobian
        )
        return scale_motion(kp_source, moved, strength)


class Runtime(abc.ABC):
    """Runs the FOMM networks' per-frame part: keypoints of a driving crop, and the generator.

    ``label`` says what runs, for people ("CPU, OpenVINO fp32", "CUDA: <GPU>, torch fp16").
    ``device``: where the tensors given to and returned by the runtime live. ``precision``: the
    precision in effect (what the hardware gave, not only what was asked for).
    """

    label: str
    device: torch.device
    precision: str

    @abc.abstractmethod
    def keypoints(self, image: torch.Tensor) -> Keypoints:
        """Keypoints of ``image`` (1, 3, S, S) float32 in [0, 1] on ``device``, as float32."""

    @abc.abstractmethod
    def prepare(self, source: torch.Tensor) -> AvatarTensors:
        """The avatar's cached tensors from its crop ``source`` (1, 3, S, S) float32 on ``device``."""

    @abc.abstractmethod
    def generate(self, kp_driving: Keypoints, avatar: AvatarTensors) -> torch.Tensor:
        """The avatar posed by ``kp_driving``: (1, 3, S, S) in [0, 1] on ``device``."""

    def step(
        self, image: torch.Tensor, avatar: AvatarTensors, motion: Motion, strength: float | torch.Tensor
    ) -> torch.Tensor:
        """One frame: keypoints of the driver ``image``, relative motion, generator.

        ``strength``: one number, or a (K,) tensor of per-keypoint gains on ``device`` (regions).
        """
        kp_driving = motion.apply(avatar.kp_source, self.keypoints(image), strength)
        return self.generate(kp_driving, avatar)

    def close(self) -> None:  # noqa: B027 - runtimes without resources need not override
        """Release what the runtime holds."""
