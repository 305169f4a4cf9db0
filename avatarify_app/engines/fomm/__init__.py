"""The First Order Motion Model engine (Siarohin et al., NeurIPS 2019), compatible with the vox checkpoints.

Layout: ``model/`` holds the networks (layers, keypoint detector, dense motion, generator, relative
motion), ``runtime/`` what runs them per frame (torch with CUDA graphs, OpenVINO with its export and
cache), ``engine.py`` the ``Engine``; ``checkpoint.py`` and ``config.py`` load the original files.

The networks keep the original module and parameter names and call signatures, so code written for
FOMM reads the same here::

    kp_detector, generator = load_checkpoint("vox-adv-cpk.pth.tar", "models/vox-adv-256.yaml")
    kp_source = kp_detector(source)                       # {'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}
    kp_norm = normalize_kp(kp_source, kp_detector(driving), kp_driving_initial,
                           use_relative_movement=True, use_relative_jacobian=True)
    out = generator(source, kp_source=kp_source, kp_driving=kp_norm)   # out['prediction']: (B, 3, H, W)

``FommEngine`` wraps them behind the app's ``Engine`` interface, with per-avatar caching, on the
runtime ``runtime.choose_runtime`` picks.
"""

from avatarify_app.engines.fomm.checkpoint import load_checkpoint, read_checkpoint
from avatarify_app.engines.fomm.config import FommConfig, build_models
from avatarify_app.engines.fomm.engine import FommEngine
from avatarify_app.engines.fomm.model import (
    DenseMotionNetwork,
    KPDetector,
    OcclusionAwareGenerator,
    normalize_kp,
    relative_motion,
)
from avatarify_app.engines.fomm.runtime import BACKENDS, PRECISIONS, choose_runtime

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "DenseMotionNetwork",
    "FommConfig",
    "FommEngine",
    "KPDetector",
    "OcclusionAwareGenerator",
    "build_models",
    "choose_runtime",
    "load_checkpoint",
    "normalize_kp",
    "read_checkpoint",
    "relative_motion",
]
