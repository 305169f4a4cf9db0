"""Offline rendering: animate an avatar with a whole driving clip (or the demo motion) into an MP4.

Runs the live pipeline's parts (a capture ``Source``, the tracker, the engine, the MP4 writer) in a
plain loop: it drops nothing, keeps the driver's frame rate and frame count, and copies its sound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarify_app.capture import Source, VideoFileSource
from avatarify_app.capture.demo_source import DemoSource
from avatarify_app.engines.base import Engine
from avatarify_app.errors import InputError, NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.outputs.audio_file import read_audio
from avatarify_app.outputs.mp4 import Mp4Writer
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
        with VideoFileSource(path, loop=False) as source:
            if source.read() is None:
                raise InputError(f"{path}: not a readable video (expected MP4, MOV, AVI, MKV or WebM)")
            return cls(
                str(path), lambda: VideoFileSource(path, loop=False), source.frame_count, source.fps, path
            )

    @classmethod
    def demo(cls, size: int = 480) -> Driving:
        """One loop of the built-in demo motion."""
        with DemoSource(size=size) as source:
            length, fps = source.frame_count, source.fps
        return cls("the demo motion", lambda: DemoSource(size=size), length, fps, stop_after=length)


@dataclass(frozen=True, slots=True)
class RenderReport:
    frames: int
    fps: float
    frames_without_face: int
    has_audio: bool


def _tracks(driving: Driving, limit: int | None) -> Iterator[tuple[np.ndarray, FaceTrack]]:
    """Each driving frame with its face, tracked frame to frame and smoothed on the clip's own clock."""
    with driving.make_source() as source, FaceTracker(TrackerOptions(static=False)) as tracker:
        index = 0
        while limit is None or index < limit:
            image = source.read()
            if image is None:
                return
            yield image, tracker.track(image, t=index / driving.fps)
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
    when the neutral frame shows none, ``OutputError`` when ``out`` cannot be written.
    """
    if neutral_frame is not None:
        if not 0 <= neutral_frame < driving.length:
            raise InputError(
                f"--neutral-frame {neutral_frame} is outside the clip (0 to {driving.length - 1})"
            )
        # The neutral pose comes from a tracking run identical to the render's, so the output at that
        # frame is the avatar at rest exactly.
        *_, (image, track) = _tracks(driving, limit=neutral_frame + 1)
        if not track.found:
            raise NoFaceError(f"no face in driving frame {neutral_frame}: choose another --neutral-frame")
        engine.calibrate(image, track)

    audio = read_audio(driving.sound) if driving.sound is not None else None
    samples, rate = audio if audio is not None and len(audio[0]) else (None, None)
    height, width = engine.output_shape
    channels = samples.shape[1] if samples is not None else 1
    frames = lost = 0
    # crf 18: a rendered clip is kept and shared, so it gets better quality than a live recording.
    with Mp4Writer(
        out, (width, height), driving.fps, audio_rate=rate, audio_channels=channels, crf=18
    ) as writer:
        for image, track in _tracks(driving, limit=driving.length or 1 << 31):
            writer.write_video(engine.animate(image, track), t=frames / driving.fps)
            if samples is not None and rate is not None:
                # Sound goes in step with the picture, a frame's worth at a time, so the file interleaves.
                start = round(frames * rate / driving.fps)
                end = round((frames + 1) * rate / driving.fps)
                if start < len(samples):
                    writer.write_audio(samples[start:end], t=start / rate)
            frames += 1
            lost += not track.found
            if progress is not None:
                progress(frames, max(driving.length, frames))
        if frames == 0 or lost == frames:
            writer.discard()  # nothing worth keeping: ``out`` is left as it was
        elif samples is not None and rate is not None:
            tail = round(frames * rate / driving.fps)
            if tail < len(samples):
                writer.write_audio(samples[tail:], t=tail / rate)
    if frames == 0 or lost == frames:
        what = "no frames" if frames == 0 else "no face in any frame"
        raise InputError(f"{driving.name}: {what}; nothing was written")
    if lost:
        logger.info("driver's face lost in %d of %d frames: kept the last good output", lost, frames)
    return RenderReport(
        frames=frames, fps=driving.fps, frames_without_face=lost, has_audio=samples is not None
    )
