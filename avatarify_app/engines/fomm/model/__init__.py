"""The FOMM networks as torch modules: the one definition of the model.

Module and parameter names match the original vox checkpoints. The runtimes (``..runtime``) run these
networks as they are (torch) or convert them (OpenVINO); nothing else defines the model.
"""

from avatarify_app.engines.fomm.model.dense_motion import DenseMotionNetwork
from avatarify_app.engines.fomm.model.fusion import fold_batch_norms
from avatarify_app.engines.fomm.model.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.model.keypoints import Keypoints, KPDetector
from avatarify_app.engines.fomm.model.motion import (
    movement_scale,
    normalize_kp,
    relative_motion,
    scale_motion,
)

__all__ = [
    "DenseMotionNetwork",
    "KPDetector",
    "Keypoints",
    "OcclusionAwareGenerator",
    "fold_batch_norms",
    "movement_scale",
    "normalize_kp",
    "relative_motion",
    "scale_motion",
]
