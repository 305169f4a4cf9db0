"""The one bridge from controller events (worker threads) to Qt signals (GUI thread)."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal, Slot

from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import (
    AvatarChanged,
    Calibrated,
    CameraPreview,
    EngineChanged,
    EngineStatus,
    Event,
    FramesReady,
    MessagePosted,
    MetricsUpdated,
    RecordingChanged,
    RecordingSaving,
    SettingsChanged,
    StateChanged,
    VirtualCameraChanged,
)

logger = logging.getLogger(__name__)


class ControllerBridge(QObject):
    """Re-emits a ``Controller``'s events as Qt signals on the thread this object lives in (the GUI's).

    Frames are coalesced: while the GUI has not yet taken the last ``FramesReady``, a newer one
    replaces it (``frames_dropped`` counts those), so a slow GUI shows the newest frame and never
    builds a backlog. Every other event is delivered in order.

    After ``close()`` events are ignored (the controller keeps its subscribers; the bridge may be
    destroyed before the controller's last events arrive).
    """

    state_changed = Signal(object)
    settings_changed = Signal(object)
    """``SettingsChanged``: the settings in effect; every widget that shows a setting listens here."""
    """``PipelineState``: the pipeline started, is stopping, stopped..."""
    frames_ready = Signal(object)
    """``FramesReady``: the newest camera frame, the avatar output and the driver's face track."""
    camera_preview = Signal(object)
    """``CameraPreview``: a camera frame while the engine still loads (a few a second)."""
    metrics_updated = Signal(object)
    """``Metrics``: input/output fps, inference time, latency percentiles, dropped frames; about 1 Hz."""
    message_posted = Signal(object)
    """``UserMessage``: a sentence for the user (level, text, key)."""
    avatar_changed = Signal(object)
    """``AvatarChanged``: the avatar in use (image RGB uint8, its face track, its file or None)."""
    engine_changed = Signal(object, str)
    """The engine choice now loaded (``EngineChoice``) and where it runs (``"CPU"``, ``"CUDA: ..."``)."""
    engine_status = Signal(str)
    """Where the engine in use runs now, when that changed while it runs (a remote engine's round trip)."""
    calibrated = Signal(object)
    """``HeadPose``: the neutral pose just taken from the driver."""
    recording_changed = Signal(object, float)
    """The file being recorded (``Path``) or None when not recording, and the seconds recorded so far."""
    recording_saving = Signal(object)
    """The file (``Path``) of the recording just stopped, being finished; ``recording_changed``
    with None follows when it is done."""
    virtual_camera_changed = Signal(bool, str, str)
    """Whether the virtual camera is on, its device name ("" if none), and what to do to fix it
    ("" if nothing is wrong)."""

    _event_arrived = Signal(object)  # from any thread; queued to the GUI thread
    _frame_pending = Signal()  # from any thread, once per pending frame

    def __init__(self, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending_frame: FramesReady | None = None
        self._closed = False
        self.frames_dropped = 0
        self._event_arrived.connect(self._dispatch)
        self._frame_pending.connect(self._deliver_frame)
        controller.subscribe(self._on_event)

    def close(self) -> None:
        """Stop relaying events (call before the bridge is deleted)."""
        with self._lock:
            self._closed = True
            self._pending_frame = None

    def _on_event(self, event: Event) -> None:
        """Controller callback: runs on a worker thread (or the caller's); only hands the event over."""
        with self._lock:
            if self._closed:
                return
            if isinstance(event, FramesReady):
                wake = self._pending_frame is None
                if not wake:
                    self.frames_dropped += 1
                self._pending_frame = event
                if not wake:
                    return
        if isinstance(event, FramesReady):
            self._frame_pending.emit()
        else:
            self._event_arrived.emit(event)

    @Slot()
    def _deliver_frame(self) -> None:
        with self._lock:
            event, self._pending_frame = self._pending_frame, None
        if event is not None:
            self.frames_ready.emit(event)

    @Slot(object)
    def _dispatch(self, event: Event) -> None:
        if self._closed:
            return
        match event:
            case StateChanged(state=state):
                self.state_changed.emit(state)
            case SettingsChanged():
                self.settings_changed.emit(event)
            case CameraPreview():
                self.camera_preview.emit(event)
            case MetricsUpdated(metrics=metrics):
                self.metrics_updated.emit(metrics)
            case MessagePosted(message=message):
                self.message_posted.emit(message)
            case AvatarChanged():
                self.avatar_changed.emit(event)
            case EngineChanged(choice=choice, device=device):
                self.engine_changed.emit(choice, device)
            case EngineStatus(device=device):
                self.engine_status.emit(device)
            case Calibrated(pose=pose):
                self.calibrated.emit(pose)
            case RecordingChanged(path=path, elapsed_s=elapsed_s):
                self.recording_changed.emit(path, elapsed_s)
            case RecordingSaving(path=path):
                self.recording_saving.emit(path)
            case VirtualCameraChanged(active=active, device=device, fix=fix):
                self.virtual_camera_changed.emit(active, device or "", fix or "")
            case _:
                logger.debug("bridge: no signal for %s", type(event).__name__)
