"""Python, torch, the compute device the engine will use, and the video encoder for recordings."""

from __future__ import annotations

import logging
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from avatarify_app.diagnostics.check import Check, Status

logger = logging.getLogger(__name__)

SUPPORTED_PYTHON = (3, 11)
TORCH_PIN = "2.13.0"  # pyproject.toml's pin; the fix commands below install this version
# The CUDA builds of torch published on download.pytorch.org, newest first, with the lowest driver
# CUDA version (as nvidia-smi prints it) each needs. Check https://pytorch.org/get-started/locally/
# whenever the torch pin changes: each torch release drops old CUDA builds and adds new ones.
TORCH_CUDA_BUILDS: tuple[tuple[tuple[int, int], str], ...] = (
    ((13, 0), "cu130"),
    ((12, 8), "cu128"),
    ((12, 6), "cu126"),
)
DEFAULT_CUDA_BUILD = "cu128"  # when the driver's CUDA version cannot be read
_SUBPROCESS_TIMEOUT_S = 5.0


def check_python() -> Check:
    version = platform.python_version()
    where = "bundled with the app" if getattr(sys, "frozen", False) else sys.executable
    detail = f"{version} ({platform.python_implementation()}, {platform.machine()}) at {where}"
    if sys.version_info[:2] != SUPPORTED_PYTHON:
        wanted = ".".join(map(str, SUPPORTED_PYTHON))
        return Check(
            "python",
            Status.WARN,
            f"{detail}; the app's pinned packages are tested on Python {wanted} only",
            f"create the virtual environment with Python {wanted}",
        )
    return Check("python", Status.OK, detail)


def check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check(
            "torch",
            Status.WARN,
            f"torch cannot be imported ({exc}): the fomm engine is unavailable; the mesh engine works",
            f"pip install torch=={TORCH_PIN}",
        )
    return Check("torch", Status.OK, f"{torch.__version__}")


@dataclass(frozen=True, slots=True)
class NvidiaInfo:
    """What the NVIDIA driver says, without torch: GPU names and the CUDA version the driver supports."""

    gpus: tuple[str, ...]
    driver_cuda: tuple[int, int] | None


def probe_nvidia() -> NvidiaInfo | None:
    """Ask ``nvidia-smi`` (if on PATH) which NVIDIA GPUs the driver sees; None when there is no driver.

    On Linux, a loaded driver without ``nvidia-smi`` still counts (``/proc/driver/nvidia``).
    """
    smi = shutil.which("nvidia-smi")
    if smi is None:
        if Path("/proc/driver/nvidia/version").exists():
            return NvidiaInfo(gpus=(), driver_cuda=None)
        return None
    try:
        names = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT_S,
            check=False,
        )
        header = subprocess.run(
            [smi], capture_output=True, text=True, timeout=_SUBPROCESS_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.info("nvidia-smi did not answer: %s", exc)
        return NvidiaInfo(gpus=(), driver_cuda=None)
    gpus = tuple(line.strip() for line in names.stdout.splitlines() if line.strip())
    match = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", header.stdout)
    driver_cuda = (int(match.group(1)), int(match.group(2))) if match else None
    return NvidiaInfo(gpus=gpus, driver_cuda=driver_cuda)


def cuda_build_for(driver_cuda: tuple[int, int] | None) -> str | None:
    """The newest torch CUDA build the driver can run; None when the driver is too old for any."""
    if driver_cuda is None:
        return DEFAULT_CUDA_BUILD
    for needed, build in TORCH_CUDA_BUILDS:
        if driver_cuda >= needed:
            return build
    return None


def cuda_install_command(build: str) -> str:
    return f"pip install torch=={TORCH_PIN} --index-url https://download.pytorch.org/whl/{build}"


def check_compute_device(nvidia: NvidiaInfo | None = None, probe: bool = True) -> Check:
    """Which device the engine will run on (CUDA, Apple MPS or the CPU), and why.

    ``nvidia``: what the driver reports (``probe_nvidia()`` is asked when None and ``probe`` is set).
    """
    try:
        import torch
    except ImportError:
        return Check(
            "compute device",
            Status.WARN,
            "CPU: torch is not installed, so only the mesh engine (CPU) can run",
            f"pip install torch=={TORCH_PIN}",
        )
    # The engine's own chooser, so doctor names the device the engine will take.
    from avatarify_app.engines.fomm.runtime.device import select_device

    version = torch.__version__
    chosen = select_device()
    if chosen.device.type == "cuda":
        count = torch.cuda.device_count()
        more = f" (and {count - 1} more)" if count > 1 else ""
        return Check(
            "compute device", Status.OK, f"{chosen.label}{more} (torch {version}, CUDA {torch.version.cuda})"
        )
    if chosen.device.type == "mps":
        return Check("compute device", Status.OK, f"Apple GPU (MPS) (torch {version})")
    if nvidia is None and probe:
        nvidia = probe_nvidia()
    return _why_cpu(version, torch.version.cuda, nvidia)


def _why_cpu(torch_version: str, torch_cuda: str | None, nvidia: NvidiaInfo | None) -> Check:
    slow = "the fomm engine runs on the CPU (see 'fomm runtime'); the mesh engine is fine on the CPU"
    if sys.platform == "darwin":
        why = (
            "this Mac has no Apple-silicon GPU that torch can use"
            if platform.machine() != "arm64"
            else f"torch {torch_version} cannot use the Apple GPU (MPS needs macOS 12.3 or newer)"
        )
        fix = "" if platform.machine() != "arm64" else "update macOS, then reinstall torch"
        return Check("compute device", Status.WARN, f"CPU: {why}; {slow}", fix)
    gpu = f"NVIDIA GPU {', '.join(nvidia.gpus)}" if nvidia and nvidia.gpus else "an NVIDIA driver"
    if torch_cuda is None:
        build = cuda_build_for(nvidia.driver_cuda) if nvidia else DEFAULT_CUDA_BUILD
        if nvidia is None:
            return Check(
                "compute device",
                Status.WARN,
                f"CPU: torch is a CPU build ({torch_version}) and no NVIDIA GPU was found; {slow}",
                f"with an NVIDIA GPU: install its driver, then {cuda_install_command(DEFAULT_CUDA_BUILD)}",
            )
        if build is None:
            cuda = ".".join(map(str, nvidia.driver_cuda or ()))
            return Check(
                "compute device",
                Status.WARN,
                f"CPU: torch is a CPU build ({torch_version}); found {gpu}, but its driver supports only "
                f"CUDA {cuda}; {slow}",
                "update the NVIDIA driver, then "
                f"{cuda_install_command(TORCH_CUDA_BUILDS[-1][1])} (see https://pytorch.org/get-started/locally/)",
            )
        return Check(
            "compute device",
            Status.WARN,
            f"CPU: torch is a CPU build ({torch_version}) although this computer has {gpu}; {slow}",
            f"install the CUDA build: {cuda_install_command(build)}",
        )
    if nvidia is None:
        return Check(
            "compute device",
            Status.WARN,
            f"CPU: torch {torch_version} is built for CUDA {torch_cuda}, but no NVIDIA driver was found; "
            + slow,
            "install the NVIDIA driver (nvidia-smi must list your GPU)",
        )
    return Check(
        "compute device",
        Status.WARN,
        f"CPU: torch {torch_version} is built for CUDA {torch_cuda} and the computer has {gpu}, but torch "
        f"cannot use it (driver older than CUDA {torch_cuda}?); {slow}",
        "update the NVIDIA driver, or install the torch build that matches it: "
        f"{cuda_install_command(cuda_build_for(nvidia.driver_cuda) or TORCH_CUDA_BUILDS[-1][1])}",
    )


def check_recording() -> Check:
    """Recording needs PyAV with the H.264 and AAC encoders."""
    try:
        import av
    except ImportError as exc:
        return Check(
            "recording",
            Status.WARN,
            f"PyAV cannot be imported ({exc}): recording and `avatarify render` are unavailable",
            "pip install av==18.1.0",
        )
    missing = []
    for codec in ("libx264", "aac"):
        try:
            av.codec.Codec(codec, "w")
        except ValueError:  # av.codec.codec.UnknownCodecError
            missing.append(codec)
    if missing:
        return Check(
            "recording",
            Status.WARN,
            f"PyAV {av.__version__} lacks the {' and '.join(missing)} encoder: recordings cannot be written",
            "pip install --force-reinstall av==18.1.0",
        )
    return Check("recording", Status.OK, f"PyAV {av.__version__} with H.264 (libx264) and AAC encoders")
