"""Command line: ``avatarify`` opens the GUI; sub-commands run headless jobs.

Every sub-command lives in its own module of this package with ``register(subparsers)``, which adds
its parser and sets ``func(args) -> int``. Errors meant for users (``AvatarifyError``) become one line
on stderr and exit status 2; anything unexpected is logged with its traceback to the log file and the
user is told where that file is.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from avatarify_app import __version__
from avatarify_app.errors import AvatarifyError

logger = logging.getLogger(__name__)

# Sub-command modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("gui", "render", "live", "doctor", "models")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def log_path() -> Path:
    """Where the app writes its log (a file per user, overwritten by each run)."""
    return Path(tempfile.gettempdir()) / "avatarify-app.log"


def _tune_runtime() -> None:
    """Settings native libraries read once, at import: set before torch or MediaPipe loads."""
    # MediaPipe's C++ side writes INFO lines to stderr unless told otherwise.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # OpenCV warns on stderr for every camera index it cannot open; the app says so in its own words.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
    os.environ.setdefault("OPENCV_VIDEOIO_PRIORITY_OBSENSOR", "0")  # depth-camera probing we never use


def _setup_logging(verbose: bool) -> None:
    handlers: list[logging.Handler] = []
    # A read-only temp dir must not stop the app; the console handler still works.
    with contextlib.suppress(OSError):
        handlers.append(logging.FileHandler(log_path(), mode="w", encoding="utf-8"))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:  # tracebacks go to the log file; the console gets one line from main()
        console.addFilter(lambda record: record.exc_info is None)
    handlers.append(console)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avatarify",
        description="Animate a portrait with your face in real time. With no command, opens the app window.",
    )
    parser.add_argument("--version", action="version", version=f"avatarify-app {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to the console")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"avatarify_app.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _tune_runtime()
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.command is None:
        args = parser.parse_args([*argv, "gui"])
    try:
        return int(args.func(args))
    except AvatarifyError as exc:
        logger.info("stopped: %s", exc)
        print(f"avatarify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("avatarify: interrupted", file=sys.stderr)
        return 130
    except Exception:
        logger.exception("unexpected error")
        print(f"avatarify: unexpected error; details are in {log_path()}", file=sys.stderr)
        return EXIT_FAILED
