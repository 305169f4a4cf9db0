"""``avatarify live``: live mode without the window, printing the live figures once a second."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

from avatarify_app.cli.options import (
    add_engine_arguments,
    check_output,
    engine_choice,
    engine_files,
    engine_options,
    non_negative_int,
    positive_float,
)
from avatarify_app.cli.stopping import stop_on_signals
from avatarify_app.config import SourceSpec, VirtualCameraSettings
from avatarify_app.errors import InputError
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import (
    AvatarChanged,
    Event,
    FramesReady,
    MessagePosted,
    MetricsUpdated,
    RecordingChanged,
)
from avatarify_app.pipeline.settings import LiveSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live",
        help="run live mode without the window: camera -> avatar -> virtual camera (and recording)",
        description="Animate an avatar with your webcam (or a video file, or the demo motion) and send it "
        "to the virtual camera, printing the live figures once a second. Ctrl+C, SIGTERM or SIGHUP stop it "
        "and finish the recording. Exits with status 2 when the input, avatar or engine cannot be used.",
    )
    parser.add_argument("--avatar", type=Path, help="avatar image (default: a bundled portrait)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--camera", type=non_negative_int, default=0, metavar="N", help="webcam number (default: 0)"
    )
    source.add_argument(
        "--video", type=Path, metavar="FILE", help="play a video file as the camera (looping)"
    )
    source.add_argument("--demo", action="store_true", help="use the built-in demo motion as the camera")
    add_engine_arguments(parser)
    parser.add_argument("--no-virtual-camera", action="store_true", help="do not open the virtual camera")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="OUT.mp4",
        help="record the output and the microphone (an .mp4 name that is not one of the inputs)",
    )
    parser.add_argument(
        "--microphone",
        metavar="DEVICE",
        help="microphone name or number for --record (default: the system's)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        metavar="S",
        help="stop after S seconds (default: until Ctrl+C, SIGTERM or SIGHUP)",
    )
    parser.set_defaults(func=run)


def build_settings(args: argparse.Namespace) -> LiveSettings:
    """Live settings from the command line; raises ``InputError`` for files that do not exist and for
    a recording that would overwrite an input."""
    for path in (args.avatar, args.video):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such file")
    if args.record is not None:
        check_output(
            args.record, "--record", {"--video": args.video, "--avatar": args.avatar, **engine_files(args)}
        )
    if args.demo:
        source = SourceSpec(kind="demo")
    elif args.video is not None:
        source = SourceSpec(kind="video", path=args.video)
    else:
        source = SourceSpec(kind="camera", camera=args.camera)
    microphone: str | int | None = args.microphone
    if isinstance(microphone, str) and microphone.isdigit():
        microphone = int(microphone)
    return LiveSettings(
        source=source,
        avatar=args.avatar,
        engine=engine_choice(args),
        engine_options=engine_options(args),
        virtual_camera=VirtualCameraSettings(enabled=not args.no_virtual_camera),
        microphone=microphone,
    )


def run(args: argparse.Namespace) -> int:
    settings = build_settings(args)
    console = _Console(time.monotonic(), strict_source=settings.source.kind != "camera")
    controller = Controller(settings)
    controller.subscribe(console.on_event)
    stop = console.stop_requested
    deadline = None if args.duration is None else time.monotonic() + args.duration
    # Every stop request (Ctrl+C, SIGTERM, SIGHUP, --duration, a fatal error, stdout closed) ends up
    # here: the main thread waits in short steps, so a signal handled on any thread is seen at once.
    with stop_on_signals(on_stop=console.on_signal):
        try:
            controller.start()
            recording = args.record is None
            while not stop.wait(WAIT_STEP_S):
                if not recording and console.ready:
                    controller.start_recording(args.record)
                    recording = True
                if deadline is not None and time.monotonic() >= deadline:
                    break
        finally:
            controller.stop()
    if console.fatal is not None:
        return 2
    totals = controller.totals()
    if totals is not None:
        console.out(
            f"done: {totals.frames_in} frames in, {totals.frames_out} out ({totals.fresh_out} fresh), "
            f"{totals.dropped_frames} dropped, latency p50 {totals.latency_p50_ms:.0f} ms, "
            f"p95 {totals.latency_p95_ms:.0f} ms"
        )
    return 1 if console.recording_failed else 0


class _Console:
    """Prints metrics lines to stdout and messages to stderr (called on the pipeline's threads), and
    decides when live mode must stop: an error about the engine, the avatar or a stage, or a source
    that cannot be used (any time for a file or the demo; before the first frame for a webcam, which
    is retried when it drops out later) is fatal on the command line, where nobody can pick another.
    """

    def __init__(self, t_start: float, strict_source: bool) -> None:
        self._t_start = t_start
        self._strict_source = strict_source
        self._recording: Path | None = None
        self._recorded_s = 0.0
        self._frames_seen = False
        self.ready = False  # the engine and the avatar are loaded
        self.fatal: str | None = None
        self.recording_failed = False
        self.stop_requested = threading.Event()

    def on_signal(self, signum: int) -> None:
        print(f"stopping ({signal.Signals(signum).name})…", file=sys.stderr, flush=True)
        self.stop_requested.set()

    def on_event(self, event: Event) -> None:
        match event:
            case FramesReady():
                self._frames_seen = True
            case AvatarChanged():
                self.ready = True
            case MetricsUpdated(metrics=m):
                rec = f"  REC {self._recorded_s:4.0f} s" if self._recording is not None else ""
                self.out(
                    f"{time.monotonic() - self._t_start:6.1f} s  in {m.input_fps:4.1f} fps  "
                    f"avatar {m.engine_fps:4.1f} fps  out {m.output_fps:4.1f} fps  "
                    f"inference {m.inference_ms:5.1f} ms  "
                    f"latency p50 {m.latency_p50_ms:4.0f} ms p95 {m.latency_p95_ms:4.0f} ms  "
                    f"dropped {m.dropped_frames}  face {'yes' if m.face_found else 'no '}{rec}"
                )
            case RecordingChanged(path=path, elapsed_s=elapsed):
                self._recording, self._recorded_s = path, elapsed
            case MessagePosted(message=message):
                self._on_message(message)

    def _on_message(self, message: UserMessage) -> None:
        if self.fatal is not None:
            return  # stopping: what follows (fallbacks, shutdown) is noise
        if self._is_fatal(message):
            self.fatal = message.text.removesuffix(" Retrying…")  # the command line does not retry
            if message.key == "camera" and not self._strict_source:  # a webcam that never gave a frame
                self.fatal += " Without a camera, try --demo (the built-in motion) or --video FILE."
            self.ready = False
            print(f"avatarify: {self.fatal}", file=sys.stderr, flush=True)
            self.stop_requested.set()
            return
        if message.level is MessageLevel.ERROR and message.key == "recording":
            self.recording_failed = True
            self.stop_requested.set()
        print(f"avatarify: {message.level.value}: {message.text}", file=sys.stderr, flush=True)

    def _is_fatal(self, message: UserMessage) -> bool:
        if message.key == "camera":
            return message.level is MessageLevel.WARNING and (self._strict_source or not self._frames_seen)
        return message.level is MessageLevel.ERROR and message.key in _FATAL_KEYS

    def out(self, line: str) -> None:
        """A line on stdout; when stdout is gone (``| head``), live mode stops as if asked to."""
        try:
            print(line, flush=True)
        except (BrokenPipeError, ValueError):
            # Nothing reads us any more: point stdout at /dev/null so the exit cannot fail on it.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            self.stop_requested.set()


# Messages about these cannot be fixed without restarting: on the command line they end live mode.
_FATAL_KEYS = frozenset({"engine", "avatar", "capture", "inference", "output"})
# The main thread looks at stop requests this often (seconds).
WAIT_STEP_S = 0.2
