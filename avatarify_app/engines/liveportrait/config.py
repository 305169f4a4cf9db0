"""The sizes of the LivePortrait networks: the released layout (``models.yaml`` of the reference) or smaller.

The released weights need ``LivePortraitConfig.released()``; tests and benchmarks build smaller networks
of the same structure (``small()``: 256 in, 512 out, a few channels) so they run in seconds on a CPU.
The keypoint count stays 21 in every layout: the stitching and retargeting MLPs' sizes and the region
index sets depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avatarify_app.errors import InputError

NUM_KP = 21
NUM_BINS = 66  # head-pose bins of 3 degrees: -97.5 .. 100.5


@dataclass(frozen=True, slots=True)
class AppearanceParams:
    """F: image (3, S, S) -> feature volume (reshape_channel, reshape_depth, S/4, S/4)."""

    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512  # = reshape_channel * reshape_depth
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6


@dataclass(frozen=True, slots=True)
class MotionParams:
    """M: a ConvNeXt-V2 (tiny: depths 3, 3, 9, 3; dims 96 .. 768) with seven linear heads."""

    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)


@dataclass(frozen=True, slots=True)
class WarpingParams:
    """W: dense motion (a 3D hourglass) and the 2D layers after the warp."""

    block_expansion: int = 64  # third/fourth: block_expansion * 2**num_down_blocks channels
    max_features: int = 512  # = reshape_channel * reshape_depth of F
    num_down_blocks: int = 2
    reshape_channel: int = 32
    dense_block_expansion: int = 32
    dense_max_features: int = 1024
    dense_num_blocks: int = 5
    dense_reshape_depth: int = 16
    compress: int = 4


@dataclass(frozen=True, slots=True)
class SpadeParams:
    """G: SPADE residual decoder, features (C, S/4, S/4) -> image (3, 2S, 2S) with ``upscale`` 2."""

    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64
    spade_hidden: int = 128  # SPADE's shared MLP width (fixed at 128 in the reference)


@dataclass(frozen=True, slots=True)
class LivePortraitConfig:
    """All network sizes. ``input_size``: the side of the face crops the networks take (256)."""

    input_size: int = 256
    appearance: AppearanceParams = field(default_factory=AppearanceParams)
    motion: MotionParams = field(default_factory=MotionParams)
    warping: WarpingParams = field(default_factory=WarpingParams)
    spade: SpadeParams = field(default_factory=SpadeParams)
    stitching_hidden: tuple[int, ...] = (128, 128, 64)
    lip_hidden: tuple[int, ...] = (128, 128, 64)
    eye_hidden: tuple[int, ...] = (256, 256, 128, 128, 64)

    @classmethod
    def released(cls) -> LivePortraitConfig:
        """The layout of the released human model (``src/config/models.yaml``)."""
        return cls()

    @classmethod
    def small(cls) -> LivePortraitConfig:
        """The same structure with few channels: 256 in, 512 out, for tests and quick benchmarks."""
        return cls(
            input_size=256,
            appearance=AppearanceParams(
                block_expansion=8, max_features=16, reshape_channel=4, reshape_depth=4, num_resblocks=1
            ),
            motion=MotionParams(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32)),
            warping=WarpingParams(
                block_expansion=4,
                max_features=16,
                reshape_channel=4,
                dense_block_expansion=4,
                dense_max_features=16,
                dense_num_blocks=3,
                dense_reshape_depth=4,
                compress=2,
            ),
            spade=SpadeParams(block_expansion=4, max_features=16, out_channels=8, spade_hidden=8),
            stitching_hidden=(16, 16),
            lip_hidden=(16, 16),
            eye_hidden=(16, 16),
        )

    @classmethod
    def tiny(cls) -> LivePortraitConfig:
        """``small`` at 64 in, 128 out (a 2-level dense-motion hourglass): behaviour tests in a blink."""
        small = cls.small()
        return cls(
            input_size=64,
            appearance=small.appearance,
            motion=small.motion,
            warping=WarpingParams(
                block_expansion=4,
                max_features=16,
                reshape_channel=4,
                dense_block_expansion=4,
                dense_max_features=16,
                dense_num_blocks=2,
                dense_reshape_depth=4,
                compress=2,
            ),
            spade=small.spade,
            stitching_hidden=small.stitching_hidden,
            lip_hidden=small.lip_hidden,
            eye_hidden=small.eye_hidden,
        )

    @property
    def output_size(self) -> int:
        return self.input_size * max(self.spade.upscale, 1)

    def check(self) -> None:
        """Raise ``InputError`` when the sizes cannot fit together."""
        a, w = self.appearance, self.warping
        if a.max_features != a.reshape_channel * a.reshape_depth:
            raise InputError(
                f"appearance max_features {a.max_features} must equal reshape_channel x reshape_depth "
                f"({a.reshape_channel} x {a.reshape_depth})"
            )
        if w.max_features != a.max_features or w.reshape_channel != a.reshape_channel:
            raise InputError("the warping module's max_features and reshape_channel must match F's")
        if w.dense_reshape_depth != a.reshape_depth:
            raise InputError("the dense motion's reshape_depth must match F's reshape_depth")
        feature_side = self.input_size // 2**a.num_down_blocks
        if self.input_size % 32 or feature_side % 2**w.dense_num_blocks:
            raise InputError(
                f"input_size {self.input_size} must be a multiple of 32 and of 4 x 2**dense_num_blocks"
            )
        warped = w.block_expansion * 2**w.num_down_blocks
        decoded = min(self.spade.max_features, self.spade.block_expansion * 2**self.spade.num_down_blocks)
        if warped != decoded:
            raise InputError(f"the warping module gives {warped} channels, the decoder takes {decoded}")
        if len(self.motion.depths) != 4 or len(self.motion.dims) != 4:
            raise InputError("the motion extractor has four stages (depths and dims of length 4)")
