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


REGIONS = (("eyes", "lids, brows, gaze"), ("mouth", "lips, jaw, cheeks"), ("head", "position, size, roll"))


def add_region_options(parser: argparse.ArgumentParser) -> None:
    """``--eyes S --mouth S --head S``: how much of each region the avatar copies, 0 to 2 (default 1)."""
    group = parser.add_argument_group(
        "regions",
        "how much of each region the avatar copies: 0 = keep "
        "the avatar's neutral state, 1 = as the driver (default), 2 = double",
    )
    for name, parts in REGIONS:
        group.add_argument(f"--{name}", type=bounded_float(0.0, 2.0), default=1.0, metavar="S", help=parts)
