"""The bridge: controller events from worker threads become signals on the GUI thread; frames are
coalesced so a slow GUI only ever sees the newest one."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication

from avatarify_app.frames import FaceTrack, HeadPose, MessageLevel, UserMessage
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import (
    Calibrated,
    FramesReady,
    MessagePosted,
    PipelineState,
    RecordingChanged,
    StateChanged,
    VirtualCameraChanged,
)
from avatarify_app.pipeline.settings import LiveSettings


def _frames(index: int) -> FramesReady:
    image = np.full((4, 4, 3), index, np.uint8)
    return FramesReady(camera=image, output=image, track=FaceTrack.missing(), face_found=False, index=index)


def _from_worker(bridge: ControllerBridge, events: list[object]) -> None:
    worker = threading.Thread(target=lambda: [bridge._on_event(e) for e in events], name="test-events")
    worker.start()
    worker.join(timeout=5)


def test_frames_are_coalesced_to_the_newest(qtbot) -> None:
    bridge = ControllerBridge(Controller(LiveSettings()))
    received: list[FramesReady] = []
    bridge.frames_ready.connect(received.append)
    _from_worker(bridge, [_frames(i) for i in range(5)])  # the GUI thread is busy: nothing delivered yet
    assert received == []
    qtbot.waitUntil(lambda: len(received) == 1)
    assert received[0].index == 4
    assert bridge.frames_dropped == 4
    _from_worker(bridge, [_frames(5)])
    qtbot.waitUntil(lambda: len(received) == 2)
    assert received[1].index == 5


def test_events_arrive_in_order_on_the_gui_thread(qtbot) -> None:
    bridge = ControllerBridge(Controller(LiveSettings()))
    seen: list[tuple[str, object, bool]] = []
    gui_thread = threading.current_thread()

    def note(name: str):
        return lambda *args: seen.append((name, args, threading.current_thread() is gui_thread))

    bridge.state_changed.connect(note("state"))
    bridge.message_posted.connect(note("message"))
    bridge.calibrated.connect(note("calibrated"))
    bridge.recording_changed.connect(note("recording"))
    bridge.virtual_camera_changed.connect(note("vcam"))
    message = UserMessage(MessageLevel.INFO, "hello", key="test")
    pose = HeadPose(1.0, 2.0, 3.0)
    events = [
        StateChanged(PipelineState.RUNNING),
        MessagePosted(message),
        Calibrated(pose),
        RecordingChanged(Path("a.mp4"), 1.5),
        VirtualCameraChanged(active=False, device=None, fix="load v4l2loopback"),
    ]
    with qtbot.waitSignal(bridge.virtual_camera_changed):
        _from_worker(bridge, events)
    assert seen == [
        ("state", (PipelineState.RUNNING,), True),
        ("message", (message,), True),
        ("calibrated", (pose,), True),
        ("recording", (Path("a.mp4"), 1.5), True),
        ("vcam", (False, "", "load v4l2loopback"), True),
    ]


def test_a_closed_bridge_relays_nothing(qtbot) -> None:
    bridge = ControllerBridge(Controller(LiveSettings()))
    with qtbot.assertNotEmitted(bridge.frames_ready), qtbot.assertNotEmitted(bridge.state_changed):
        bridge.close()
        _from_worker(bridge, [_frames(1), StateChanged(PipelineState.STOPPED)])
        QCoreApplication.processEvents()  # deliver anything queued (there must be nothing)
