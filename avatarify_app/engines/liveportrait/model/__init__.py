"""The LivePortrait networks (Guo et al., 2024), parameter names as in the released weights.

F ``AppearanceFeatureExtractor``, M ``MotionExtractor``, W ``WarpingNetwork``, G ``SPADEDecoder`` and
S/R ``StitchingRetargeting``; ``keypoints`` holds the maths between them.
"""

from avatarify_app.engines.liveportrait.model.appearance import AppearanceFeatureExtractor
from avatarify_app.engines.liveportrait.model.keypoints import (
    KeypointInfo,
    RegionGains,
    bins_to_degrees,
    relative_driving_keypoints,
    rotation_matrix,
    source_keypoints,
    stitch,
    transform_keypoints,
)
from avatarify_app.engines.liveportrait.model.motion_extractor import MotionExtractor, MotionOutput
from avatarify_app.engines.liveportrait.model.spade import SPADEDecoder
from avatarify_app.engines.liveportrait.model.stitching import (
    StitchingRetargeting,
    StitchingRetargetingNetwork,
)
from avatarify_app.engines.liveportrait.model.warping import DenseMotion, DenseMotionNetwork, WarpingNetwork

__all__ = [
    "AppearanceFeatureExtractor",
    "DenseMotion",
    "DenseMotionNetwork",
    "KeypointInfo",
    "MotionExtractor",
    "MotionOutput",
    "RegionGains",
    "SPADEDecoder",
    "StitchingRetargeting",
    "StitchingRetargetingNetwork",
    "WarpingNetwork",
    "bins_to_degrees",
    "relative_driving_keypoints",
    "rotation_matrix",
    "source_keypoints",
    "stitch",
    "transform_keypoints",
]
