"""``avatarify render``: animate an avatar with a driving video (or the demo motion) into an MP4."""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

from avatarify_app.avatars import default_avatar, load_image
from avatarify_app.cli.options import (
    add_engine_arguments,
    check_output,
    engine_choice,
    engine_files,
    engine_options,
    non_negative_int,
)
from avatarify_app.cli.stopping import Interrupted
from avatarify_app.config import OutputFraming
from avatarify_app.errors import DiskFullError, OutputError
from avatarify_app.pipeline.engine_setup import open_engine
from avatarify_app.pipeline.rendering import Driving, render_clip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="animate an avatar with a driving video (or the demo motion) into an MP4 file",
        description="Animate an avatar with a driving video, or with the built-in demo motion, into an MP4 "
        "file with the driver's frame rate, frame count and sound.",
    )
    parser.add_argument("--avatar", type=Path, help="avatar image (default: a bundled portrait)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--driving", type=Path, help="driving video with a face")
    source.add_argument("--demo", action="store_true", help="use the built-in demo motion")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output MP4 file (must end in .mp4 and differ from every input; an existing file is "
        "replaced only once the new one is complete)",
    )
    parser.add_argument("--size", type=int, choices=(256, 512), default=512, help="square output side")
    parser.add_argument(
        "--full", action="store_true", help="output the avatar's whole image with the face animated in place"
    )
    parser.add_argument(
        "--neutral-frame",
        type=non_negative_int,
        metavar="N",
        help="driving frame with the neutral pose, counted from 0 (default: first face)",
    )
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    avatar_path = args.avatar or default_avatar()
    check_output(
        args.out, "--out", {"--driving": args.driving, "--avatar": avatar_path, **engine_files(args)}
    )
    choice = engine_choice(args)
    driving = Driving.demo() if args.demo else Driving.from_file(args.driving)
    avatar = load_image(avatar_path)
    framing = OutputFraming.FULL if args.full else OutputFraming.SQUARE
    options = engine_options(args, size=args.size, framing=framing)
    engine = open_engine(choice, options, progress=_say, offline=True)
    started = time.time()
    progress = _ProgressBar()
    try:
        engine.set_avatar(avatar)
        report = render_clip(engine, driving, args.out, neutral_frame=args.neutral_frame, progress=progress)
        runs_on = engine.device_name  # while it is open (a remote engine says its worker)
    except Interrupted as exc:
        progress.stop()
        where = _left_behind(args.out, started, progress.done)
        print(f"avatarify: render stopped by {exc} {_done(progress.done, driving)}; {where}", file=sys.stderr)
        return 128 + exc.signum
    except DiskFullError as exc:
        progress.stop()
        # Said by the render itself: how far it got and what is on disk (the writer's words are
        # about a file it was writing, not about what a render leaves behind).
        raise OutputError(
            f"{args.out}: no room left for the output ({exc.reason}); the render stopped "
            f"{_done(progress.done, driving)}; {_kept(args.out, exc.kept, progress.done)}",
            kept=exc.kept,
        ) from exc
    finally:
        engine.close()
    lost = (
        f", face lost in {report.frames_without_face} (kept the last output)"
        if report.frames_without_face
        else ""
    )
    sound = "with sound" if report.has_audio else "no sound"
    short = (
        f"; the driving clip stopped decoding after {report.frames} of its {driving.length} frames "
        "(is the file damaged?)"
        if report.frames < 0.9 * driving.length
        else ""
    )
    print(f"wrote {args.out}: {report.frames} frames at {report.fps:.3g} fps, {sound}{lost}{short}")
    fps = report.frames / max(report.loop_s, 1e-6)
    print(
        f"frame loop: {report.frames} frames in {report.loop_s:.1f} s, {fps:.1f} frames/s "
        + f"({choice.name} on {runs_on})"
    )
    return 0


def _done(frames: int, driving: Driving) -> str:
    return f"after {frames} of {driving.length} frames" if frames else "before the first frame"


def _left_behind(out: Path, since: float, frames: int) -> str:
    """What a render stopped by a signal left, as the files show it: the writer keeps an incomplete
    file under a name that says so (or the output's own name), or removes it. (A write error says it
    itself: ``OutputError.kept``.)"""
    kept = None
    for path in [out, *sorted(out.parent.glob(f"{glob.escape(out.stem)}*partial*"))]:
        try:
            if path.is_file() and path.stat().st_mtime >= since - 1.0:
                kept = path
                break
        except OSError:
            continue
    return _kept(out, kept, frames)


def _kept(out: Path, kept: Path | None, frames: int) -> str:
    """What a render that stopped early left: ``kept``, the incomplete file the writer kept, or
    nothing (``out`` is as it was)."""
    if kept is not None:
        if frames == 0:
            return f"{kept} holds no frames (delete it)"
        return f"the frames rendered so far are in {kept} (incomplete)"
    unchanged = " (the file that was there is unchanged)" if out.exists() else ""
    return f"nothing was written to {out}{unchanged}"


def _say(text: str) -> None:
    """Progress sentences from the engine (the first use of a checkpoint prepares the model)."""
    print(f"avatarify: {text}", file=sys.stderr, flush=True)


class _ProgressBar:
    """A one-line progress bar on a terminal's stderr, redrawn at most ten times a second."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self._started = time.monotonic()
        self._drawn = 0.0
        self._open = False  # a bar is on the terminal's last line
        self.done = 0

    def stop(self) -> None:
        """End the bar's line (before another message)."""
        if self._open:
            sys.stderr.write("\n")
            self._open = False

    def __call__(self, done: int, total: int) -> None:
        self.done = done
        now = time.monotonic()
        if not sys.stderr.isatty() or (done < total and now - self._drawn < 0.1):
            return
        self._drawn = now
        filled = self.width * done // max(total, 1)
        rate = done / max(now - self._started, 1e-6)
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\rrendering [{bar}] {done}/{total} frames, {rate:.1f} frames/s")
        self._open = True
        if done >= total:
            self.stop()
        sys.stderr.flush()
