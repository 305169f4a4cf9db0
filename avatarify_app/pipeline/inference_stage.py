"""Inference stage: tracks the driving face and animates the avatar, one frame at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from avatarify_app.avatars import default_avatar, load_image
from avatarify_app.engines import Engine, EngineChoice, EngineOptions
from avatarify_app.errors import AvatarifyError, NoFaceError
from avatarify_app.frames import FaceTrack, Frame, MessageLevel
from avatarify_app.pipeline.controls import ControlRamp
from avatarify_app.pipeline.engine_setup import default_choice
from avatarify_app.pipeline.events import AvatarChanged, Calibrated, EngineChanged, EngineStatus, FramesReady
from avatarify_app.pipeline.faces import face_square
from avatarify_app.pipeline.queues import LatestQueue
from avatarify_app.pipeline.records import ProcessedFrame
from avatarify_app.pipeline.settings import LiveSettings
from avatarify_app.pipeline.stage import Emit, Stage, as_sentence
from avatarify_app.pipeline.stats import PipelineStats
from avatarify_app.pipeline.step import track_and_animate
from avatarify_app.tracking import FaceTracker, TrackerOptions
from avatarify_app.tracking.pose_match import AutoCalibrator, pose_match

logger = logging.getLogger(__name__)

# How long the stage waits for a frame before looking at its commands again (seconds).
FRAME_WAIT_S = 0.1
# The pose match (0-1) at which automatic calibration happens, once held for a second.
AUTO_CALIBRATION_MATCH = 0.9

# How often, at most, a change of the engine's ``device_name`` is announced (seconds).
DEVICE_STATUS_EVERY_S = 1.0
# How many driving frames the stage remembers for an engine with frames in flight (``frames_behind``).
FRAMES_REMEMBERED = 64

EngineFactory = Callable[[EngineChoice, EngineOptions], Engine]
TrackerFactory = Callable[[], FaceTracker]


@dataclass(frozen=True, slots=True)
class SetAvatar:
    """``avatar``: an image file, or an RGB uint8 (H, W, 3) array; None: the bundled default."""

    avatar: Path | np.ndarray | None


@dataclass(frozen=True, slots=True)
class SetEngine:
    """Build the engine ``choice`` names and use it; on failure the old engine stays."""

    choice: EngineChoice


@dataclass(frozen=True, slots=True)
class Calibrate:
    pass


@dataclass(frozen=True, slots=True)
class SetStrength:
    value: float


@dataclass(frozen=True, slots=True)
class SetRegions:
    """Region strengths (``EngineOptions``); None leaves one as it is."""

    eyes: float | None = None
    mouth: float | None = None
    head: float | None = None

    def apply(self, options: EngineOptions) -> EngineOptions:
        """``options`` with the strengths this command sets (the None ones left as they are)."""
        return replace(
            options,
            eyes=options.eyes if self.eyes is None else self.eyes,
            mouth=options.mouth if self.mouth is None else self.mouth,
            head=options.head if self.head is None else self.head,
        )


@dataclass(frozen=True, slots=True)
class SetView:
    """Preview/output mirroring, passthrough and automatic calibration; None leaves a setting as it is."""

    mirror_preview: bool | None = None
    mirror_output: bool | None = None
    passthrough: bool | None = None
    auto_calibrate: bool | None = None

    def apply(self, settings: LiveSettings) -> LiveSettings:
        """``settings`` with the view settings this command sets (the None ones left as they are)."""
        return replace(
            settings,
            mirror_preview=settings.mirror_preview if self.mirror_preview is None else self.mirror_preview,
            mirror_output=settings.mirror_output if self.mirror_output is None else self.mirror_output,
            passthrough=settings.passthrough if self.passthrough is None else self.passthrough,
            auto_calibrate=settings.auto_calibrate if self.auto_calibrate is None else self.auto_calibrate,
        )


class InferenceStage(Stage):
    """Takes the newest driving frame, tracks the face (FaceMesh, stream mode), animates the avatar
    with the engine and hands the result on (newest wins), emitting ``FramesReady`` for the preview.

    Owns the tracker, the engine, the avatar and the view settings; commands change them between
    frames. After a command the last frame is processed again, so a paused preview updates. Without
    a usable engine or avatar the outputs show the camera, and the user is told why.
    """

    def __init__(
        self,
        settings: LiveSettings,
        engine_factory: EngineFactory,
        inp: LatestQueue[Frame],
        out: LatestQueue[ProcessedFrame],
        stats: PipelineStats,
        stop: threading.Event,
        emit: Emit,
        tracker_factory: TrackerFactory | None = None,
        ready: threading.Event | None = None,
    ) -> None:
        super().__init__("inference", stop, emit)
        self.ready = ready or threading.Event()  # set once the tracker, engine and avatar are loaded
        self._settings = settings
        self._engine_factory = engine_factory
        self._tracker_factory = tracker_factory or (lambda: FaceTracker(TrackerOptions()))
        self._inp, self._out, self._stats = inp, out, stats
        self._tracker: FaceTracker | None = None
        self._engine: Engine | None = None
        self._avatar: np.ndarray | None = None
        self._neutral: tuple[np.ndarray, FaceTrack] | None = None  # the calibration frame, if any
        self._last: tuple[Frame, FaceTrack] | None = None
        self._given: deque[Frame] = deque(maxlen=FRAMES_REMEMBERED)  # the frames the engine was given
        self._device = ("", 0.0)  # the engine's device_name as last announced, and when
        self._face_found: bool | None = None
        self._rerun = False
        self._controls = ControlRamp(settings.engine_options)  # eased into the engine frame by frame
        # Calibrates by itself once the pose match has stayed at 90 % for a second (auto_calibrate).
        self._auto_calibration = AutoCalibrator(threshold=AUTO_CALIBRATION_MATCH, hold_s=1.0)

    # -- set-up and commands ------------------------------------------------------------------------
    def _setup(self) -> None:
        self._tracker = self._tracker_factory()
        settings = self._settings
        self._report(lambda: self._load_engine(settings.engine), key="engine")
        fallback = default_choice()
        if self._engine is None and settings.engine != fallback:
            self._report(lambda: self._load_engine(fallback), key="engine")
            if self._engine is not None:  # after the error: the window shows both, the CLI stops at it
                self._post(MessageLevel.INFO, f"Using the {fallback.name} engine instead.", key="engine")
        self._report(lambda: self._load_avatar(settings.avatar), key="avatar")
        if self._avatar is None and settings.avatar is not None:
            self._report(lambda: self._load_avatar(None), key="avatar")
            if self._avatar is not None:
                self._post(MessageLevel.INFO, "Showing the bundled avatar instead.", key="avatar")
        self.ready.set()

    def _apply(self, command: object) -> None:
        self._rerun = True
        match command:
            case SetAvatar(avatar):
                self._report(lambda: self._load_avatar(avatar), key="avatar")
            case SetEngine(choice):
                self._report(lambda: self._load_engine(choice), key="engine")
            case Calibrate():
                self._calibrate()
            case SetStrength(value):
                self._settings = replace(
                    self._settings, engine_options=replace(self._settings.engine_options, strength=value)
                )
                self._controls.set_target(self._settings.engine_options)
            case SetRegions() as regions:
                options = regions.apply(self._settings.engine_options)
                self._settings = replace(self._settings, engine_options=options)
                self._controls.set_target(options)
            case SetView() as view:
                self._settings = view.apply(self._settings)
            case _:
                raise TypeError(f"inference stage: unknown command {command!r}")

    def _report(self, action: Callable[[], None], key: str) -> None:
        """Run ``action``; a user error becomes an ERROR message about ``key``."""
        try:
            action()
        except AvatarifyError as exc:
            logger.info("%s: %s", key, exc)
            self._post(MessageLevel.ERROR, as_sentence(str(exc)), key=key)

    def _load_engine(self, choice: EngineChoice) -> None:
        """Build the engine and give it the current avatar; on failure the old engine stays."""
        engine = self._engine_factory(choice, self._settings.engine_options)
        try:
            if self._avatar is not None:
                engine.set_avatar(self._avatar)
            if self._neutral is not None:
                engine.calibrate(*self._neutral)
        except BaseException:
            engine.close()
            raise
        old, self._engine = self._engine, engine
        self._given.clear()
        self._controls.reset(self._settings.engine_options)
        if old is not None:
            old.close()
        self._settings = replace(self._settings, engine=choice)
        logger.info("engine %s ready on %s", choice.name, engine.device_name)
        self._device = (engine.device_name, time.monotonic())
        self._emit(EngineChanged(choice=choice, device=engine.device_name))

    def _load_avatar(self, avatar: Path | np.ndarray | None) -> None:
        """Read and prepare the avatar; on failure (no file, no face) the old avatar stays."""
        path: Path | None
        if isinstance(avatar, np.ndarray):
            image, path = avatar, None
        else:
            path = Path(avatar) if avatar is not None else default_avatar()
            image = load_image(path)
        if self._engine is None:
            raise AvatarifyError("no engine is loaded, so the avatar cannot be prepared")
        try:
            self._engine.set_avatar(image)
        except NoFaceError:
            if self._avatar is not None:
                self._engine.set_avatar(self._avatar)  # the engine holds one avatar: restore the old one
            raise
        self._avatar = image
        self._auto_calibration.reset()  # the pose to match has changed
        track = self._engine.avatar_track
        self._emit(AvatarChanged(image=image, track=track, path=path, face=face_square(image, track)))

    def _calibrate(self) -> None:
        if self._last is None or self._engine is None:
            self._post(
                MessageLevel.WARNING, "Nothing to calibrate on yet: wait for the camera.", "calibration"
            )
            return
        frame, track = self._last
        try:
            self._engine.calibrate(frame.image, track)
        except NoFaceError as exc:
            self._post(MessageLevel.WARNING, as_sentence(str(exc)), key="calibration")
            return
        self._neutral = (frame.image, track)
        assert track.pose is not None
        self._emit(Calibrated(pose=track.pose))

    # -- frames -------------------------------------------------------------------------------------
    def _step(self) -> None:
        frame = self._inp.get(timeout=FRAME_WAIT_S)
        if frame is None:
            rerun, self._rerun = self._rerun, False
            if rerun and self._last is not None:
                # Show the effect of a command although no new frame came (paused video, slow camera).
                old = self._last[0]
                self._process(Frame(old.image, old.index, time.monotonic()))
            return
        self._rerun = False
        self._process(frame)

    def _process(self, frame: Frame) -> None:
        assert self._tracker is not None
        settings = self._settings
        t_start = time.monotonic()
        engine = self._engine if self._avatar is not None else None
        if engine is not None:
            self._controls.apply(engine)
            self._rerun = self._rerun or self._controls.moving  # a paused picture eases too
        step = track_and_animate(
            self._tracker,
            engine,
            frame.image,
            frame.t_capture,
            passthrough=settings.passthrough,
            passthrough_when_lost=settings.passthrough_when_lost,
        )
        track, output = step.track, step.output
        answers = self._answered(frame) if step.animated else frame
        if engine is not None:
            self._tell(engine)
        self._last = (frame, track)
        self._on_face(track.found)
        t_end = time.monotonic()
        self._stats.record_inference((t_end - t_start) * 1000.0, track.found)
        processed = ProcessedFrame(
            frame, output, track, t_start, t_end, mirror=settings.mirror_output, answers=answers
        )
        if self._out.put(processed):
            self._stats.count_dropped()
        camera = frame.image  # as captured: the preview mirrors it as it draws (mirror_preview)
        match = self._pose_match(track)
        self._emit(
            FramesReady(
                camera=camera,
                output=output,
                track=track,
                face_found=track.found,
                index=frame.index,
                pose_match=match,
            )
        )
        if self._auto_calibration.update(match, t_end) and settings.auto_calibrate:
            self._calibrate()

    def _tell(self, engine: Engine) -> None:
        """Post what the engine has to say, and announce where it runs now if that changed."""
        for level, text in engine.take_notices():
            self._post(level, text, key="engine")
        device, said_at = self._device
        now = time.monotonic()
        if engine.device_name != device and now - said_at >= DEVICE_STATUS_EVERY_S:
            self._device = (engine.device_name, now)
            self._emit(EngineStatus(engine.device_name))

    def _answered(self, frame: Frame) -> Frame:
        """The driving frame the engine's newest output answers (``Engine.frames_behind``)."""
        assert self._engine is not None
        self._given.append(frame)
        behind = min(max(int(self._engine.frames_behind), 0), len(self._given) - 1)
        return self._given[-1 - behind]

    def _pose_match(self, track: FaceTrack) -> float:
        if not track.found or self._engine is None or self._avatar is None:
            return 0.0
        return pose_match(track, self._engine.avatar_track)

    def _on_face(self, found: bool) -> None:
        if found == self._face_found:
            return
        if found and self._face_found is not None:
            self._post(MessageLevel.INFO, "Face found.", key="face")
        elif not found:
            what = "shows the camera" if self._settings.passthrough_when_lost else "holds the last good frame"
            self._post(MessageLevel.WARNING, f"No face in view: the output {what}.", key="face")
        self._face_found = found

    def _teardown(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
