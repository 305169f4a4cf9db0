"""Argument checks shared by the sub-commands: numbers are checked when the command line is parsed,
output paths before anything is opened.

A bad value stops the command before anything starts, with a one-line message (exit 2).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from avatarify_app.config import FOMM_BACKENDS, FOMM_PRECISIONS, STRENGTH_RANGE
from avatarify_app.errors import InputError


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite float in ``[low, high]``.

    ``nan``, ``inf`` and values outside the range are refused with a message that gives the range.
    """

    def parse(text: str) -> float:
        value = _number(text)
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low:g} to {high:g}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type`` accepting a finite float above zero (durations, rates)."""
    value = _number(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number above 0")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def non_negative_int(text: str) -> int:
    """An argparse ``type`` accepting a whole number from 0 up (frame numbers)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


def check_output(out: Path, option: str, inputs: dict[str, Path | None]) -> None:
    """Refuse an output that would destroy something: raises ``InputError`` (one line, exit 2) before
    anything is opened or written.

    ``out`` must end in ``.mp4`` (the writer makes MP4 whatever the name says), must not be a folder,
    and must not be one of the command's inputs (``inputs``: option name -> path), compared by the
    resolved path and, where both exist, by ``os.path.samefile`` (hard links, bind mounts).
    """
    if out.suffix.lower() != ".mp4":
        hint = out.with_name(out.name + ".mp4") if not out.suffix else out.with_suffix(".mp4")
        raise InputError(f"{out}: {option} writes an MP4 video; give a name ending in .mp4, e.g. {hint}")
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give {option} a file name ending in .mp4")
    for name, path in inputs.items():
        if path is not None and _same_file(out, path):
            raise InputError(
                f"{out}: {option} names the same file as {name}, which would be overwritten; "
                "choose another output name"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:  # unreadable or looping links: judge by the names
        return os.path.abspath(a) == os.path.abspath(b)


REGIONS = (("eyes", "lids, brows, gaze"), ("mouth", "lips, jaw, cheeks"), ("head", "position, size, roll"))


def add_region_options(parser: argparse.ArgumentParser) -> None:
    """``--eyes S --mouth S --head S``: how much of each region the avatar copies, 0 to 2 (default 1)."""
    group = parser.add_argument_group(
        "regions",
        "how much of each region the avatar copies: 0 = keep "
        "the avatar's neutral state, 1 = as the driver (default), 2 = double",
    )
    for name, parts in REGIONS:
        group.add_argument(
            f"--{name}", type=bounded_float(*STRENGTH_RANGE), default=1.0, metavar="S", help=parts
        )


def add_fomm_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--precision`` for the fomm engine (see docs/fomm.md)."""
    parser.add_argument(
        "--backend",
        choices=FOMM_BACKENDS,
        default="auto",
        help="fomm runtime: auto (CUDA if present, else OpenVINO on the CPU), torch or openvino",
    )
    parser.add_argument(
        "--precision",
        choices=FOMM_PRECISIONS,
        default="auto",
        help="fomm precision: auto (faithful to fp32: fp32, or the decoder in bf16 on CPUs with bf16; fp16 "
        "on a GPU), fp32, fp16 (GPU), bf16 or int8 (faster on a CPU, less faithful: docs/fomm.md)",
    )
