"""Records that travel between the live stages (besides ``frames.Frame``) and the stage commands."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarify_app.frames import FaceTrack, Frame


@dataclass(frozen=True, slots=True)
class ProcessedFrame:
    """A driving frame after the inference stage, on its way to the outputs.

    ``output``: RGB uint8 (H, W, 3), what the sinks get (passthrough applied). ``mirror``: the output
    stage flips it left-right for the sinks (``mirror_output``), once; the preview flips as it draws.
    ``t_infer_start`` / ``t_infer_end``: ``time.monotonic()`` around tracking + engine.
    ``answers``: the driving frame ``output`` shows (``source`` itself unless the engine has frames in
    flight, see ``Engine.frames_behind``); its ``t_capture`` and the output stage's write time give the
    frame's latency.
    """

    source: Frame
    output: np.ndarray
    track: FaceTrack
    t_infer_start: float
    t_infer_end: float
    mirror: bool = False
    answers: Frame | None = None

    @property
    def answered(self) -> Frame:
        return self.answers if self.answers is not None else self.source
