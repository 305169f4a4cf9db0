"""The controller: the one object the GUI and the CLI talk to in live mode.

It owns the pipeline's threads (capture -> inference -> output), turns commands into small command
records applied between frames by the stage that owns the state, and sends events to subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from avatarify_app.config import LiveSettings, SourceSpec
from avatarify_app.pipeline.events import Event, PipelineState

logger = logging.getLogger(__name__)


class Controller:
    """Starts, steers and stops live mode.

    Threads: every command is thread-safe and returns at once; the change is applied between frames
    by the stage that owns it, and its outcome arrives as an event (``AvatarChanged``,
    ``EngineChanged``, ``MessagePosted``...). Events are delivered on worker threads.

    Seams for tests (all optional):
        source_factory: ``(SourceSpec) -> capture.Source`` (not yet opened); default
            ``capture.create_source``.
        vcam_backend: pyvirtualcam backend name that overrides ``settings.virtual_camera.backend``.
        audio_input_factory: builds the microphone input for recordings (see
            ``outputs.microphone.AudioInputFactory``); default sounddevice.
        engine_factory: ``(name, EngineOptions, checkpoint) -> Engine``; default
            ``engines.create_engine``.
    """

    def __init__(
        self,
        settings: LiveSettings,
        *,
        source_factory: Callable | None = None,
        vcam_backend: str | None = None,
        audio_input_factory: Callable | None = None,
        engine_factory: Callable | None = None,
    ) -> None:
        self._settings = settings
        self._state = PipelineState.STOPPED
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every event from now on (on worker threads; return quickly)."""
        self._subscribers.append(callback)

    @property
    def state(self) -> PipelineState:
        return self._state

    @property
    def settings(self) -> LiveSettings:
        """The settings in effect (updated as commands succeed)."""
        return self._settings

    def start(self) -> None:
        """Start the threads. Opening the source, loading the engine and avatar happen in them."""
        raise NotImplementedError

    def stop(self, timeout: float = 1.0) -> None:
        """Stop and join every thread within ``timeout`` seconds; close devices and files."""
        raise NotImplementedError

    def set_source(self, spec: SourceSpec) -> None:
        """Switch to another camera, video file or the demo motion."""
        raise NotImplementedError

    def set_avatar(self, avatar: Path | np.ndarray) -> None:
        """Use a new avatar (an image file or an RGB uint8 array).

        A bad file or an image without a face posts ``MessagePosted`` (ERROR) and keeps the old avatar.
        """
        raise NotImplementedError

    def set_engine(self, name: str, checkpoint: Path | None = None) -> None:
        """Load another engine in the inference thread; on failure a message, and the old engine stays."""
        raise NotImplementedError

    def calibrate(self) -> None:
        """Take the current driving frame as the neutral pose (``Calibrated``, or a message)."""
        raise NotImplementedError

    def set_strength(self, value: float) -> None:
        """Expression strength, 0 (none) to about 2 (exaggerated); 1 = as the driver."""
        raise NotImplementedError

    def set_mirror(self, preview: bool | None = None, output: bool | None = None) -> None:
        """Mirror the preview and/or the output; None leaves that one as it is."""
        raise NotImplementedError

    def set_passthrough(self, enabled: bool) -> None:
        """Send the camera itself to the outputs instead of the avatar."""
        raise NotImplementedError

    def set_virtual_camera(self, enabled: bool) -> None:
        """Open or close the virtual camera (``VirtualCameraChanged`` tells the outcome)."""
        raise NotImplementedError

    def start_recording(self, path: Path, microphone: str | int | None = None) -> None:
        """Record the output (and the microphone) to an MP4 file (``RecordingChanged``)."""
        raise NotImplementedError

    def stop_recording(self) -> None:
        """Finish the recording; the file is complete when ``RecordingChanged(path=None)`` arrives."""
        raise NotImplementedError
