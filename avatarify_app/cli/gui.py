"""``avatarify gui`` (also ``avatarify`` with no command): the desktop window."""

from __future__ import annotations

import argparse

from avatarify_app.errors import DeviceError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the app window (the default)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise DeviceError("the window is not built yet: use `avatarify render --demo --out demo.mp4`")
