"""The CPU's features that decide how fast the fomm engine runs there, and the runtime it will use."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass, field
from pathlib import Path

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

    @property
    def kind(self) -> str:
        """The kind of CPU as far as fomm's speed goes: "amx", "avx512-bf16", "avx512", "avx2", or
        "unknown" (no flags to read: another OS, or an ARM CPU)."""
        f = self.features
        if f.get("amx"):
            return "amx"
        if f.get("avx512") and self.native_bf16:
            return "avx512-bf16"
        if f.get("avx512"):
            return "avx512"
        if f.get("avx2"):
            return "avx2"
        return "unknown"

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


# What fomm's network step makes a second on each kind of CPU with 2 cores (bench/fomm_engine.py,
# docs/fomm.md): (the kind in words, at full fidelity (``auto``), in the fast modes). The EPYC
# figures come from earlier runs and issue #19; the AMX ones from this project's Xeon at low load.
FOMM_SPEED_BY_KIND: dict[str, tuple[str, str, str]] = {
    "avx2": ("an AVX2-only CPU", "about 1-1.5 (fp32)", "int8 about 2.5-3.5"),
    "avx512": ("an AVX-512 CPU without bf16", "about 1.5-2 (fp32)", "int8 a little more"),
    "avx512-bf16": (
        "an AVX-512 CPU with bf16 (no AMX)",
        "about 2-4 (not measured there: fp32 makes about 2, bf16 about 4)",
        "bf16 about 4, int8 about 7",
    ),
    "amx": ("a CPU with AMX", "about 10", "bf16 about 17, int8 about 13"),
}


def fomm_cpu_speed(cpu: CpuFeatures | None = None) -> str:
    """One sentence on what fomm makes on this CPU, from its kind (``FOMM_SPEED_BY_KIND``)."""
    cpu = cpu or cpu_features()
    known = FOMM_SPEED_BY_KIND.get(cpu.kind)
    if known is None:
        return "fomm's speed on this kind of CPU has not been measured (avatarify render prints it)"
    words, faithful, fast = known
    return (
        f"on {words} like this one, fomm's network step makes {faithful} new frames a second at full "
        f"fidelity with 2 cores (the fast modes: {fast}); for real time without a local NVIDIA GPU, "
        "the remote worker is coming (issue #18)"
    )


def check_cpu_features() -> Check:
    cpu = cpu_features()
    return Check("cpu", Status.OK, f"{cpu.model}: {cpu.summary()}")


def check_fomm_runtime() -> Check:
    """The backend and precision the fomm engine will use by default, and why."""
    try:
        from avatarify_app.engines.fomm.runtime import choose_runtime, openvino_devices
        from avatarify_app.engines.fomm.runtime.precision import (
            FAST_PLANS,
            auto_plan,
            fidelity_note,
            offered_precisions,
        )
    except ImportError as exc:
        return Check("fomm runtime", Status.WARN, f"the fomm engine cannot be imported ({exc})")
    choice = choose_runtime()
    cpu = cpu_features()
    speed = f"; {fomm_cpu_speed(cpu)}" if choice.device.lower() == "cpu" else ""
    if choice.backend == "torch":
        detail = (
            f"{choice.why}, {choice.precision}"
            + (" with CUDA graphs" if choice.device == "cuda" else "")
            + speed
        )
        status = Status.OK if choice.device != "cpu" else Status.WARN
        fix = "" if choice.device != "cpu" else "pip install openvino (the fast CPU runtime)"
        return Check("fomm runtime", status, detail, fix)
    gpu = (
        "; OpenVINO also lists an Intel GPU (FommEngine(device='gpu'); untested, never chosen automatically)"
        if "GPU" in openvino_devices()
        else ""
    )
    offered = offered_precisions()
    plan = auto_plan(offered)
    why = (
        "the fastest plan measured faithful on this kind of CPU"
        if plan.name != "fp32"
        else "nothing faster was measured faithful (within 0.25 px and 40 dB of fp32) on this kind of CPU"
    )
    fast = "; ".join(
        f"--precision {name}: {fidelity_note(name)}"
        for name in ("bf16", "int8")
        if all(v in offered for v in FAST_PLANS[name].values())
    )
    return Check(
        "fomm runtime",
        Status.OK,
        f"{choice.why}, auto = {plan.name} ({why}); OpenVINO runs {', '.join(offered) or 'fp32'} natively "
        f"here; {fast}{gpu}{speed}",
    )
