"""Runtimes for the FOMM networks' per-frame part: torch (CUDA with CUDA graphs, MPS, CPU) and OpenVINO.

The torch modules in ``..model`` are the one definition of the model; a runtime runs them as they are
(``torch_eager``, ``cuda_graphs``) or converts them (``export`` -> ``openvino_runtime``).
``select.choose_runtime`` picks the backend, device and precision.
"""

from avatarify_app.engines.fomm.runtime.base import AvatarTensors, Motion, Runtime
from avatarify_app.engines.fomm.runtime.device import ComputeDevice, select_device
from avatarify_app.engines.fomm.runtime.select import (
    BACKENDS,
    PRECISIONS,
    RuntimeChoice,
    choose_runtime,
    openvino_devices,
)

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "AvatarTensors",
    "ComputeDevice",
    "Motion",
    "Runtime",
    "RuntimeChoice",
    "choose_runtime",
    "openvino_devices",
    "select_device",
]
