"""Command line: ``avatarify`` opens the GUI; sub-commands run headless jobs.

Every sub-command lives in its own module of this package with ``register(subparsers)``, which adds
its parser and sets ``func(args) -> int``. Errors meant for users (``AvatarifyError``) become one line
on stderr and exit status 2; anything unexpected is logged with its traceback to this run's log file
and the user is told where that file is.

Logs: one file per run, ``avatarify-<date>-<time>-<pid>.log`` in the user's log folder
(``config.user_log_dir()``: ``$XDG_STATE_HOME/avatarify/log`` on Linux); only the newest ``LOGS_KEPT``
are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from avatarify_app import __version__
from avatarify_app.cli.stopping import Interrupted, stop_on_signals
from avatarify_app.config import user_log_dir
from avatarify_app.errors import AvatarifyError

logger = logging.getLogger(__name__)


EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Log files kept in the logs folder (this run's included); older ones are deleted at start.
LOGS_KEPT = 10

_run_log: Path | None = None  # this run's log file, once logging is set up


def log_path() -> Path:
    """This run's log file (the one the messages name)."""
    return _run_log if _run_log is not None else _new_log_path(user_log_dir())


def _new_log_path(folder: Path) -> Path:
    """A name no other run uses: the start time and the process id (a counter when one process
    starts several runs within a second, as tests do)."""
    stem = f"avatarify-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path, n = folder / f"{stem}.log", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.log"
    return path


def _open_run_log() -> logging.FileHandler | None:
    """Create this run's log file (in the log folder, else the temp folder) after deleting all but
    the newest ``LOGS_KEPT - 1`` old ones. None when no folder can be written."""
    global _run_log
    for folder in (user_log_dir(), Path(tempfile.gettempdir()) / "avatarify-app-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _prune_logs(folder, keep=LOGS_KEPT - 1)
            path = _new_log_path(folder)
            handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        except OSError:
            continue
        _run_log = path
        return handler
    _run_log = None
    return None


def _prune_logs(folder: Path, keep: int) -> None:
    logs = sorted(folder.glob("avatarify-*.log"), key=_mtime, reverse=True)
    for old in logs[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _tune_runtime() -> None:
    """Settings native libraries read once, at import: set before torch or MediaPipe loads."""
    # MediaPipe's C++ side writes INFO lines to stderr unless told otherwise.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # OpenCV warns on stderr for every camera index it cannot open; the app says so in its own words.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
    # ... and its FFmpeg prints a line per damaged packet of a broken video ("error while decoding MB").
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_VIDEOIO_PRIORITY_OBSENSOR", "0")  # depth-camera probing we never use


def _setup_logging(verbose: bool) -> None:
    handlers: list[logging.Handler] = []
    # A read-only home and temp folder must not stop the app; the console handler still works.
    if (file_handler := _open_run_log()) is not None:
        handlers.append(file_handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:  # tracebacks go to the log file; the console gets one line from main()
        console.addFilter(lambda record: record.exc_info is None)
        # Libraries' Python warnings (torch's about a foreign checkpoint...) go to the log file only.
        console.addFilter(lambda record: record.name != "py.warnings")
    logging.captureWarnings(True)
    handlers.append(console)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is one ``--help`` away, not repeated)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="avatarify",
        description="Animate a portrait with your face in real time. With no command, opens the app window.",
    )
    parser.add_argument("--version", action="version", version=f"avatarify-app {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to the console")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Imported here, not at the top: each sub-command module imports this package (log_path, exits).
    from avatarify_app.cli import doctor, gui, live, models, render, repair, serve

    # In the order ``--help`` lists them.
    for command in (gui, render, live, serve, doctor, models, repair):
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _tune_runtime()
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.command is None:
        args = parser.parse_args([*argv, "gui"])
    logger.info("avatarify-app %s: %s", __version__, " ".join(argv))
    try:
        if args.command == "gui":  # Qt runs its own event loop; the window handles closing
            return int(args.func(args))
        with stop_on_signals():  # SIGTERM and SIGHUP stop a command the way Ctrl+C does
            return int(args.func(args))
    except AvatarifyError as exc:
        logger.info("stopped: %s", exc)
        print(f"avatarify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else 2
        logger.info("interrupted by signal %d", signum)
        print("avatarify: interrupted", file=sys.stderr)
        return 128 + signum
    except Exception:
        logger.exception("unexpected error")
        where = f"details are in {log_path()}" if _run_log is not None else "run again with -v for details"
        print(f"avatarify: unexpected error; {where}", file=sys.stderr)
        return EXIT_FAILED
