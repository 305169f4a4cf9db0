"""The controller: the one object the GUI and the CLI talk to in live mode.

It owns the pipeline's threads (capture -> inference -> output), turns commands into small command
records applied between frames by the stage that owns the state, and sends events to subscribers.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from avatarify_app.capture import create_source
from avatarify_app.config import STRENGTH_RANGE, SourceSpec
from avatarify_app.engines import Engine, EngineChoice, EngineInfo, EngineOptions
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.outputs.microphone import AudioInputFactory
from avatarify_app.outputs.recorder import RecorderSink
from avatarify_app.outputs.recordings import RecorderFactory, Recordings
from avatarify_app.pipeline.capture_stage import SetSource, SourceFactory
from avatarify_app.pipeline.engine_setup import entries, get, open_engine
from avatarify_app.pipeline.events import (
    AvatarChanged,
    EngineChanged,
    Event,
    MessagePosted,
    PipelineState,
    RecordingChanged,
    SettingsChanged,
    StateChanged,
    VirtualCameraChanged,
)
from avatarify_app.pipeline.inference_stage import (
    Calibrate,
    EngineFactory,
    SetAvatar,
    SetEngine,
    SetRegions,
    SetStrength,
    SetView,
    TrackerFactory,
)
from avatarify_app.pipeline.output_stage import SetVirtualCamera, StartRecording, StopRecording
from avatarify_app.pipeline.settings import LiveSettings
from avatarify_app.pipeline.stats import PipelineStats, RunTotals
from avatarify_app.pipeline.wiring import Factories, Pipeline, build_pipeline

logger = logging.getLogger(__name__)

NO_CAMERA_TEXT = (
    "No working camera: the demo motion drives your avatar. Connect a camera and choose it under Camera."
)


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
        recorder_factory: builds each recording's sink (``outputs.recordings.RecorderFactory``);
            default ``RecorderSink`` with ``audio_input_factory``.
        engine_factory: ``(EngineChoice, EngineOptions) -> Engine``; default
            ``engine_setup.open_engine`` (the model store's default files for those the choice leaves
            open, the model preparation's progress as messages).
        tracker_factory: ``() -> FaceTracker`` for the driving stream; default FaceMesh in stream
            mode with One Euro smoothing.

    Policy: with ``demo_when_camera_fails`` (the window), a camera that does not open or stops makes
    way for the demo motion, with one message (``NO_CAMERA_TEXT``); ``chosen_source`` keeps the
    camera the user chose. A virtual camera that cannot open turns its setting off. Every change of
    the settings is announced by ``SettingsChanged``.

    Never call ``stop`` from an event callback: it joins the thread the callback runs on.
    """

    def __init__(
        self,
        settings: LiveSettings,
        *,
        source_factory: SourceFactory | None = None,
        vcam_backend: str | None = None,
        audio_input_factory: AudioInputFactory | None = None,
        engine_factory: EngineFactory | None = None,
        tracker_factory: TrackerFactory | None = None,
        recorder_factory: RecorderFactory | None = None,
        demo_when_camera_fails: bool = False,
    ) -> None:
        self._settings = settings
        self._demo_when_camera_fails = demo_when_camera_fails
        self._camera_wanted: SourceSpec | None = None  # the camera chosen, while the demo stands in
        self._state = PipelineState.STOPPED
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.RLock()  # guards state, settings, subscribers and the pipeline
        self._pipeline: Pipeline | None = None
        self._stats: PipelineStats | None = None  # the last run's, kept after stop for totals()
        self._pending_avatar: np.ndarray | None = None  # an array avatar set while stopped
        self._choices: dict[str, EngineChoice] = {}  # the last choice of each engine used before
        self._recordings = Recordings(
            on_message=lambda message: self._emit(MessagePosted(message)),
            on_late=self._recording_finished_late,
            audio_input_factory=audio_input_factory,
            recorder_factory=recorder_factory,
        )
        self._factories = Factories(
            source=source_factory or create_source,
            engine=engine_factory or self._create_engine,
            recordings=self._recordings,
            tracker=tracker_factory,
            vcam_backend=vcam_backend,
        )

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every event from now on (on worker threads; return quickly)."""
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

    @property
    def state(self) -> PipelineState:
        return self._state

    @property
    def settings(self) -> LiveSettings:
        """The settings in effect (updated as commands succeed)."""
        return self._settings

    @property
    def chosen_source(self) -> SourceSpec:
        """The source the user chose: the camera while the demo motion stands in for it."""
        return self._camera_wanted or self._settings.source

    def totals(self, since: float | None = None) -> RunTotals | None:
        """Figures since the last start (frames, drops; latency percentiles over frames output after
        ``since``, a ``time.monotonic()`` value); None before any start."""
        stats = self._stats
        return stats.totals(since) if stats is not None else None

    # -- events -------------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber; keep the settings in step with what succeeded."""
        match event:
            case AvatarChanged(path=path) if path is not None:
                self._update(lambda s: dataclasses.replace(s, avatar=path))
            case EngineChanged(choice=choice):
                self._remember(self._settings.engine)
                self._update(lambda s: dataclasses.replace(s, engine=choice))
            case MessagePosted(message=message) if self._camera_failed(message):
                self._use_demo_instead()
                return
            case VirtualCameraChanged(active=False, error=str()) if self._settings.virtual_camera.enabled:
                camera = dataclasses.replace(self._settings.virtual_camera, enabled=False)
                self._update(lambda s: dataclasses.replace(s, virtual_camera=camera))
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:
                logger.exception("an event subscriber failed on %s", type(event).__name__)

    def _set_state(self, state: PipelineState) -> None:
        self._state = state
        logger.info("live pipeline %s", state.value)
        self._emit(StateChanged(state))

    def _update(self, change: Callable[[LiveSettings], LiveSettings]) -> None:
        """Replace the settings with ``change(settings)``, under the lock; tell the subscribers."""
        with self._lock:
            before = self._settings
            self._settings = settings = change(before)
        if settings != before:
            self._deliver(SettingsChanged(settings, self.chosen_source))

    def _camera_failed(self, message: UserMessage) -> bool:
        return (
            self._demo_when_camera_fails
            and message.key == "camera"
            and message.level is not MessageLevel.INFO
            and self._settings.source.kind == "camera"
        )

    def _use_demo_instead(self) -> None:
        camera = self._settings.source
        logger.info("camera %d does not work: the demo motion stands in", camera.camera)
        self._camera_wanted = camera
        demo = dataclasses.replace(camera, kind="demo")
        self._update(lambda s: dataclasses.replace(s, source=demo))
        if (pipeline := self._pipeline) is not None:
            pipeline.capture.send(SetSource(demo))
        self._post(MessageLevel.WARNING, NO_CAMERA_TEXT, key="camera")

    def _post(self, level: MessageLevel, text: str, key: str) -> None:
        self._emit(MessagePosted(UserMessage(level, text, key=key)))

    def _create_engine(self, choice: EngineChoice, options: EngineOptions) -> Engine:
        """The default engine factory (runs in the inference thread)."""
        return open_engine(
            choice, options, progress=lambda text: self._post(MessageLevel.INFO, text, key="engine")
        )

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the threads. Opening the source, loading the engine and avatar happen in them;
        their outcome arrives as events. Does nothing when already running."""
        with self._lock:
            if self._pipeline is not None:
                return
            self._set_state(PipelineState.STARTING)
            pipeline = build_pipeline(self._settings, self._factories, self._emit)
            if self._pending_avatar is not None:
                pipeline.inference.send(SetAvatar(self._pending_avatar))
                self._pending_avatar = None
            self._pipeline, self._stats = pipeline, pipeline.stats
            pipeline.start()
            self._set_state(PipelineState.RUNNING)

    def stop(self, timeout: float = 1.0, *, wait_for_saving: bool = True) -> None:
        """Stop and join every thread within ``timeout`` seconds; close devices and files.

        A recording running is stopped and its file finished on the recorder's thread;
        ``wait_for_saving`` waits for that too (beyond ``timeout``: a long recording takes a second or
        two). The GUI passes False and waits at exit instead (``wait_for_saving()``), so the window
        closes at once.
        """
        with self._lock:
            pipeline, self._pipeline = self._pipeline, None
            if pipeline is not None:
                self._set_state(PipelineState.STOPPING)
        if pipeline is not None:
            stuck = pipeline.stop(timeout)
            if stuck:
                self._post(
                    MessageLevel.WARNING,
                    f"Stopping took too long ({', '.join(stuck)} still busy); details are in the log.",
                    key="pipeline",
                )
            self._set_state(PipelineState.STOPPED)
        if wait_for_saving:
            self.wait_for_saving()

    def wait_for_saving(self, timeout: float | None = None) -> bool:
        """Wait until every stopped recording's file is finished (and the repairs started by
        ``repair_cut_short`` are done); True when all are."""
        return self._recordings.wait_for_saving(timeout)

    def repair_cut_short(self) -> None:
        """Repair, on a worker thread, the recordings and renders that a crash cut short (see
        ``outputs.repair``); each outcome arrives as a message (key ``"recording"``). Returns at once."""
        self._recordings.repair_cut_short()

    def _recording_finished_late(self, recorder: RecorderSink, message: UserMessage) -> None:
        """A recording's file finished after live mode stopped (on the recorder's thread)."""
        self._emit(RecordingChanged(path=None, elapsed_s=recorder.elapsed_s))
        self._emit(MessagePosted(message))

    # -- commands -----------------------------------------------------------------------------------
    def set_source(self, spec: SourceSpec) -> None:
        """Switch to another camera, video file or the demo motion."""
        self._camera_wanted = None  # the user chose: that is the source to remember
        self._update(lambda s: dataclasses.replace(s, source=spec))
        if (pipeline := self._pipeline) is not None:
            pipeline.capture.send(SetSource(spec))

    def set_avatar(self, avatar: Path | np.ndarray) -> None:
        """Use a new avatar (an image file or an RGB uint8 (H, W, 3) array).

        A bad file or an image without a face posts ``MessagePosted`` (ERROR, key ``"avatar"``) and
        keeps the old avatar. While stopped, the avatar is checked when the pipeline starts.
        """
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(SetAvatar(avatar if isinstance(avatar, np.ndarray) else Path(avatar)))
        elif isinstance(avatar, np.ndarray):
            self._pending_avatar = avatar
        else:
            self._pending_avatar = None
            path = Path(avatar)
            self._update(lambda s: dataclasses.replace(s, avatar=path))

    def engines(self) -> tuple[EngineInfo, ...]:
        """The engines there are (``engines.catalog``), the default first."""
        return entries()

    def set_engine(self, choice: EngineChoice) -> None:
        """Load the engine ``choice`` names (another engine, or the same one built otherwise: another
        checkpoint, precision...) in the inference thread. ``EngineChanged`` says what runs, and the
        settings follow it; on failure a message, and the old engine stays. A first use may prepare a
        model, with messages."""
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(SetEngine(choice))
        else:
            self._remember(self._settings.engine)
            self._update(lambda s: dataclasses.replace(s, engine=choice))

    def choice_for(self, name: str) -> EngineChoice:
        """The choice to load engine ``name`` with: the one in use when it is that engine, else the
        last one of that engine loaded in this session, else its defaults."""
        if self._settings.engine.name == name:
            return self._settings.engine
        remembered = self._choices.get(name)
        return remembered if remembered is not None else get(name).choice()

    def _remember(self, choice: EngineChoice) -> None:
        self._choices[choice.name] = choice

    def calibrate(self) -> None:
        """Take the current driving frame as the neutral pose (``Calibrated``, or a message)."""
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(Calibrate())
        else:
            self._post(MessageLevel.WARNING, "Start live mode before calibrating.", key="calibration")

    def set_strength(self, value: float) -> None:
        """Expression strength within ``config.STRENGTH_RANGE``: 0 (none) to 2 (doubled); 1 = as the
        driver."""
        value = float(np.clip(value, *STRENGTH_RANGE))
        options = dataclasses.replace(self._settings.engine_options, strength=value)
        self._update(lambda s: dataclasses.replace(s, engine_options=options))
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(SetStrength(value))

    def set_regions(
        self, eyes: float | None = None, mouth: float | None = None, head: float | None = None
    ) -> None:
        """Region strengths, each 0 (the avatar's neutral state) to 2 (doubled); 1 = as the driver; None
        (or a value that is not a finite number) leaves one as it is. The engine eases to new values
        over a few frames."""
        regions = SetRegions(
            *(
                float(np.clip(v, *STRENGTH_RANGE)) if v is not None and np.isfinite(v) else None
                for v in (eyes, mouth, head)
            )
        )
        options = regions.apply(self._settings.engine_options)
        self._update(lambda s: dataclasses.replace(s, engine_options=options))
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(regions)

    def set_mirror(self, preview: bool | None = None, output: bool | None = None) -> None:
        """Mirror the preview and/or the output; None leaves that one as it is."""
        view = SetView(mirror_preview=preview, mirror_output=output)
        self._update(view.apply)
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(view)

    def set_passthrough(self, enabled: bool) -> None:
        """Send the camera itself to the outputs instead of the avatar."""
        self._update(lambda s: dataclasses.replace(s, passthrough=enabled))
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(SetView(passthrough=enabled))

    def set_preview(self, overlay: float | None = None, landmarks: bool | None = None) -> None:
        """What the preview draws over the camera: the avatar's face blended in at ``overlay`` (0-1)
        and the face landmarks; None leaves one as it is. Changes no frame that leaves the app."""
        self._update(
            lambda s: dataclasses.replace(
                s,
                preview_overlay=s.preview_overlay if overlay is None else float(np.clip(overlay, 0.0, 1.0)),
                show_landmarks=s.show_landmarks if landmarks is None else landmarks,
            )
        )

    def set_auto_calibrate(self, enabled: bool) -> None:
        """Calibrate by itself whenever the driver's pose has matched the avatar's at 90 % for a
        second (``FramesReady.pose_match``)."""
        self._update(lambda s: dataclasses.replace(s, auto_calibrate=enabled))
        if (pipeline := self._pipeline) is not None:
            pipeline.inference.send(SetView(auto_calibrate=enabled))

    def set_virtual_camera(self, enabled: bool) -> None:
        """Open or close the virtual camera (``VirtualCameraChanged`` tells the outcome)."""
        camera = dataclasses.replace(self._settings.virtual_camera, enabled=enabled)
        self._update(lambda s: dataclasses.replace(s, virtual_camera=camera))
        if (pipeline := self._pipeline) is not None:
            pipeline.output.send(SetVirtualCamera(enabled))

    def start_recording(self, path: Path, microphone: str | int | None = None) -> None:
        """Record the output and the microphone (``microphone`` or ``settings.microphone``; None: the
        default input) to an MP4 file. ``RecordingChanged`` tells when it starts, how long it runs
        (about once a second) and when it ends; errors arrive as messages (key ``"recording"``)."""
        if (pipeline := self._pipeline) is None:
            self._post(MessageLevel.WARNING, "Start live mode before recording.", key="recording")
            return
        pipeline.output.send(StartRecording(Path(path), microphone or self._settings.microphone))

    def stop_recording(self) -> None:
        """Stop the recording: ``RecordingSaving`` comes while its file is finished, then
        ``RecordingChanged(path=None)`` once it is complete (never blocks the caller)."""
        if (pipeline := self._pipeline) is not None:
            pipeline.output.send(StopRecording())
