"""``avatarify gui`` (also ``avatarify`` with no command): the desktop window."""

from __future__ import annotations

import argparse
from pathlib import Path

from avatarify_app.cli.options import non_negative_int, positive_float
from avatarify_app.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the app window (the default)")
    parser.add_argument(
        "--demo", action="store_true", help="drive the avatar with the demo motion instead of the camera"
    )
    parser.add_argument("--avatar", type=Path, help="start with this avatar image")
    parser.add_argument(
        "--no-virtual-camera",
        dest="virtual_camera",
        action="store_const",
        const=False,
        default=None,
        help="start with the virtual camera off",
    )
    # For tests and tools/screenshot.py: keep settings in an ini file, capture the window, quit.
    parser.add_argument("--settings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--screenshot-frames", type=non_negative_int, default=30, help=argparse.SUPPRESS)
    parser.add_argument("--quit-after", type=positive_float, metavar="S", help=argparse.SUPPRESS)
    parser.add_argument("--window-size", type=_window_size, metavar="WxH|min", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _window_size(text: str) -> str:
    width, _, height = text.partition("x")
    if text != "min" and not (width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT (or min)")
    return text


def run(args: argparse.Namespace) -> int:
    """Open the window; raises ``DeviceError`` (one line, exit 2) when there is no display."""
    from avatarify_app.cli import log_path
    from avatarify_app.gui.app import GuiOptions, require_display

    require_display()  # before the heavy imports: the message must come quickly
    if args.avatar is not None and not args.avatar.is_file():
        raise InputError(f"{args.avatar}: no such image file")
    from avatarify_app.gui.app import run_gui

    options = GuiOptions(
        settings_file=args.settings,
        window_size=args.window_size,
        screenshot=args.screenshot,
        screenshot_after_frames=args.screenshot_frames,
        quit_after_s=args.quit_after,
        demo=args.demo,
        virtual_camera=args.virtual_camera,
        avatar=args.avatar,
        log_file=log_path(),
    )
    return run_gui(options)
