"""The recordings' owner on its own: who hears that a file is done, real recorders writing real files."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from avatarify_app.errors import DeviceError
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.outputs.recorder import RecorderSink
from avatarify_app.outputs.recordings import Recordings, outcome
from tests.mp4check import assert_regular_mp4


def _no_microphone(device, callback):
    raise DeviceError("no microphone in this test")


class Heard:
    """What the owner reported, and on which thread."""

    def __init__(self) -> None:
        self.late: list[tuple[RecorderSink, UserMessage, str]] = []
        self.handed_back: list[tuple[RecorderSink, str | None, str]] = []
        self.messages: list[UserMessage] = []

    def on_late(self, recorder: RecorderSink, message: UserMessage) -> None:
        self.late.append((recorder, message, threading.current_thread().name))

    def hand_back(self, recorder: RecorderSink, error_text: str | None) -> None:
        self.handed_back.append((recorder, error_text, threading.current_thread().name))


def _recordings(heard: Heard) -> Recordings:
    return Recordings(
        on_message=heard.messages.append, on_late=heard.on_late, audio_input_factory=_no_microphone
    )


def _record(recordings: Recordings, path: Path, frames: int = 10) -> RecorderSink:
    recorder = recordings.new(path, None, lambda message: None)
    recorder.open((64, 48), 30.0)
    for i in range(frames):
        recorder.write(np.full((48, 64, 3), 10 * i, np.uint8), t=i / 30)
    return recorder


def test_a_file_finished_with_no_stage_attached_is_reported_by_the_owner(tmp_path: Path) -> None:
    heard = Heard()
    recordings = _recordings(heard)
    path = tmp_path / "late.mp4"
    recorder = _record(recordings, path)
    recordings.finish(recorder)
    assert recordings.wait_for_saving(timeout=30)

    assert heard.handed_back == []
    ((reported, message, thread),) = heard.late
    assert reported is recorder
    assert message == UserMessage(MessageLevel.INFO, f"Saved {path} (0 s).", key="recording")
    assert thread == "avatarify-recorder"
    assert_regular_mp4(path, fps=30)


def test_a_file_finished_while_a_stage_is_attached_goes_back_to_it(tmp_path: Path) -> None:
    heard = Heard()
    recordings = _recordings(heard)
    recordings.attach(heard.hand_back)
    recorder = _record(recordings, tmp_path / "back.mp4")
    recordings.finish(recorder, "The disk is full.")
    assert recordings.wait_for_saving(timeout=30)

    assert heard.late == []
    assert [(r, text) for r, text, _ in heard.handed_back] == [(recorder, "The disk is full.")]
    # What the stage says about it, once it handles it on its own thread.
    message = outcome(recorder, "The disk is full.")
    assert message.level is MessageLevel.ERROR
    assert message.text == f"The disk is full. What was recorded until then is saved in {recorder.path}."


def test_only_the_attached_stage_detaches(tmp_path: Path) -> None:
    heard, other = Heard(), Heard()
    recordings = _recordings(heard)
    recordings.attach(heard.hand_back)
    recordings.detach(other.hand_back)  # a stage that ended after the next one attached
    recordings.finish(_record(recordings, tmp_path / "a.mp4"))
    assert recordings.wait_for_saving(timeout=30)
    assert len(heard.handed_back) == 1

    recordings.detach(heard.hand_back)
    recordings.hand_over(*heard.handed_back[0][:2])  # news that reached the stage as it ended
    assert [message.text for _, message, _ in heard.late] == [f"Saved {tmp_path / 'a.mp4'} (0 s)."]
