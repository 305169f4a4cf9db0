"""``avatarify repair``: turn recordings and renders cut short (a crash, a kill, a full disk) into
regular MP4 files that every player reads the same way."""

from __future__ import annotations

import argparse
from pathlib import Path

from avatarify_app.errors import InputError
from avatarify_app.outputs.repair import repair, repair_abandoned


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "repair",
        help="make a recording or render cut short (NAME.xxxxxxxx.partial.mp4) a regular MP4",
        description="Copy a file cut short by a crash, a kill or a full disk (NAME.xxxxxxxx.partial.mp4), "
        "or any MP4 that a player misreads, into a regular MP4 beside it: 'NAME (incomplete).mp4' "
        "(or 'NAME (repaired).mp4'). Nothing is re-encoded and no existing file is overwritten; the "
        "partial file is removed once copied. Without FILE, repairs every file the app was writing "
        "when it stopped unexpectedly.",
    )
    parser.add_argument("file", type=Path, nargs="?", metavar="FILE", help="the file to repair")
    parser.add_argument("--out", type=Path, metavar="OUT.mp4", help="where to write the repaired file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.file is None:
        if args.out is not None:
            raise InputError("--out needs a FILE to repair")
        outcomes = repair_abandoned()
        if not outcomes:
            print("nothing to repair: no recording or render was cut short")
        for outcome in outcomes:
            print(outcome.sentence())
        return 1 if any(outcome.error for outcome in outcomes) else 0
    repaired = repair(args.file, out=args.out)
    print(f"repaired {args.file}: {repaired.sentence()}")
    return 0
