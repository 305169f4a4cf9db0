"""Which runtime runs the FOMM networks: the backend, its device and the precision.

``auto`` (the default): a CUDA GPU through torch (fp16, CUDA graphs) when torch has one; Apple's MPS
through torch; otherwise OpenVINO on the CPU. An Intel GPU through OpenVINO ("gpu") is used only when
asked for: it cannot be tested on this project's machines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from avatarify_app.config import FOMM_BACKENDS as BACKENDS
from avatarify_app.config import FOMM_PRECISIONS as PRECISIONS
from avatarify_app.engines.fomm.runtime.device import mps_available
from avatarify_app.engines.fomm.runtime.ov import import_openvino
from avatarify_app.errors import DeviceError, InputError

logger = logging.getLogger(__name__)

TORCH_PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True, slots=True)
class RuntimeChoice:
    """``backend``: "torch" or "openvino"; ``device``: a torch device ("cuda", "mps", "cpu") or an
    OpenVINO one ("CPU", "GPU"); ``precision``: as asked, "auto" resolved for torch; ``why``: a
    sentence for ``avatarify doctor``."""

    backend: str
    device: str
    precision: str
    why: str


def openvino_devices() -> list[str]:
    """The devices OpenVINO lists here ("CPU", "GPU"...), empty when OpenVINO is not installed."""
    try:
        ov = import_openvino()
    except ImportError:
        return []
    return list(ov.Core().available_devices)


def choose_runtime(
    backend: str = "auto", precision: str = "auto", device: str | None = None
) -> RuntimeChoice:
    """Resolve ``backend``/``precision``/``device`` as the module docstring says.

    ``device``: None (choose), a torch device ("cpu", "cuda", "cuda:1", "mps") or "gpu" (an Intel GPU
    through OpenVINO). Raises ``InputError`` for an unknown or impossible combination and
    ``DeviceError`` for an absent device.
    """
    backend, precision = backend.lower(), precision.lower()
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    wants_gpu = device is not None and device.lower() == "gpu"
    if backend == "auto":
        if wants_gpu or precision in ("int8", "bf16"):
            backend = "openvino"
        elif (device is not None and device.split(":")[0] in ("cuda", "mps")) or (
            device is None and (torch.cuda.is_available() or mps_available())
        ):
            backend = "torch"
        elif not openvino_devices():
            logger.info("OpenVINO is not installed: FOMM runs in torch on the CPU")
            backend = "torch"
        else:
            backend = "openvino"
    if backend == "openvino":
        devices = openvino_devices()
        if not devices:
            raise InputError("the openvino backend needs OpenVINO: pip install openvino")
        if device is not None and not wants_gpu and device.lower() != "cpu":
            raise InputError(f"the openvino backend runs on the CPU or an Intel GPU (gpu), not {device}")
        ov_device = "GPU" if wants_gpu else "CPU"
        if ov_device not in devices:
            raise DeviceError(f"OpenVINO lists no {ov_device} here (it has: {', '.join(devices)})")
        why = "OpenVINO on an Intel GPU, as asked" if wants_gpu else "OpenVINO on the CPU"
        return RuntimeChoice("openvino", ov_device, precision, why)
    if wants_gpu:
        raise InputError("the Intel GPU (gpu) is for the openvino backend")
    torch_device = device or ("cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu")
    on_gpu = torch_device.split(":")[0] in ("cuda", "mps")
    if precision == "auto":
        precision = "fp16" if torch_device.startswith("cuda") else "fp32"
    if precision not in TORCH_PRECISIONS:
        raise InputError(f"precision {precision} needs the openvino backend (--backend openvino)")
    if precision == "fp16" and not on_gpu:
        raise InputError("fp16 in torch is for GPUs: on the CPU use --backend openvino")
    why = {"cuda": "torch on the CUDA GPU", "mps": "torch on Apple's MPS"}.get(
        torch_device.split(":")[0], "torch on the CPU"
    )
    return RuntimeChoice("torch", torch_device, precision, why)
