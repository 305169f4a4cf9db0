"""The First Order Motion Model engine (Siarohin et al., NeurIPS 2019), compatible with the vox checkpoints.

The networks keep the original module and parameter names and call signatures, so code written for
FOMM reads the same here::

    kp_detector, generator = load_checkpoint("vox-adv-cpk.pth.tar", "models/vox-adv-256.yaml")
    kp_source = kp_detector(source)                       # {'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}
    kp_norm = normalize_kp(kp_source, kp_detector(driving), kp_driving_initial,
                           use_relative_movement=True, use_relative_jacobian=True)
    out = generator(source, kp_source=kp_source, kp_driving=kp_norm)   # out['prediction']: (B, 3, H, W)

``FommEngine`` wraps them behind the app's ``Engine`` interface, with per-avatar caching and the fast
CPU path of ``optimize_for_inference``.
"""

from avatarify_app.engines.fomm.checkpoint import (
    identify_checkpoint,
    load_checkpoint,
    read_checkpoint,
)
from avatarify_app.engines.fomm.config import FommConfig, build_models
from avatarify_app.engines.fomm.dense_motion import DenseMotionNetwork
from avatarify_app.engines.fomm.engine import FommEngine
from avatarify_app.engines.fomm.generator import OcclusionAwareGenerator
from avatarify_app.engines.fomm.keypoints import KPDetector
from avatarify_app.engines.fomm.motion import normalize_kp
from avatarify_app.engines.fomm.optimize import optimize_for_inference

__all__ = [
    "DenseMotionNetwork",
    "FommConfig",
    "FommEngine",
    "KPDetector",
    "OcclusionAwareGenerator",
    "build_models",
    "identify_checkpoint",
    "load_checkpoint",
    "normalize_kp",
    "optimize_for_inference",
    "read_checkpoint",
]
