"""The Engine interface: what the pipeline, the CLI and the GUI need from any reenactment engine."""

from __future__ import annotations

import abc

import numpy as np

from avatarify_app.config import EngineOptions, OutputFraming
from avatarify_app.frames import FaceTrack, MessageLevel

__all__ = ["Engine", "EngineOptions", "OutputFraming"]


class Engine(abc.ABC):
    """A reenactment engine: animates one avatar image with the motion of a driving face.

    Contract:
        - ``set_avatar`` must be called before ``calibrate`` and ``animate``. It prepares everything
          that depends on the avatar alone, once (landmarks, mesh, encoder features...). It must raise
          ``NoFaceError`` when the avatar shows no face, with a message for the user.
        - ``calibrate(image, track)`` stores the neutral driving pose: from then on motion is relative to
          it. Before any call, the first ``animate`` call with a face found calibrates implicitly.
          It must raise ``NoFaceError`` when ``track.found`` is False.
        - ``animate(image, track)`` returns an RGB uint8 image of shape ``output_shape``. When
          ``track.found`` is False it must return the last good output (the avatar at rest if there is
          none yet); it never raises for a missing face.
        - Which driving frame an output answers: the one given to that ``animate`` call, unless the
          engine has frames in flight (a remote engine). Such an engine sets ``frames_behind`` on each
          call to how many calls ago the frame its output answers was given (0: this call's); the
          pipeline measures latency from that frame's capture time.
        - ``device_name`` says where it runs, for the user ("CPU", "CPU, OpenVINO fp32", "CUDA: <GPU>");
          it may change while it runs (a remote engine's round trip), and the window follows it.
        - ``take_notices()`` hands over what the user should be told since the last call (a remote
          engine lost its worker, or has it back), as (level, sentence) pairs; the pipeline shows them.
        - ``strength``, ``eyes``, ``mouth`` and ``head`` may be changed between frames.
        - All methods are called from one thread (the inference thread, or the CLI's loop); an engine
          need not be thread-safe. An engine never imports the pipeline, outputs or gui.
        - ``close`` releases what the engine holds (trackers, GPU memory); calling it twice is fine.
    """

    name: str = "engine"
    device_name: str = "CPU"
    frames_behind: int = 0

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.strength = options.strength
        self.eyes, self.mouth, self.head = options.eyes, options.mouth, options.head

    @abc.abstractmethod
    def set_avatar(self, image: np.ndarray) -> None:
        """Prepare an avatar. ``image``: RGB uint8 (H, W, 3). Raises ``NoFaceError``."""

    @abc.abstractmethod
    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        """Take this driving frame as the neutral pose. Raises ``NoFaceError`` if no face is tracked."""

    @abc.abstractmethod
    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        """Animate the avatar with the driving frame ``image`` (RGB uint8) and its face ``track``."""

    @property
    @abc.abstractmethod
    def output_shape(self) -> tuple[int, int]:
        """(height, width) of the images ``animate`` returns for the current avatar."""

    @property
    @abc.abstractmethod
    def avatar_track(self) -> FaceTrack:
        """The avatar's face as found by ``set_avatar`` (in avatar image pixels), for pose matching."""

    @property
    @abc.abstractmethod
    def is_calibrated(self) -> bool:
        """Whether a neutral pose is set. A new avatar keeps the calibration: it belongs to the driver."""

    def take_notices(self) -> list[tuple[MessageLevel, str]]:
        """Sentences for the user since the last call, oldest first (none by default)."""
        return []

    def close(self) -> None:  # noqa: B027 - engines without resources need not override
        """Release resources."""
