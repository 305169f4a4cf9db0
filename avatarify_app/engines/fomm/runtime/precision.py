"""The precision each OpenVINO part runs at, what ``auto`` means on a CPU, and how faithful each mode is.

The per-frame step has three parts, compiled separately so each can have its own precision
(OpenVINO's per-model ``INFERENCE_PRECISION_HINT``): ``keypoints`` (the keypoint detector on the
driver), ``motion`` (the generator's dense motion network: deformation and occlusion) and ``decoder``
(warp of the avatar's cached features, bottleneck, up blocks). Each runs ``fp32``, ``bf16``, ``fp16``
(hints OpenVINO honours where the CPU has them natively) or ``int8`` (NNCF's quantized IR).

``auto`` is faithful by default: the fastest plan that the bench (``bench/fomm_engine.py``) measured
within 0.25 px of fp32's keypoints and at least 40 dB of fp32's render on a real driving clip, among
those the CPU offers; fp32 where nothing faster qualifies. ``bf16`` and ``int8`` are "fast" modes,
with a fidelity cost ``fidelity_note`` states in plain words (the window and ``avatarify doctor``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

from avatarify_app.engines.fomm.runtime.ov import import_openvino
from avatarify_app.errors import InputError

logger = logging.getLogger(__name__)

STEP_PARTS = ("keypoints", "motion", "decoder")
FLOAT_PRECISIONS = ("fp32", "bf16", "fp16")
PART_PRECISIONS = (*FLOAT_PRECISIONS, "int8")
# OpenVINO's OPTIMIZATION_CAPABILITIES name -> our precision name.
_CAPABILITIES = {"FP32": "fp32", "BF16": "bf16", "FP16": "fp16", "INT8": "int8"}


@dataclass(frozen=True, slots=True)
class PrecisionPlan:
    """The precision of each per-frame part ("fp32", "bf16", "fp16" or "int8")."""

    keypoints: str = "fp32"
    motion: str = "fp32"
    decoder: str = "fp32"

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) not in PART_PRECISIONS:
                raise InputError(
                    f"unknown precision {getattr(self, f.name)!r} for the {f.name}: "
                    f"choose one of {', '.join(PART_PRECISIONS)}"
                )

    @classmethod
    def uniform(cls, precision: str) -> PrecisionPlan:
        return cls(precision, precision, precision)

    @classmethod
    def parse(cls, text: str) -> PrecisionPlan:
        """ "bf16" (every part) or "keypoints=fp32,motion=fp32,decoder=bf16" (parts not named: fp32)."""
        text = text.strip().lower()
        if "=" not in text:
            return cls.uniform(text)
        parts: dict[str, str] = {}
        for item in text.split(","):
            name, _, value = item.partition("=")
            if name.strip() not in STEP_PARTS:
                raise InputError(f"unknown part {name.strip()!r}: the parts are {', '.join(STEP_PARTS)}")
            parts[name.strip()] = value.strip()
        return cls(**parts)

    def of(self, part: str) -> str:
        return str(getattr(self, part))

    @property
    def quantized(self) -> bool:
        return "int8" in self.values()

    def values(self) -> tuple[str, ...]:
        return tuple(self.of(part) for part in STEP_PARTS)

    @property
    def name(self) -> str:
        """ "fp32", or for a mixed plan its lower-precision parts then "+ fp32": "bf16 decoder + fp32"."""
        values = self.values()
        if len(set(values)) == 1:
            return values[0]
        groups: dict[str, list[str]] = {}
        for part, value in zip(STEP_PARTS, values, strict=True):
            groups.setdefault(value, []).append(part)
        lower = [v for v in sorted(groups, key=PART_PRECISIONS.index, reverse=True) if v != "fp32"]
        text = ", ".join(f"{value} {' and '.join(groups[value])}" for value in lower)
        return f"{text} + fp32" if "fp32" in groups else text

    @property
    def spec(self) -> str:
        """The ``parse`` form, e.g. "keypoints=fp32,motion=fp32,decoder=bf16"."""
        return ",".join(f"{part}={self.of(part)}" for part in STEP_PARTS)


FP32 = PrecisionPlan.uniform("fp32")
# The fast modes (``--precision bf16``, ``--precision int8``): what they run, part by part. int8
# quantizes only the decoder: a quantized keypoint detector moves keypoints by pixels, and the
# dense motion's small errors move every pixel of the warp (measured: docs/fomm.md).
FAST_PLANS = {
    "bf16": PrecisionPlan.uniform("bf16"),
    "fp16": PrecisionPlan.uniform("fp16"),
    "int8": PrecisionPlan("fp32", "fp32", "int8"),
}
# ``auto``: the fastest plans measured faithful (within 0.25 px of fp32's keypoints, >= 40 dB of
# fp32's render on the shared driving clip, bench/fomm_engine.py), tried in this order: the first
# whose precisions the CPU runs natively wins; fp32 otherwise. Measured part by part: the keypoint
# detector in bf16 moves keypoints by about 0.9 px (up to 3), the dense motion in bf16 costs the
# picture 36 dB; the decoder (warp, bottleneck, up blocks: most of the step's arithmetic) in bf16
# costs only 53 dB (0 px, 52.9 dB at worst over the 216 frames), so auto runs it alone in bf16.
AUTO_PLANS: tuple[PrecisionPlan, ...] = (PrecisionPlan("fp32", "fp32", "bf16"),)
# Measured fidelity of the fast modes against torch fp32 on a real driving clip (the shared clip, all
# 216 frames, random vox-256 weights drawn as a trained model's, bench/fomm_engine.py on an Intel
# Xeon with AMX; docs/fomm.md): keypoints off by (median, max px at 256), whole-step PSNR (median dB).
MEASURED_FIDELITY: dict[str, tuple[float, float, float]] = {
    "bf16": (0.92, 3.04, 35.4),
    "int8": (0.0, 0.0, 32.2),
}


def offered_precisions(device: str = "CPU") -> tuple[str, ...]:
    """The precisions OpenVINO runs natively on ``device`` here ("fp32", "bf16", "fp16", "int8"), from
    its OPTIMIZATION_CAPABILITIES; empty without OpenVINO."""
    try:
        capabilities = import_openvino().Core().get_property(device, "OPTIMIZATION_CAPABILITIES")
    except Exception as exc:  # not installed, or a device OpenVINO cannot use
        logger.info("OpenVINO capabilities of %s unavailable: %s", device, exc)
        return ()
    return tuple(name for cap, name in _CAPABILITIES.items() if cap in capabilities)


def openvino_device_name(device: str = "CPU") -> str:
    """OpenVINO's name of ``device`` ("Intel(R) Xeon(R) Processor"), "" when it does not say."""
    try:
        return str(import_openvino().Core().get_property(device, "FULL_DEVICE_NAME"))
    except Exception as exc:  # not installed, or a device OpenVINO cannot use
        logger.info("OpenVINO's name of %s unavailable: %s", device, exc)
        return ""


def auto_plan(offered: tuple[str, ...]) -> PrecisionPlan:
    """What ``auto`` runs where OpenVINO offers ``offered`` (``offered_precisions``)."""
    for plan in AUTO_PLANS:
        if all(value in offered for value in plan.values()):
            return plan
    return FP32


def resolve_plan(precision: str, offered: tuple[str, ...]) -> PrecisionPlan:
    """The plan ``precision`` ("auto", "fp32", "bf16", "fp16", "int8" or a per-part spec) names."""
    precision = precision.strip().lower()
    if precision == "auto":
        return auto_plan(offered)
    if precision in FAST_PLANS:
        return FAST_PLANS[precision]
    return PrecisionPlan.parse(precision)


def fidelity_note(precision: str) -> str:
    """How far a mode is from fp32, in plain words, for the window's quality menu and ``doctor``."""
    if precision in ("auto", "fp32"):
        return (
            "as faithful as the reference (fp32)"
            if precision == "fp32"
            else ("faithful: within a quarter pixel of fp32's keypoints and 40 dB of its picture")
        )
    measured = MEASURED_FIDELITY.get(precision)
    if measured is None:
        return "faster; its cost in fidelity has not been measured"
    median_px, max_px, db = measured
    keypoints = (
        f"keypoints off by about {median_px:.1f} px (up to {max_px:.1f}), so expressions shift a little"
        if median_px >= 0.05
        else "keypoints as fp32's"
    )
    return (
        f"faster, less faithful: {keypoints}; picture {db:.0f} dB from fp32's (visibly not the same render)"
    )


def quality_label(precision: str) -> str:
    """The window's Speed / quality menu entry for ``precision`` ("auto", "fp32", "bf16", "int8")."""
    if precision == "auto":
        return "Automatic (faithful)"
    if precision == "fp32":
        return "Best quality (fp32)"
    measured = MEASURED_FIDELITY.get(precision)
    if measured is None:
        return f"Fast ({precision}, less faithful)"
    median_px, _, db = measured
    cost = (
        f"keypoints off ~{median_px:.1f} px, {db:.0f} dB" if median_px >= 0.05 else f"{db:.0f} dB from fp32"
    )
    return f"Fast ({precision}: {cost})"


def quality_menu(offered: tuple[str, ...] | None = None) -> dict[str, str]:
    """precision -> menu label, for the precisions this CPU runs natively (``offered_precisions``;
    int8 runs on any x86 CPU), in menu order; the tooltip of each is ``fidelity_note``."""
    offered = offered_precisions() if offered is None else offered
    menu = {"auto": quality_label("auto"), "fp32": quality_label("fp32")}
    for precision in ("bf16", "int8"):
        if precision in offered:
            menu[precision] = quality_label(precision)
    return menu
