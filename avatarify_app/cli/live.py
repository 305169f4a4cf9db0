"""``avatarify live``: live mode without the window, printing the live figures once a second."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from avatarify_app.cli.options import add_fomm_runtime_arguments
from avatarify_app.config import LiveSettings, SourceSpec, VirtualCameraSettings
from avatarify_app.engines import DEFAULT_ENGINE, ENGINE_NAMES
from avatarify_app.errors import InputError
from avatarify_app.frames import MessageLevel
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import Event, MessagePosted, MetricsUpdated, RecordingChanged


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live",
        help="run live mode without the window: camera -> avatar -> virtual camera (and recording)",
        description="Animate an avatar with your webcam (or a video file, or the demo motion) and send it "
        "to the virtual camera, printing the live figures once a second. Ctrl+C stops.",
    )
    parser.add_argument("--avatar", type=Path, help="avatar image (default: a bundled portrait)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, default=0, metavar="N", help="webcam number (default: 0)")
    source.add_argument(
        "--video", type=Path, metavar="FILE", help="play a video file as the camera (looping)"
    )
    source.add_argument("--demo", action="store_true", help="use the built-in demo motion as the camera")
    parser.add_argument("--engine", choices=ENGINE_NAMES, default=DEFAULT_ENGINE, help="default: %(default)s")
    parser.add_argument("--checkpoint", type=Path, help="FOMM checkpoint (fomm engine)")
    add_fomm_runtime_arguments(parser)
    parser.add_argument("--no-virtual-camera", action="store_true", help="do not open the virtual camera")
    parser.add_argument("--record", type=Path, metavar="OUT.mp4", help="record the output and the microphone")
    parser.add_argument(
        "--microphone",
        metavar="DEVICE",
        help="microphone name or number for --record (default: the system's)",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl+C)")
    parser.set_defaults(func=run)


def build_settings(args: argparse.Namespace) -> LiveSettings:
    """Live settings from the command line; raises ``InputError`` for files that do not exist."""
    for path in (args.avatar, args.video):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such file")
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
        engine=args.engine,
        checkpoint=args.checkpoint,
        backend=args.backend,
        precision=args.precision,
        virtual_camera=VirtualCameraSettings(enabled=not args.no_virtual_camera),
        microphone=microphone,
    )


def run(args: argparse.Namespace) -> int:
    settings = build_settings(args)
    printer = _Printer(time.monotonic())
    controller = Controller(settings)
    controller.subscribe(printer.on_event)
    controller.start()
    try:
        if args.record is not None:
            controller.start_recording(args.record)
        threading.Event().wait(args.duration)  # Ctrl+C interrupts this wait
    except KeyboardInterrupt:
        print("stopping…", file=sys.stderr, flush=True)
    finally:
        controller.stop()
    totals = controller.totals()
    if totals is not None:
        print(
            f"done: {totals.frames_in} frames in, {totals.frames_out} out ({totals.fresh_out} fresh), "
            f"{totals.dropped_frames} dropped, latency p50 {totals.latency_p50_ms:.0f} ms, "
            f"p95 {totals.latency_p95_ms:.0f} ms",
            flush=True,
        )
    return 1 if args.record is not None and printer.recording_failed else 0


class _Printer:
    """Prints metrics lines to stdout and messages to stderr (called on the pipeline's threads)."""

    def __init__(self, t_start: float) -> None:
        self._t_start = t_start
        self._recording: Path | None = None
        self._recorded_s = 0.0
        self.recording_failed = False

    def on_event(self, event: Event) -> None:
        match event:
            case MetricsUpdated(metrics=m):
                rec = f"  REC {self._recorded_s:4.0f} s" if self._recording is not None else ""
                print(
                    f"{time.monotonic() - self._t_start:6.1f} s  in {m.input_fps:4.1f} fps  "
                    f"out {m.output_fps:4.1f} fps  inference {m.inference_ms:5.1f} ms  "
                    f"latency p50 {m.latency_p50_ms:4.0f} ms p95 {m.latency_p95_ms:4.0f} ms  "
                    f"dropped {m.dropped_frames}  face {'yes' if m.face_found else 'no '}{rec}",
                    flush=True,
                )
            case RecordingChanged(path=path, elapsed_s=elapsed):
                if path is None and self._recording is not None:
                    print(f"saved {self._recording} ({elapsed:.1f} s)", file=sys.stderr, flush=True)
                self._recording, self._recorded_s = path, elapsed
            case MessagePosted(message=message):
                if message.level is MessageLevel.ERROR and message.key == "recording":
                    self.recording_failed = True
                print(f"avatarify: {message.level.value}: {message.text}", file=sys.stderr, flush=True)
