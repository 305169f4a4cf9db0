"""The recorder sink on its own: file zero, audio/video clock, size limit mid-recording."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np

from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.outputs.recorder import RecorderSink
from tests.mp4check import assert_regular_mp4

REPO_ROOT = Path(__file__).resolve().parents[2]


class ManualMicrophone:
    """An ``AudioInput`` whose blocks the test pushes by hand (no driver thread)."""

    rate = 16000
    channels = 1
    name = "manual"

    def __init__(self, device, callback) -> None:
        self.device = device
        self.push = callback
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_picture_and_sound_share_the_first_frame_as_zero(tmp_path: Path) -> None:
    microphones: list[ManualMicrophone] = []

    def factory(device, callback):
        microphones.append(ManualMicrophone(device, callback))
        return microphones[-1]

    path = tmp_path / "rec.mp4"
    sink = RecorderSink(path, microphone="mic", audio_input_factory=factory)
    sink.open((65, 49), 30.0)  # odd sizes are padded to even ones by the writer
    (mic,) = microphones
    t0 = 1000.0  # the monotonic clock's value at the first frame
    rate, block = mic.rate, 160
    for k in range(-10, 200):  # 2 s of sound, starting 0.1 s before the first frame
        t = t0 + k * block / rate
        samples = np.zeros((block, 1), np.float32)
        if 1.0 <= k * block / rate < 1.1:
            samples[:, 0] = 0.8 * np.sin(2 * np.pi * 440 * np.arange(block) / rate)
        mic.push(samples, t)
    for i in range(60):
        sink.write(np.full((49, 65, 3), 255 if i == 30 else 0, np.uint8), t0 + i / 30)
    assert abs(sink.elapsed_s - 2.0) < 1e-6
    sink.close()

    assert mic.closed
    assert mic.device == "mic"
    with av.open(str(path)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (66, 50)
        white = [float(f.time) for f in container.decode(video=0) if f.to_ndarray(format="gray").mean() > 128]
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    beep = next(
        float(f.time) + np.nonzero(np.abs(f.to_ndarray()[0]) > 0.3)[0][0] / rate
        for f in frames
        if (np.abs(f.to_ndarray()[0]) > 0.3).any()
    )
    assert abs(beep - white[0]) < 0.01, f"video at {white[0]:.3f} s, audio at {beep:.3f} s"


def test_frames_of_another_size_are_letterboxed(tmp_path: Path) -> None:
    path = tmp_path / "sizes.mp4"
    sink = RecorderSink(path, record_audio=False)
    sink.open((64, 64), 30.0)
    sink.write(np.zeros((64, 64, 3), np.uint8), 0.0)
    sink.write(np.full((32, 64, 3), 255, np.uint8), 1 / 30)
    sink.close()
    with av.open(str(path)) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(images) == 2
    assert images[1][32, 32].mean() > 200  # the middle band is the white image
    assert images[1][4, 32].mean() < 30  # the bars are black


def test_missing_microphone_gives_a_warning_message(tmp_path: Path) -> None:
    from avatarify_app.errors import DeviceError

    messages: list[UserMessage] = []

    def no_microphone(device, callback):
        raise DeviceError("microphone 'USB' was not found")

    sink = RecorderSink(
        tmp_path / "x.mp4", microphone="USB", audio_input_factory=no_microphone, on_message=messages.append
    )
    sink.open((64, 64), 30.0)
    sink.write(np.zeros((64, 64, 3), np.uint8), 0.0)
    sink.close()
    assert messages == [
        UserMessage(
            MessageLevel.WARNING, "Recording without sound: microphone 'USB' was not found.", key="recording"
        )
    ]
    assert not sink.has_audio


_RECORD_UNTIL_FULL = """
import resource, signal, sys, threading
import numpy as np
from avatarify_app.errors import OutputError
from avatarify_app.outputs.recorder import RecorderSink

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))
sink = RecorderSink(sys.argv[1], record_audio=False)
sink.open((160, 120), 30.0)
rng = np.random.default_rng(0)
tick = threading.Event()
for i in range(3000):
    try:
        sink.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), i / 30)
    except OutputError as exc:
        print("stopped:", exc, flush=True)
        break
    tick.wait(0.005)  # about the output thread's pace, so the encoder keeps up
sink.close()
"""


def test_recording_that_hits_the_size_limit_stops_and_stays_playable(tmp_path: Path) -> None:
    path = tmp_path / "full.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _RECORD_UNTIL_FULL, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (partial,) = tmp_path.glob("full.*.partial.mp4")
    assert f"stopped: {path}: the file reached the size limit; what was written is kept in {partial}" in (
        result.stdout
    )
    assert not path.exists()
    assert partial.stat().st_size <= 150_000
    with av.open(str(partial)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 5


def test_close_without_waiting_finishes_the_file_on_the_recorder_thread(tmp_path: Path) -> None:
    """The output thread never waits for the finishing step: ``close(wait=False)`` returns at once and
    ``on_done`` comes from the recorder thread once the regular MP4 is in place."""
    path = tmp_path / "rec.mp4"
    sink = RecorderSink(path, record_audio=False)
    sink.open((64, 64), 30.0)
    for i in range(45):
        sink.write(np.zeros((64, 64, 3), np.uint8), i / 30)
    done: list[tuple[str, bool, bool]] = []
    sink.close(
        wait=False,
        on_done=lambda s: done.append((threading.current_thread().name, s.complete, path.exists())),
    )
    assert sink.wait(timeout=30)
    assert done == [("avatarify-recorder", True, True)]
    assert_regular_mp4(path, fps=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]
