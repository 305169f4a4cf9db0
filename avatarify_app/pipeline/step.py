"""The frame step that live mode and offline rendering share: track the driver's face, animate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarify_app.engines import Engine
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import FaceTracker


@dataclass(frozen=True, slots=True)
class StepResult:
    """``track``: the driver's face in ``image``'s pixels. ``output``: the avatar posed as the driver
    (the engine's native size), or the driving image itself when ``animated`` is False."""

    track: FaceTrack
    output: np.ndarray
    animated: bool


def track_and_animate(
    tracker: FaceTracker,
    engine: Engine | None,
    image: np.ndarray,
    t: float | None,
    *,
    passthrough: bool = False,
    passthrough_when_lost: bool = False,
) -> StepResult:
    """Track ``image`` (RGB uint8, taken at ``t`` seconds) and animate ``engine``'s avatar with it.

    The driving image goes out unchanged with ``passthrough``, with ``passthrough_when_lost`` when no
    face is found, and when there is no ``engine`` yet. An engine keeps its last good output itself
    when the face is lost.
    """
    track = tracker.track(image, t)
    if engine is None or passthrough or (passthrough_when_lost and not track.found):
        return StepResult(track, image, animated=False)
    return StepResult(track, engine.animate(image, track), animated=True)
