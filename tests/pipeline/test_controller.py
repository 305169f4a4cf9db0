"""The live pipeline end to end: the shared clip through the real video source, real FaceMesh
tracking, and the real ``pyvirtualcam.Camera`` with an in-memory backend."""

from __future__ import annotations

import platform
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import pyvirtualcam

from avatarify_app.capture import create_source
from avatarify_app.config import SourceSpec, VirtualCameraSettings
from avatarify_app.engines import FommChoice, MeshChoice
from avatarify_app.engines.base import EngineOptions
from avatarify_app.errors import CheckpointError
from avatarify_app.frames import MessageLevel
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import (
    AvatarChanged,
    Calibrated,
    CameraPreview,
    EngineChanged,
    FramesReady,
    MessagePosted,
    PipelineState,
    StateChanged,
    VirtualCameraChanged,
)
from tests.fakes import EventLog, FakeWebcam, StillEngine, VirtualCameraLog, frame_stamp, memory_backend
from tests.pipeline.conftest import MEMORY_BACKEND, VCAM_SIZE
from tests.pipeline.conftest import live_settings as _settings


def _message(level: MessageLevel, key: str, contains: str = ""):
    def matches(event: object) -> bool:
        return (
            isinstance(event, MessagePosted)
            and event.message.level is level
            and event.message.key == key
            and contains in event.message.text
        )

    return matches


def _frames(count_after: int = 0):
    return lambda event: isinstance(event, FramesReady) and event.index >= count_after


def test_clip_reaches_the_virtual_camera_in_order(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    """What reaches the camera, in what order; how fast and how steadily is bench/pipeline.py's job
    (``output_fps``, ``output_interval_p5_p50_p95_ms``, ``stop_s``): no clock is read here."""
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    assert vcam_log.wait_for(75), events.summary()
    events.wait_for(lambda e: isinstance(e, FramesReady), count=25)  # so more than 20 were fresh
    assert vcam_log.wait_for(len(vcam_log.times) + 30)  # ... and reached the camera
    controller.stop(timeout=30.0)

    assert not [m for m in events.messages() if "Stopping took too long" in m], events.messages()
    assert controller.state is PipelineState.STOPPED
    assert [e.state for e in events.of(StateChanged)] == [
        PipelineState.STARTING, PipelineState.RUNNING, PipelineState.STOPPING, PipelineState.STOPPED,
    ]  # fmt: skip
    assert vcam_log.opened == [(VCAM_SIZE, VCAM_SIZE, 30.0)]
    assert vcam_log.closed == 1
    stamps = [frame_stamp(frame) for frame in vcam_log.frames]
    assert stamps == sorted(stamps), "frames reached the camera out of order"
    assert len(set(stamps)) > 20, "the camera got repeats only"
    indices = [e.index for e in events.of(FramesReady)]
    assert indices == sorted(set(indices)), "the inference stage processed frames out of order"
    totals = controller.totals()
    assert totals is not None
    assert 0 < totals.latency_p50_ms <= totals.latency_p95_ms < 1000
    assert totals.frames_out >= 75
    assert totals.frames_in >= totals.fresh_out
    assert not [m for m in events.messages() if m.startswith("error")]


def test_the_camera_shows_while_a_slow_engine_loads(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    loaded = threading.Event()

    def slow_engine(choice, options):  # as fomm: minutes of loading on a first run
        assert loaded.wait(60)
        return StillEngine(options)

    controller = controller_factory(_settings(driving_video, media_dir), engine_factory=slow_engine)
    controller.start()
    preview = events.wait_for(lambda e: isinstance(e, CameraPreview), count=2)
    assert not events.of(FramesReady)  # the engine has not loaded: no avatar frame yet
    loaded.set()
    first = events.wait_for(_frames())
    # A later frame comes from the capture thread after any preview it sent before the engine was ready.
    events.wait_for(_frames(first.index + 1))
    previews = len(events.of(CameraPreview))
    events.wait_for(lambda e: isinstance(e, FramesReady), count=len(events.of(FramesReady)) + 5)
    controller.stop()

    assert preview.camera.shape == (480, 480, 3)
    assert len(events.of(CameraPreview)) == previews  # none once the engine runs


def test_events_describe_the_setup(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    frame = events.wait_for(_frames())
    avatar = events.wait_for(lambda e: isinstance(e, AvatarChanged))
    engine = events.wait_for(lambda e: isinstance(e, EngineChanged))
    vcam = events.wait_for(lambda e: isinstance(e, VirtualCameraChanged))
    controller.stop()

    assert avatar.path == media_dir / "avatar_mona_lisa.jpg"
    assert avatar.image.shape == (1280, 720, 3)
    assert (engine.name, engine.device) == ("mesh", "CPU")
    assert vcam.active
    assert vcam.device == "memory-camera"
    assert frame.camera.shape == (480, 480, 3)
    assert frame.output.shape == (VCAM_SIZE, VCAM_SIZE, 3)
    assert frame.face_found
    assert frame.track.found


def test_unplugged_camera_is_retried_and_comes_back(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    webcam = FakeWebcam(driving_video, unplug_after=10, fail_opens=1)
    settings = _settings(driving_video, media_dir, source=SourceSpec(kind="camera"))
    controller = controller_factory(settings, source_factory=lambda spec: webcam)
    controller.start()

    lost = events.wait_for(_message(MessageLevel.WARNING, "camera", "stopped sending pictures"))
    events.wait_for(_message(MessageLevel.INFO, "camera", "working again"))
    frames_before = len(events.of(FramesReady))
    events.wait_for(lambda e: isinstance(e, FramesReady), count=frames_before + 10)
    controller.stop()

    assert lost.message.text == "Camera 0 stopped sending pictures: was it unplugged? Retrying…"
    assert webcam.opens >= 3  # the first open, the failed retry, the one that worked
    assert controller.state is PipelineState.STOPPED


def test_camera_that_never_opens_is_reported_and_the_pipeline_stays_up(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    webcam = FakeWebcam(Path("/nonexistent/camera.mp4"))
    settings = _settings(driving_video, media_dir, source=SourceSpec(kind="camera"))
    controller = controller_factory(
        settings, source_factory=lambda spec: webcam if spec.kind == "camera" else create_source(spec)
    )
    controller.start()
    message = events.wait_for(_message(MessageLevel.WARNING, "camera"))
    controller.set_source(SourceSpec(kind="video", path=driving_video))  # switch to a working source
    events.wait_for(_frames())
    controller.stop()

    assert "could not be opened" in message.message.text
    assert controller.settings.source.kind == "video"


def test_missing_virtual_camera_gives_the_fix_and_the_preview_keeps_running(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path
) -> None:
    if platform.system() != "Linux" or list(Path("/dev").glob("video*")):
        pytest.skip("needs Linux without any /dev/video* device, so v4l2loopback has no device to open")
    vcam = VirtualCameraSettings(width=VCAM_SIZE, height=VCAM_SIZE, backend="v4l2loopback")
    controller = controller_factory(_settings(driving_video, media_dir, virtual_camera=vcam))
    controller.start()
    changed = events.wait_for(lambda e: isinstance(e, VirtualCameraChanged))
    warning = events.wait_for(_message(MessageLevel.WARNING, "virtual_camera"))
    events.wait_for(_frames(), count=10)
    controller.stop()

    assert not changed.active
    assert changed.fix is not None
    assert 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="Avatarify"' in changed.fix
    assert warning.message.text.startswith("No virtual camera found")
    assert "The preview keeps running." in warning.message.text
    assert changed.fix in warning.message.text


def test_unknown_virtual_camera_backend_is_reported(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path
) -> None:
    controller = controller_factory(_settings(driving_video, media_dir), vcam_backend="no-such-backend")
    controller.start()
    warning = events.wait_for(_message(MessageLevel.WARNING, "virtual_camera"))
    events.wait_for(_frames(), count=5)
    controller.stop()
    assert "'no-such-backend' is not available" in warning.message.text


def test_virtual_camera_can_be_switched_off_and_on(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    events.wait_for(lambda e: isinstance(e, VirtualCameraChanged) and e.active)
    controller.set_virtual_camera(False)
    events.wait_for(lambda e: isinstance(e, VirtualCameraChanged) and not e.active)
    controller.set_virtual_camera(True)
    events.wait_for(lambda e: isinstance(e, VirtualCameraChanged) and e.active, count=2)
    controller.stop()
    assert len(vcam_log.opened) == 2
    assert vcam_log.closed == 2
    assert controller.settings.virtual_camera.enabled


def test_bad_avatar_file_keeps_the_old_avatar(
    controller_factory,
    events: EventLog,
    vcam_log: VirtualCameraLog,
    driving_video: Path,
    media_dir: Path,
    tmp_path,
) -> None:
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    events.wait_for(lambda e: isinstance(e, AvatarChanged))
    controller.set_avatar(tmp_path / "missing.jpg")
    error = events.wait_for(_message(MessageLevel.ERROR, "avatar"))
    seen = len(events.of(FramesReady))
    events.wait_for(lambda e: isinstance(e, FramesReady), count=seen + 3)
    controller.stop()

    assert error.message.text == f"{tmp_path / 'missing.jpg'}: no such file."
    assert controller.settings.avatar == media_dir / "avatar_mona_lisa.jpg"
    assert len(events.of(AvatarChanged)) == 1


def test_new_avatar_array_is_used(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    events.wait_for(lambda e: isinstance(e, AvatarChanged))
    red = np.zeros((200, 200, 3), np.uint8)
    red[..., 0] = 255
    controller.set_avatar(red)
    changed = events.wait_for(lambda e: isinstance(e, AvatarChanged), count=2)
    frame = events.wait_for(lambda e: isinstance(e, FramesReady) and e.output[64, 64, 0] == 255)
    controller.stop()
    assert changed.path is None
    assert (frame.output[64, 64] == (255, 0, 0)).all()


def test_failed_engine_switch_keeps_the_old_engine(
    events: EventLog, controller_factory, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    def engines(choice, options):
        if isinstance(choice, FommChoice):
            raise CheckpointError(f"{choice.checkpoint}: no such checkpoint file")
        return StillEngine(options)

    controller = controller_factory(_settings(driving_video, media_dir), engine_factory=engines)
    controller.start()
    events.wait_for(lambda e: isinstance(e, EngineChanged))
    controller.set_engine(FommChoice(checkpoint=Path("/nowhere/vox.pth.tar")))
    error = events.wait_for(_message(MessageLevel.ERROR, "engine"))
    seen = len(events.of(FramesReady))
    events.wait_for(lambda e: isinstance(e, FramesReady), count=seen + 3)
    controller.stop()

    assert error.message.text == "/nowhere/vox.pth.tar: no such checkpoint file."
    assert controller.settings.engine == MeshChoice()
    assert len(events.of(EngineChanged)) == 1


def test_calibrate_takes_the_current_pose(
    controller_factory,
    events: EventLog,
    vcam_log: VirtualCameraLog,
    driving_video: Path,
    media_dir: Path,
    still_engines,
) -> None:
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady) and e.face_found)
    controller.calibrate()
    calibrated = events.wait_for(lambda e: isinstance(e, Calibrated))
    controller.stop()
    assert abs(calibrated.pose.yaw) < 30
    assert still_engines[-1].is_calibrated


def test_passthrough_and_mirroring(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    events.wait_for(_frames())
    controller.set_passthrough(True)
    plain = events.wait_for(lambda e: isinstance(e, FramesReady) and e.output.shape == (480, 480, 3))
    controller.set_mirror(output=True)
    mirrored = events.wait_for(
        lambda e: isinstance(e, FramesReady) and e.output.shape == (480, 480, 3) and e.index > plain.index + 2
    )
    controller.set_passthrough(False)
    avatar = events.wait_for(
        lambda e: isinstance(e, FramesReady) and e.output.shape == (VCAM_SIZE,) * 2 + (3,)
    )
    # The output stage may still repeat the last camera frame for a moment (a busy machine): wait
    # until an avatar frame (one the engine stamped) reaches the virtual camera.
    for _ in range(300):
        with vcam_log.lock:
            sent, last = len(vcam_log.times), vcam_log.frames[-1]
        stamps = {frame_stamp(e.output) for e in events.of(FramesReady) if e.output.shape == last.shape}
        if frame_stamp(last[:, ::-1]) in stamps:
            break
        assert vcam_log.wait_for(sent + 1)
    controller.stop()

    # The preview gets the camera and the output unmirrored (its panes mirror as they draw); the
    # output stage mirrors what the sinks get, once.
    np.testing.assert_array_equal(mirrored.output, mirrored.camera)
    np.testing.assert_array_equal(plain.output, plain.camera)
    assert avatar.output.shape == (VCAM_SIZE, VCAM_SIZE, 3)
    with vcam_log.lock:
        last = vcam_log.frames[-1]
    outputs = {
        frame_stamp(e.output): e.output for e in events.of(FramesReady) if e.output.shape == last.shape
    }
    np.testing.assert_array_equal(last, outputs[frame_stamp(last[:, ::-1])][:, ::-1])
    assert controller.settings.mirror_output
    assert not controller.settings.passthrough


def test_commands_while_stopped_change_the_settings(
    driving_video: Path, media_dir: Path, events: EventLog
) -> None:
    controller = Controller(_settings(driving_video, media_dir))
    controller.subscribe(events.append)
    controller.set_mirror(preview=False)
    controller.set_strength(1.5)
    controller.set_engine(FommChoice(checkpoint=Path("vox.pth.tar")))
    controller.set_avatar(media_dir / "avatar_raphael_la_velata.jpg")
    controller.calibrate()
    controller.start_recording(Path("x.mp4"))
    controller.stop()  # not running: nothing to do

    settings = controller.settings
    assert not settings.mirror_preview
    assert settings.engine_options.strength == 1.5
    assert settings.engine == FommChoice(checkpoint=Path("vox.pth.tar"))
    assert controller.choice_for("mesh") == MeshChoice()
    assert controller.choice_for("fomm") == settings.engine
    assert settings.avatar == media_dir / "avatar_raphael_la_velata.jpg"
    assert events.messages() == [
        "warning: Start live mode before calibrating.",
        "warning: Start live mode before recording.",
    ]
    assert controller.state is PipelineState.STOPPED


def test_real_mesh_engine_animates_the_clip_live(
    events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    settings = _settings(driving_video, media_dir, engine_options=EngineOptions(size=256))
    controller = Controller(settings)  # the real engine factory: engines.create_engine(MeshChoice())
    controller.subscribe(events.append)
    controller.start()
    try:
        engine = events.wait_for(lambda e: isinstance(e, EngineChanged))
        events.wait_for(lambda e: isinstance(e, FramesReady) and e.face_found)
        controller.calibrate()
        events.wait_for(lambda e: isinstance(e, Calibrated))
        first = len(events.of(FramesReady))
        events.wait_for(lambda e: isinstance(e, FramesReady), count=first + 20)
        assert vcam_log.wait_for(20)
    finally:
        controller.stop()

    assert (engine.name, engine.device) == ("mesh", "CPU")
    outputs = [e.output for e in events.of(FramesReady)[first:]]
    assert all(o.shape == (256, 256, 3) and o.dtype == np.uint8 for o in outputs)
    assert any(not np.array_equal(outputs[0], o) for o in outputs[1:]), "the avatar never moved"
    assert not [m for m in events.messages() if m.startswith("error")], events.messages()


def test_engine_error_becomes_a_message_and_the_output_stays_alive(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    class FlakyEngine(StillEngine):
        def animate(self, image, track):
            if self.animated == 5:
                self.animated += 1
                raise RuntimeError("simulated engine bug")
            return super().animate(image, track)

    controller = controller_factory(
        _settings(driving_video, media_dir),
        engine_factory=lambda choice, options: FlakyEngine(options),
    )
    controller.start()
    error = events.wait_for(_message(MessageLevel.ERROR, "inference"))
    sent = len(vcam_log.times)
    assert vcam_log.wait_for(sent + 10)
    seen = len(events.of(FramesReady))
    events.wait_for(lambda e: isinstance(e, FramesReady), count=seen + 5)
    controller.stop()
    assert error.message.text == "Something went wrong in the inference stage; details are in the log."


def test_a_slow_engine_finishes_its_frame_when_stopped_without_a_warning(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path
) -> None:
    """fomm on a CPU takes about a second a frame: stopping waits for the frame in flight (its last
    frame's time, and half again) instead of calling the engine stuck after ``timeout``."""

    class SlowEngine(StillEngine):
        def animate(self, image, track):
            time.sleep(1.0)
            return super().animate(image, track)

    controller = controller_factory(
        _settings(driving_video, media_dir),
        engine_factory=lambda choice, options: SlowEngine(options),
    )
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady), count=2)  # a frame's time is known
    controller.stop(timeout=1.0)

    assert not [m for m in events.messages() if "Stopping took too long" in m], events.messages()
    assert controller.state is PipelineState.STOPPED


def test_failing_virtual_camera_is_dropped_and_live_mode_goes_on(
    controller_factory, events: EventLog, vcam_log: VirtualCameraLog, driving_video: Path, media_dir: Path
) -> None:
    class VanishingCamera(memory_backend(vcam_log)):
        def send(self, frame):
            if len(vcam_log.times) >= 5:
                raise RuntimeError("device removed")
            super().send(frame)

    pyvirtualcam.register_backend(MEMORY_BACKEND, VanishingCamera)  # the vcam_log fixture unregisters it
    controller = controller_factory(_settings(driving_video, media_dir))
    controller.start()
    error = events.wait_for(_message(MessageLevel.ERROR, "virtual_camera"))
    off = events.wait_for(lambda e: isinstance(e, VirtualCameraChanged) and not e.active)
    seen = len(events.of(FramesReady))
    events.wait_for(lambda e: isinstance(e, FramesReady), count=seen + 5)
    controller.stop()
    assert error.message.text == (
        "The virtual camera stopped taking frames (device removed). The preview keeps running."
    )
    assert off.fix is None
    assert vcam_log.closed == 1
    assert len(vcam_log.times) == 5
