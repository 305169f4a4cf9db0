"""Argument checks shared by the sub-commands: numbers are checked when the command line is parsed,
output paths before anything is opened.

A bad value stops the command before anything starts, with a one-line message (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

from avatarify_app.config import REGIONS, STRENGTH_RANGE, EngineOptions, OutputFraming
from avatarify_app.errors import InputError
from avatarify_app.pipeline.engine_setup import (
    DEFAULT_ENGINE,
    EngineChoice,
    EngineInfo,
    choice_fields,
    entries,
    get,
    make_choice,
)


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


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The engine flags ``live`` and ``render`` share, all from the engine catalog: ``--engine``, each
    engine's own options (its choice record's fields, e.g. fomm's ``--checkpoint``), ``--strength``
    and the region strengths ``--eyes --mouth --head``. ``engine_choice`` and ``engine_options`` read
    them back."""
    add_engine_choice_arguments(parser, entries(), DEFAULT_ENGINE)
    parser.add_argument(
        "--strength",
        type=bounded_float(*STRENGTH_RANGE),
        default=1.0,
        metavar="S",
        help=f"expression strength, 0 (none) to {STRENGTH_RANGE[1]:g} (exaggerated); 1 = as the driver "
        "(default: 1.0)",
    )
    regions = parser.add_argument_group(
        "regions",
        "how much of each region the avatar copies: 0 = keep "
        "the avatar's neutral state, 1 = as the driver (default), 2 = double",
    )
    for region in REGIONS:
        regions.add_argument(
            f"--{region.name}",
            type=bounded_float(*STRENGTH_RANGE),
            default=1.0,
            metavar="S",
            help=region.parts,
        )


def add_engine_choice_arguments(
    parser: argparse.ArgumentParser, engines: tuple[EngineInfo, ...], default: str
) -> None:
    """``--engine`` (one of ``engines``; ``default`` when no flag picks one) and each of those engines'
    own options, from their choice records' fields (``engine_choice`` reads them back)."""
    parser.add_argument(
        "--engine",
        choices=[info.name for info in engines],
        default=None,
        help="; ".join(f"{info.name}: {_escape(info.tip)}" for info in engines) + f" (default: {default})",
    )
    parser.set_defaults(default_engine=default)
    group = parser.add_argument_group("engine options", "each applies to the engines it names")
    fields: dict[str, list[dataclasses.Field]] = {}  # flag -> the fields (one per engine) it sets
    for info in engines:
        for f in choice_fields(info.choice):
            if (flag := f.metadata.get("flag")) is not None:
                fields.setdefault(flag, []).append(f)
    for flag, same in fields.items():
        first = same[0]
        if {f.name for f in same} != {first.name} or len({str(f.type) for f in same}) > 1:
            raise ValueError(f"{flag} stands for different fields: {', '.join(f.name for f in same)}")
        helps = []
        for f in same:
            shown = f.default not in (None, dataclasses.MISSING, (), False, True)
            helps.append(f.metadata["help"] + (f" (default: {f.default})" if shown else ""))
        common = {"dest": first.name, "default": None, "help": _escape("; ".join(helps))}
        kind = str(first.type)
        if "bool" in kind:  # a flag without a value turns the default over (--no-stitching)
            group.add_argument(flag, action="store_const", const=not first.default, **common)
            continue
        choices = [c for f in same for c in (f.metadata.get("choices") or ())]
        group.add_argument(
            flag,
            action="append" if "tuple" in kind else "store",
            type=Path if "Path" in kind else str,
            choices=list(dict.fromkeys(choices)) or None,
            metavar=first.metadata.get("metavar"),
            **common,
        )


def engine_choice(args: argparse.Namespace) -> EngineChoice:
    """The engine choice the command line asks for (``add_engine_choice_arguments``): ``--engine``, or
    the engine a flag of its own picks (``--remote``), or the default; ``InputError`` for a value the
    chosen engine does not take."""
    name = args.engine or next(
        (info.name for info in entries() if info.selected_by and getattr(args, info.selected_by, None)),
        args.default_engine,
    )
    fields = choice_fields(get(name).choice)
    return make_choice(name, {f.name: getattr(args, f.name, None) for f in fields})


def engine_options(
    args: argparse.Namespace, *, size: int = 512, framing: OutputFraming = OutputFraming.SQUARE
) -> EngineOptions:
    """The strengths the command line asks for (``add_engine_arguments``), with ``size`` and ``framing``."""
    regions = {region.name: getattr(args, region.name) for region in REGIONS}
    return EngineOptions(size=size, framing=framing, strength=args.strength, **regions)


def engine_files(args: argparse.Namespace) -> dict[str, Path | None]:
    """The files the command line names for the engine (flag -> path), so an output can be checked
    against them (``check_output``)."""
    files: dict[str, Path | None] = {}
    for info in entries():
        for f in choice_fields(info.choice):
            if "Path" in str(f.type) and f.metadata.get("flag"):
                files[f.metadata["flag"]] = getattr(args, f.name, None)
    return files


def _escape(text: str) -> str:
    """``text`` for an argparse help string, which formats with ``%``."""
    return text.replace("%", "%%")
