"""The CPU's features that decide how fast the fomm engine runs there, and the runtime it will use."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass, field
from pathlib import Path

from avatarify_app.config import FOMM_CPU_SPEED
from avatarify_app.diagnostics.check import Check, Status

logger = logging.getLogger(__name__)

# Feature -> the /proc/cpuinfo flags that show it (any of them).
CPU_FLAGS: dict[str, tuple[str, ...]] = {
    "avx2": ("avx2",),
    "avx512": ("avx512f",),
    "vnni": ("avx512_vnni", "avx_vnni"),
    "bf16": ("avx512_bf16", "amx_bf16"),
    "amx": ("amx_tile",),
}


@dataclass(frozen=True, slots=True)
class CpuFeatures:
    """``model``: the CPU's name; ``features``: AVX2, AVX-512, VNNI (int8 dot products), bf16 and AMX,
    True/False, or None where this OS does not say; ``openvino``: OpenVINO's optimization
    capabilities for the CPU ("FP32", "BF16", "INT8"...), empty without OpenVINO."""

    model: str
    features: dict[str, bool | None] = field(default_factory=dict)
    openvino: tuple[str, ...] = ()

    @property
    def native_bf16(self) -> bool:
        return "BF16" in self.openvino or bool(self.features.get("bf16"))

    def summary(self) -> str:
        """ "AVX2 yes, AVX-512 no, VNNI no, bf16 no, AMX no"."""
        names = {"avx2": "AVX2", "avx512": "AVX-512", "vnni": "VNNI", "bf16": "bf16", "amx": "AMX"}
        said = {True: "yes", False: "no", None: "?"}
        return ", ".join(f"{names[k]} {said[self.features.get(k)]}" for k in CPU_FLAGS)


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuFeatures:
    """What this CPU has (Linux: from ``cpuinfo``; elsewhere from OpenVINO where it says)."""
    model = platform.processor() or platform.machine()
    features: dict[str, bool | None] = dict.fromkeys(CPU_FLAGS)
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    if flags:
        features = {name: any(f in flags for f in wanted) for name, wanted in CPU_FLAGS.items()}
    return CpuFeatures(model, features, _openvino_capabilities())


def _openvino_capabilities() -> tuple[str, ...]:
    try:
        from avatarify_app.engines.fomm.runtime.ov import import_openvino

        ov = import_openvino()
        return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception as exc:  # not installed, or a CPU OpenVINO cannot use: no capabilities to report
        logger.info("OpenVINO capabilities unavailable: %s", exc)
        return ()


def check_cpu_features() -> Check:
    cpu = cpu_features()
    return Check("cpu", Status.OK, f"{cpu.model}: {cpu.summary()}")


def check_fomm_runtime() -> Check:
    """The backend and precision the fomm engine will use by default, and why."""
    try:
        from avatarify_app.engines.fomm.runtime import choose_runtime, openvino_devices
    except ImportError as exc:
        return Check("fomm runtime", Status.WARN, f"the fomm engine cannot be imported ({exc})")
    choice = choose_runtime()
    speed = f"; {FOMM_CPU_SPEED}" if choice.device.lower() == "cpu" else ""
    if choice.backend == "torch":
        detail = (
            f"{choice.why}, {choice.precision}"
            + (" with CUDA graphs" if choice.device == "cuda" else "")
            + speed
        )
        status = Status.OK if choice.device != "cpu" else Status.WARN
        fix = "" if choice.device != "cpu" else "pip install openvino (the fast CPU runtime)"
        return Check("fomm runtime", status, detail, fix)
    cpu = cpu_features()
    gpu = (
        "; OpenVINO also lists an Intel GPU (FommEngine(device='gpu'); untested, never chosen automatically)"
        if "GPU" in openvino_devices()
        else ""
    )
    if cpu.native_bf16:
        return Check("fomm runtime", Status.OK, f"{choice.why}, bf16 (the CPU has native bf16){gpu}{speed}")
    return Check(
        "fomm runtime",
        Status.OK,
        f"{choice.why}, fp32: this CPU has no native bf16, so OpenVINO's default precision is fp32; "
        f"--precision int8 is faster at a small cost in quality{gpu}{speed}",
    )
