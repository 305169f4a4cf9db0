"""The Sink contract shared by every output of the live pipeline."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Sink(Protocol):
    """Where output frames go: the virtual camera, the recorder.

    Contract:
        - ``open(size, fps)`` is called once, from the output thread, before any ``write``. ``size``
          is (width, height) of the first frame; ``fps`` the steady rate ``write`` will be called at.
          It must raise an ``AvatarifyError`` subclass (``DeviceError``, ``OutputError``) with a
          sentence for the user when the sink cannot work; the pipeline then drops the sink and
          carries on with the others.
        - ``write(image, t)`` gets an RGB uint8 (H, W, 3) image and its output time ``t``
          (``time.monotonic()``). Frames may change size between calls (a new avatar); a sink must
          cope (letterbox, resize). It must return quickly (well under a frame period): slow work
          belongs on the sink's own thread. It may raise an ``AvatarifyError`` to say it has failed;
          it is then closed and dropped.
        - ``close()`` releases the device or finishes the file; calling it twice is fine. It never
          raises for a sink that has already failed. (The recorder can also finish its file on its
          own thread: ``RecorderSink.close(wait=False, on_done=...)``.)
        - All three are called from one thread (the output thread).
    """

    name: str

    def open(self, size: tuple[int, int], fps: float) -> None: ...

    def write(self, image: np.ndarray, t: float) -> None: ...

    def close(self) -> None: ...
