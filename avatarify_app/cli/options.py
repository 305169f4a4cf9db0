"""Argument types shared by the sub-commands: numbers are checked when the command line is parsed.

A bad value stops the command before anything starts, with argparse's one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite float in ``[low, high]``.

    ``nan``, ``inf`` and values outside the range are refused with a message that gives the range.
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low:g} to {high:g}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type`` accepting a finite float above zero (durations, rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number above 0")
    return value


def add_fomm_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--precision`` for the fomm engine (see docs/fomm.md)."""
    from avatarify_app.engines import FOMM_BACKENDS, FOMM_PRECISIONS

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
        help="fomm precision: auto (the hardware's native one), fp32, fp16 (GPU), bf16, int8 (fastest on "
        "a CPU)",
    )
