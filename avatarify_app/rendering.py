"""Offline rendering: animate an avatar with a whole driving clip (or the demo motion) into an MP4.

Runs the live pipeline's stage functions (track, animate, write) in a plain loop: it drops nothing,
keeps the driver's frame rate and frame count, and copies the driver's sound.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.capture.demo import DemoMotion
from avatarify_app.engines.base import Engine
from avatarify_app.errors import InputError, NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.outputs.audio_file import read_audio
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.tracking import FaceTracker, TrackerOptions

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (frames done, frames in all)


@dataclass(frozen=True, slots=True)
class RenderReport:
    frames: int
    fps: float
    frames_without_face: int
    has_audio: bool


class DrivingClip:
    """Frames of a driving video file (RGB uint8), with its frame rate and length.

    Raises ``InputError`` when the file is missing or not a readable video.
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        self.path = path
        capture = cv2.VideoCapture(str(path))
        ok = capture.isOpened() and capture.read()[0]
        self.fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.length = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        if not ok:
            raise InputError(f"{path}: not a readable video (expected MP4, MOV, AVI, MKV or WebM)")

    def frames(self, limit: int | None = None) -> Iterator[np.ndarray]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while limit is None or index < limit:
                ok, image_bgr = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            capture.release()


class DemoClip:
    """One loop of the demo motion, shaped like ``DrivingClip``."""

    def __init__(self, size: int = 480) -> None:
        self._size = size
        with contextlib.closing(DemoMotion(size=size)) as demo:
            self.fps = demo.fps
            self.length = demo.length

    def frames(self, limit: int | None = None) -> Iterator[np.ndarray]:
        with contextlib.closing(DemoMotion(size=self._size)) as demo:
            for index in range(self.length if limit is None else min(limit, self.length)):
                yield demo.frame(index)


def _tracks(clip: DrivingClip | DemoClip, limit: int | None = None) -> Iterator[tuple[np.ndarray, FaceTrack]]:
    """Each driving frame with its face, tracked frame to frame and smoothed on the clip's own clock."""
    with FaceTracker(TrackerOptions(static=False)) as tracker:
        for index, image in enumerate(clip.frames(limit)):
            yield image, tracker.track(image, t=index / clip.fps)


def render_clip(
    engine: Engine,
    clip: DrivingClip | DemoClip,
    out: Path,
    *,
    neutral_frame: int | None = None,
    progress: Progress | None = None,
) -> RenderReport:
    """Animate ``engine``'s avatar (already set) with every frame of ``clip`` into ``out``.

    ``neutral_frame``: index of the driving frame taken as the neutral pose; None takes the first frame
    with a face. Frames where the driver's face is lost keep the last good output.
    Raises ``InputError`` when the clip shows no face at all (``out`` is then removed), ``NoFaceError``
    when the neutral frame shows none, ``OutputError`` when ``out`` cannot be written.
    """
    if neutral_frame is not None:
        if clip.length and not 0 <= neutral_frame < clip.length:
            raise InputError(f"--neutral-frame {neutral_frame} is outside the clip (0 to {clip.length - 1})")
        # The neutral pose comes from the same tracking run the render makes, so the output at that
        # frame is the avatar at rest exactly.
        neutral = None
        for index, (image, track) in enumerate(_tracks(clip, neutral_frame + 1)):
            if index == neutral_frame:
                neutral = (image, track)
        if neutral is None or not neutral[1].found:
            raise NoFaceError(f"no face in driving frame {neutral_frame}: choose another --neutral-frame")
        engine.calibrate(*neutral)

    audio = read_audio(clip.path) if isinstance(clip, DrivingClip) else None
    has_audio = audio is not None and len(audio[0]) > 0
    height, width = engine.output_shape
    rate = audio[1] if has_audio and audio is not None else None
    channels = audio[0].shape[1] if has_audio and audio is not None else 1
    frames = lost = 0
    with Mp4Writer(
        out, size=(width, height), fps=clip.fps, audio_rate=rate, audio_channels=channels
    ) as writer:
        for image, track in _tracks(clip):
            writer.write_video(engine.animate(image, track), t=frames / clip.fps)
            if has_audio and audio is not None and rate is not None:
                # Audio goes in step with the video, a frame's worth at a time, so the file interleaves.
                start, end = round(frames * rate / clip.fps), round((frames + 1) * rate / clip.fps)
                if start < len(audio[0]):
                    writer.write_audio(audio[0][start:end], t=start / rate)
            frames += 1
            lost += not track.found
            if progress is not None:
                progress(frames, max(clip.length, frames))
        if has_audio and audio is not None and rate is not None:
            tail = round(frames * rate / clip.fps)
            if tail < len(audio[0]):
                writer.write_audio(audio[0][tail:], t=tail / rate)
    if frames == 0 or lost == frames:
        out.unlink(missing_ok=True)
        what = "no frames" if frames == 0 else "no face in any frame"
        raise InputError(f"{getattr(clip, 'path', 'the demo motion')}: {what}; nothing was written")
    if lost:
        logger.info("driver's face lost in %d of %d frames: kept the last good output", lost, frames)
    return RenderReport(frames=frames, fps=clip.fps, frames_without_face=lost, has_audio=has_audio)
