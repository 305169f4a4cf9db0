"""``avatarify doctor``: check this computer and say what to fix.

Exit status 0 when the app can run (warnings only), 1 when something blocks it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from pathlib import Path

from avatarify_app import __version__
from avatarify_app.diagnostics.doctor import Check, Status, blocking, run_checks

EXIT_OK, EXIT_BLOCKED = 0, 1
_MIN_NAME_WIDTH = 16


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check cameras, virtual camera, GPU, models; say what to fix",
        description="Check what the app needs on this computer and print what to fix. Exit status 1 when "
        "something blocks the app, 0 otherwise (warnings only limit it).",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="checkpoint folder (default: $AVATARIFY_MODELS_DIR or models/)",
    )
    parser.add_argument(
        "--no-devices", action="store_true", help="do not open the cameras and the virtual camera"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.models_dir, probe_devices=not args.no_devices)
    failed = blocking(checks)
    if args.json:
        report = {"version": __version__, "ok": not failed, "checks": [c.as_dict() for c in checks]}
        print(json.dumps(report, indent=2))
    else:
        print(format_report(checks, shutil.get_terminal_size((100, 24)).columns))
    return EXIT_BLOCKED if failed else EXIT_OK


def format_report(checks: list[Check], width: int = 100) -> str:
    """The human-readable report: one block per check, its fix indented under it, then a summary."""
    width = max(width, 60)
    name_width = max([_MIN_NAME_WIDTH, *(len(c.name) + 2 for c in checks)])
    indent = " " * (6 + name_width)
    lines = [f"avatarify-app {__version__}: doctor", ""]
    for check in checks:
        head = f"{check.status.value:<6}{check.name:<{name_width}}"
        lines.append(_wrap(check.detail, width, head, indent))
        if check.fix:
            lines.append(_wrap(f"fix: {check.fix}", width, indent, indent))
    counts = {status: sum(c.status is status for c in checks) for status in Status}
    lines.append("")
    summary = f"{counts[Status.OK]} ok, {counts[Status.WARN]} warnings, {counts[Status.FAIL]} failures: "
    if counts[Status.FAIL]:
        summary += "the app cannot run until the failures are fixed."
    elif counts[Status.WARN]:
        summary += "the app can run; the warnings say what it cannot do here."
    else:
        summary += "everything the app uses works."
    lines.append(summary)
    return "\n".join(lines)


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    # Commands and licence names keep their hyphens on one line.
    return textwrap.fill(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )
