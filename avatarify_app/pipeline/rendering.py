"""Offline rendering: animate an avatar with a whole driving clip (or the demo motion) into an MP4.

Runs the live pipeline's parts (a capture ``Source``, the tracker, the engine, the MP4 writer) in a
plain loop: it drops nothing, keeps the driver's frame count and each frame's timestamp (variable
frame rate included), and copies its sound in step.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarify_app.capture import Source, VideoFileSource
from avatarify_app.capture.demo_source import DemoSource
from avatarify_app.engines.base import Engine
from avatarify_app.errors import InputError, NoFaceError
from avatarify_app.outputs.driver_sound import open_driver_sound
from avatarify_app.outputs.framing import fit
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.pipeline.step import StepResult, track_and_animate
from avatarify_app.tracking import FaceTracker, TrackerOptions

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (frames done, frames in all)


@dataclass(frozen=True, slots=True)
class Driving:
    """A driving clip: how to open it, its length (frames, as far as known) and rate, where its sound is.

    ``stop_after``: frames to read from a source that loops (the demo); None reads to the end.
    """

    name: str
    make_source: Callable[[], Source]
    length: int
    fps: float
    sound: Path | None = None
    stop_after: int | None = None

    @classmethod
    def from_file(cls, path: Path) -> Driving:
        """Raises ``InputError`` when ``path`` is missing or not a readable video."""
        source = VideoFileSource(path, loop=False)
        with source:
            if source.read() is None:
                raise InputError(f"{path}: not a readable video (expected MP4, MOV, AVI, MKV or WebM)")
            return cls(
                str(path), lambda: VideoFileSource(path, loop=False), source.frame_count, source.fps, path
            )

    @classmethod
    def demo(cls, size: int = 480) -> Driving:
        """One loop of the built-in demo motion."""
        source = DemoSource(size=size)
        with source:
            length, fps = source.frame_count, source.fps
        return cls("the demo motion", lambda: DemoSource(size=size), length, fps, stop_after=length)


@dataclass(frozen=True, slots=True)
class RenderReport:
    frames: int
    fps: float
    frames_without_face: int
    has_audio: bool
    loop_s: float  # seconds the frame loop took (tracking, animating, encoding)


def _steps(
    driving: Driving, engine: Engine | None, limit: int | None
) -> Iterator[tuple[float, np.ndarray, StepResult]]:
    """Each driving frame with its time (seconds, the file's own timestamps where it has them, so a
    variable frame rate is kept) and the live mode's step on it (``pipeline.step``): its face,
    tracked frame to frame and smoothed on that clock, and ``engine``'s output (None: tracking only)."""
    with driving.make_source() as source, FaceTracker(TrackerOptions(static=False)) as tracker:
        index = 0
        t_last = -1.0
        while limit is None or index < limit:
            image = source.read()
            if image is None:
                return
            t = source.frame_time
            if t is None or t <= t_last:  # no timestamp (the demo), or one that does not move on
                t = index / driving.fps if t_last < 0 else t_last + 1.0 / driving.fps
            t_last = t
            yield t, image, track_and_animate(tracker, engine, image, t)
            index += 1


def render_clip(
    engine: Engine,
    driving: Driving,
    out: Path,
    *,
    neutral_frame: int | None = None,
    progress: Progress | None = None,
) -> RenderReport:
    """Animate ``engine``'s avatar (already set) with every frame of ``driving`` into ``out``.

    ``neutral_frame``: index of the driving frame taken as the neutral pose; None takes the first frame
    with a face. Frames where the driver's face is lost keep the last good output.
    Raises ``InputError`` when the clip shows no face at all (nothing is written), ``NoFaceError``
    when the neutral frame shows none, ``OutputError`` when ``out`` cannot be written
    (``DiskFullError`` when no room is left; its ``kept`` names the incomplete file that was kept).
    """
    if neutral_frame is not None:
        if not 0 <= neutral_frame < driving.length:
            raise InputError(
                f"--neutral-frame {neutral_frame} is outside the clip (0 to {driving.length - 1})"
            )
        # The neutral pose comes from a tracking run identical to the render's, so the output at that
        # frame is the avatar at rest exactly.
        *_, (_, image, step) = _steps(driving, None, limit=neutral_frame + 1)
        track = step.track
        if not track.found:
            raise NoFaceError(f"no face in driving frame {neutral_frame}: choose another --neutral-frame")
        engine.calibrate(image, track)

    sound = open_driver_sound(driving.sound) if driving.sound is not None else None
    width, height = engine.options.frame_size(engine.output_shape)
    frames = lost = 0
    t_start = time.monotonic()
    # crf 18: a rendered clip is kept and shared, so it gets better quality than a live recording.
    with (
        contextlib.nullcontext() if sound is None else sound,
        Mp4Writer(
            out, (width, height), driving.fps, crf=18, **(sound.writer_audio if sound else {})
        ) as writer,
    ):
        for t, _, step in _steps(driving, engine, limit=driving.length or 1 << 31):
            track = step.track
            writer.write_video(fit(step.output, (width, height)), t=t)
            if sound is not None:
                # Sound goes in step with the picture, up to this frame's time, so the file interleaves;
                # packets keep their own times, so sound and picture keep the driver's timing.
                sound.write_until(writer, t)
            frames += 1
            lost += not track.found
            if progress is not None:
                progress(frames, max(driving.length, frames))
        if frames == 0 or lost == frames:
            writer.discard()  # nothing worth keeping: ``out`` is left as it was
        elif sound is not None:
            sound.write_rest(writer)
        loop_s = time.monotonic() - t_start
    if frames == 0 or lost == frames:
        what = "no frames" if frames == 0 else "no face in any frame"
        raise InputError(f"{driving.name}: {what}; nothing was written")
    if lost:
        logger.info("driver's face lost in %d of %d frames: kept the last good output", lost, frames)
    return RenderReport(
        frames=frames,
        fps=driving.fps,
        frames_without_face=lost,
        has_audio=sound is not None,
        loop_s=loop_s,
    )
