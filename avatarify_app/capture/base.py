"""The capture Source contract: where driving frames come from."""

from __future__ import annotations

import abc

import numpy as np


class Source(abc.ABC):
    """A stream of driving images (webcam, video file, demo motion).

    Contract:
        - ``open()`` must be called before ``read()``. It must raise ``DeviceError`` (camera missing,
          busy or refusing) or ``InputError`` (file missing or unreadable) with a sentence for the
          user, and it may be called again after ``close()`` to retry.
        - ``read()`` must return an RGB uint8 (H, W, 3) image, the next one in the stream. It must
          return None when the stream has ended for good (a video file that does not loop) and must
          raise ``DeviceError`` when the device stopped delivering (unplugged, taken by another app);
          the caller may then ``close()`` and ``open()`` again.
        - When ``paced`` is True, ``read()`` blocks until the device has a new frame (a camera). When
          it is False, ``read()`` returns at once and the caller paces reads at ``fps``.
        - ``read()`` never blocks for more than about a second.
        - ``close()`` releases the device; calling it twice, or before ``open()``, is fine.
        - A source is used from one thread (the capture thread). It never knows what happens to
          its frames downstream.
    """

    paced: bool = True

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """How the user knows this source: ``"camera 0 (HD Webcam)"``, ``"clip.mp4"``, ``"demo"``."""

    @property
    @abc.abstractmethod
    def fps(self) -> float:
        """Frames per second the source delivers (or should be read at, when not ``paced``)."""

    @property
    def frame_time(self) -> float | None:
        """Seconds from the start of the stream of the frame ``read()`` returned last, when the source
        knows it (a file's presentation time, variable frame rate included); None when it does not."""
        return None

    @abc.abstractmethod
    def open(self) -> None:
        """Open the device or file. Raises ``DeviceError`` or ``InputError``."""

    @abc.abstractmethod
    def read(self) -> np.ndarray | None:
        """The next RGB uint8 image; None at the end of the stream. Raises ``DeviceError``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
