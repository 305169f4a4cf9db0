"""Choosing the torch device the FOMM networks run on, and naming it for people."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from avatarify_app.errors import DeviceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ComputeDevice:
    """A torch device and how to show it: ``label`` is "CPU", "MPS" or "CUDA: <GPU name>"."""

    device: torch.device
    label: str

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(requested: str | None = None) -> ComputeDevice:
    """CUDA when available, else Apple's MPS, else the CPU; ``requested`` ("cpu", "cuda", "cuda:1",
    "mps") forces one. Raises ``DeviceError`` when the requested device is absent or unknown."""
    if requested is None:
        if torch.cuda.is_available():
            requested = "cuda"
        elif mps_available():
            requested = "mps"
        else:
            requested = "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise DeviceError(f"unknown compute device {requested!r}: use cpu, cuda or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"{requested} was asked for, but this torch has no CUDA GPU "
                f"(torch {torch.__version__}): install a CUDA build of torch, or run on the CPU"
            )
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DeviceError(f"{requested}: only {torch.cuda.device_count()} CUDA GPU(s) here")
        device = torch.device("cuda", index)
        return ComputeDevice(device, f"CUDA: {torch.cuda.get_device_name(index)}")
    if device.type == "mps":
        if not mps_available():
            raise DeviceError("mps was asked for, but Apple's Metal (MPS) is not available to torch here")
        return ComputeDevice(device, "MPS")
    if device.type == "cpu":
        return ComputeDevice(device, "CPU")
    raise DeviceError(f"unsupported compute device {requested!r}: use cpu, cuda or mps")
