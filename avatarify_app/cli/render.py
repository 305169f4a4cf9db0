"""``avatarify render``: animate an avatar with a driving video (or the demo motion) into an MP4."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from avatarify_app.avatars import default_avatar, load_image
from avatarify_app.cli.options import add_fomm_runtime_arguments
from avatarify_app.engines import DEFAULT_ENGINE, ENGINE_NAMES, EngineOptions, OutputFraming, create_engine
from avatarify_app.modelstore import converted_models_dir, fomm_files
from avatarify_app.rendering import Driving, render_clip


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
    parser.add_argument("--out", type=Path, required=True, help="output MP4 file")
    parser.add_argument("--engine", choices=ENGINE_NAMES, default=DEFAULT_ENGINE, help="default: %(default)s")
    parser.add_argument("--checkpoint", type=Path, help="FOMM checkpoint (fomm engine)")
    parser.add_argument("--config", type=Path, help="FOMM model config YAML (fomm engine)")
    add_fomm_runtime_arguments(parser)
    parser.add_argument("--size", type=int, choices=(256, 512), default=512, help="square output side")
    parser.add_argument(
        "--full", action="store_true", help="output the avatar's whole image with the face animated in place"
    )
    parser.add_argument(
        "--neutral-frame",
        type=int,
        metavar="N",
        help="driving frame with the neutral pose (default: first face)",
    )
    parser.add_argument("--strength", type=float, default=1.0, help="expression strength (default: 1.0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    driving = Driving.demo() if args.demo else Driving.from_file(args.driving)
    avatar_path = args.avatar or default_avatar()
    avatar = load_image(avatar_path)
    framing = OutputFraming.FULL if args.full else OutputFraming.SQUARE
    options = EngineOptions(size=args.size, framing=framing, strength=args.strength)
    checkpoint, config = fomm_files(args.checkpoint, args.config) if args.engine == "fomm" else (None, None)
    engine = create_engine(
        args.engine,
        options,
        checkpoint=checkpoint,
        config=config,
        backend=args.backend,
        precision=args.precision,
        cache_dir=converted_models_dir(),
        progress=_say,
    )
    try:
        engine.set_avatar(avatar)
        started = time.monotonic()
        report = render_clip(
            engine, driving, args.out, neutral_frame=args.neutral_frame, progress=_ProgressBar()
        )
    finally:
        engine.close()
    elapsed = time.monotonic() - started
    lost = (
        f", face lost in {report.frames_without_face} (kept the last output)"
        if report.frames_without_face
        else ""
    )
    sound = "with sound" if report.has_audio else "no sound"
    runs = getattr(engine, "device_name", None)
    print(f"wrote {args.out}: {report.frames} frames at {report.fps:.3g} fps, {sound}{lost}")
    print(
        f"frame loop: {report.frames} frames in {elapsed:.1f} s, {report.frames / max(elapsed, 1e-6):.1f} fps"
        + (f" ({args.engine} on {runs})" if runs else f" ({args.engine})")
    )
    return 0


def _say(text: str) -> None:
    """Progress sentences from the engine (the first use of a checkpoint prepares the model)."""
    print(f"avatarify: {text}", file=sys.stderr, flush=True)


class _ProgressBar:
    """A one-line progress bar on a terminal's stderr, redrawn at most ten times a second."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self._started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not sys.stderr.isatty() or (done < total and now - self._drawn < 0.1):
            return
        self._drawn = now
        filled = self.width * done // max(total, 1)
        rate = done / max(now - self._started, 1e-6)
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\rrendering [{bar}] {done}/{total} frames, {rate:.1f} frames/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
