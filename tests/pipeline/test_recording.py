"""Recording from the live pipeline: real mp4 files, a real PortAudio microphone (PulseAudio)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from avatarify_app.config import VirtualCameraSettings
from avatarify_app.errors import DeviceError
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.outputs.recorder import RecorderSink
from avatarify_app.pipeline.events import FramesReady, MessagePosted, RecordingChanged, RecordingSaving
from tests.fakes import EventLog, StillEngine
from tests.mp4check import assert_regular_mp4, decoded_audio
from tests.pipeline.conftest import PulseMicrophone, live_settings, write_tone_wav

REPO_ROOT = Path(__file__).resolve().parents[2]
NO_VCAM = VirtualCameraSettings(enabled=False)


def _stream_ends(path: Path) -> tuple[float, float | None, int]:
    """(end of the video, end of the audio or None, video frames) in seconds, from decoded frames."""
    with av.open(str(path)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    audio_end = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            last = None
            for frame in container.decode(audio=0):
                last = frame
            assert last is not None
            audio_end = float(last.time) + last.samples / last.sample_rate
    return times[-1] + step, audio_end, len(times)


def _record(controller, events: EventLog, path: Path, seconds: float, **kwargs) -> None:
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady))
    controller.start_recording(path, **kwargs)
    events.wait_for(lambda e: isinstance(e, RecordingChanged) and e.path == path and e.elapsed_s >= seconds)
    controller.stop_recording()
    events.wait_for(lambda e: isinstance(e, RecordingChanged) and e.path is None)
    controller.stop()
    # Stopping says "Saving" first, and the file is complete (a regular MP4) when the recording
    # is reported as ended.
    kinds = [type(e) for e in events.events if isinstance(e, RecordingSaving | RecordingChanged)]
    assert kinds[-2:] == [RecordingSaving, RecordingChanged]
    assert_regular_mp4(path, fps=30)
    assert sorted(p.name for p in path.parent.glob(f"{path.stem}*")) == [path.name]


def test_recording_with_a_real_microphone_keeps_sound_and_picture_together(
    pulse_microphone: PulseMicrophone,
    controller_factory,
    events: EventLog,
    driving_video: Path,
    media_dir: Path,
    tmp_path: Path,
) -> None:
    tone = write_tone_wav(tmp_path / "tone.wav", seconds=20)
    path = tmp_path / "live.mp4"
    controller = controller_factory(live_settings(driving_video, media_dir, virtual_camera=NO_VCAM))
    player = pulse_microphone.play(tone)
    try:
        _record(controller, events, path, seconds=4.0, microphone=pulse_microphone.device)
    finally:
        player.terminate()
        player.wait(timeout=5)

    assert not [m for m in events.messages() if "without sound" in m], events.messages()
    video_end, audio_end, frames = _stream_ends(path)
    assert audio_end is not None, "the file has no audio stream"
    assert abs(video_end - audio_end) < 0.1, f"video ends at {video_end:.3f} s, audio at {audio_end:.3f} s"
    # The frames span the time recorded (how many there are depends on how fast the machine is).
    assert video_end >= 4.0 * 0.9, video_end
    result = decoded_audio(path)
    assert result is not None
    samples, rate = result
    middle = samples[len(samples) // 4 : 3 * len(samples) // 4]
    assert np.sqrt(np.mean(middle**2)) > 0.05, "the microphone did not hear the tone played into it"
    saved = [m for m in events.messages() if m.startswith("info: Saved")]
    finished = [e for e in events.of(RecordingChanged) if e.path is None]
    assert saved == [f"info: Saved {path} ({finished[-1].elapsed_s:.0f} s)."]
    assert finished[-1].elapsed_s >= 4.0


def test_recording_without_a_microphone_is_video_only(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path
) -> None:
    def no_microphone(device, callback):
        raise DeviceError("the default microphone was not found")

    path = tmp_path / "silent.mp4"
    settings = live_settings(driving_video, media_dir, virtual_camera=NO_VCAM)
    controller = controller_factory(settings, audio_input_factory=no_microphone)
    _record(controller, events, path, seconds=1.0)

    assert "warning: Recording without sound: the default microphone was not found." in events.messages()
    video_end, audio_end, frames = _stream_ends(path)
    assert audio_end is None
    assert video_end >= 0.9, video_end
    assert decoded_audio(path) is None


def test_recording_without_portaudio_is_video_only(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails, as without the package
    path = tmp_path / "silent.mp4"
    controller = controller_factory(live_settings(driving_video, media_dir, virtual_camera=NO_VCAM))
    _record(controller, events, path, seconds=1.0)

    warnings = [m for m in events.messages() if "without sound" in m]
    assert warnings == [
        "warning: Recording without sound: no audio library found, so no microphone can be recorded "
        "(on Debian/Ubuntu: sudo apt install libportaudio2)."
    ]
    assert _stream_ends(path)[1] is None


def test_recordings_have_the_asked_size_whatever_the_engine_gives(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path
) -> None:
    """The engine returns its own frame size (fomm: the model's); the recorder scales it, once."""

    def small_engine(choice, options):
        return StillEngine(options, native=48)

    def no_microphone(device, callback):
        raise DeviceError("no microphone in this test")

    path = tmp_path / "sized.mp4"
    settings = live_settings(driving_video, media_dir, virtual_camera=NO_VCAM)
    controller = controller_factory(settings, engine_factory=small_engine, audio_input_factory=no_microphone)
    _record(controller, events, path, seconds=1.0)

    size = settings.engine_options.size
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (size, size)


def test_recording_to_a_missing_folder_is_reported(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "no" / "such" / "folder" / "out.mp4"
    controller = controller_factory(live_settings(driving_video, media_dir, virtual_camera=NO_VCAM))
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady))
    controller.start_recording(path)
    error = events.wait_for(
        lambda e: (
            isinstance(e, MessagePosted)
            and e.message.key == "recording"
            and e.message.level is MessageLevel.ERROR
        )
    )
    stopped = events.wait_for(lambda e: isinstance(e, RecordingChanged))
    seen = len(events.of(FramesReady))
    events.wait_for(lambda e: isinstance(e, FramesReady), count=seen + 3)  # live mode carries on
    controller.stop()

    assert error.message.text == (
        f"{path}: the folder {path.parent} does not exist; choose an existing folder."
    )
    assert stopped.path is None
    assert not path.exists()


def test_recording_can_run_twice_in_one_session(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path
) -> None:
    settings = live_settings(driving_video, media_dir, virtual_camera=NO_VCAM)
    controller = controller_factory(settings, audio_input_factory=_no_microphone)
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady))
    for name in ("one.mp4", "two.mp4"):
        path = tmp_path / name
        controller.start_recording(path)
        events.wait_for(
            lambda e, p=path: isinstance(e, RecordingChanged) and e.path == p and e.elapsed_s >= 0.5
        )
        controller.stop_recording()
        events.wait_for(
            lambda e, p=path: isinstance(e, RecordingChanged) and e.path is None and e.elapsed_s > 0
        )
    controller.stop()
    for name in ("one.mp4", "two.mp4"):
        assert _stream_ends(tmp_path / name)[2] >= 10


def _no_microphone(device, callback):
    raise DeviceError("no microphone")


class HeldRecorder(RecorderSink):
    """A real recorder (real file, real thread) whose finishing the test holds: its thread writes and
    finishes the whole file, then waits for ``release`` before it says it is done."""

    def __init__(self, path: Path, release: threading.Event, on_message) -> None:
        super().__init__(path, audio_input_factory=_no_microphone, on_message=on_message)
        self.release = release

    def close(self, *, wait: bool = True, on_done=None) -> None:
        def held(recorder: RecorderSink) -> None:
            assert self.release.wait(timeout=60), "the test never released the recording"
            on_done(recorder)

        super().close(wait=wait, on_done=held if on_done is not None else None)


class HeldRecordings:
    """The controller's ``recorder_factory``: one ``HeldRecorder`` per path, with its release."""

    def __init__(self) -> None:
        self.release: dict[Path, threading.Event] = {}

    def __call__(self, path: Path, microphone: str | int | None, on_message) -> RecorderSink:
        self.release[path] = threading.Event()
        return HeldRecorder(path, self.release[path], on_message)


class ThreadLog:
    """The recording events and "Saved" messages as (label, thread name), in the order they came."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, event: object) -> None:
        match event:
            case RecordingChanged(path=None):
                label = "ended"
            case RecordingChanged(path=path):
                label = f"recording {path.stem}"
            case RecordingSaving(path=path):
                label = f"saving {path.stem}"
            case MessagePosted(message=UserMessage(text=text)) if text.startswith("Saved "):
                label = f"saved {Path(text.split()[1]).stem}"
            case _:
                return
        with self._lock:
            if not self.seen or self.seen[-1][0] != label:  # "recording X" comes once a second
                self.seen.append((label, threading.current_thread().name))

    def labels(self) -> list[str]:
        with self._lock:
            return [label for label, _ in self.seen]

    def thread_of(self, label: str) -> str:
        with self._lock:
            return next(thread for seen, thread in self.seen if seen == label)


def _is_saved(path: Path):
    return lambda e: isinstance(e, MessagePosted) and e.message.text.startswith(f"Saved {path} ")


def _is_recording(path: Path | None):
    return lambda e: isinstance(e, RecordingChanged) and e.path == path


def test_a_recording_started_while_the_last_is_saving_is_never_reported_ended(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path
) -> None:
    held, log = HeldRecordings(), ThreadLog()
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    settings = live_settings(driving_video, media_dir, virtual_camera=NO_VCAM)
    controller = controller_factory(settings, recorder_factory=held)
    controller.subscribe(log)
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady))
    controller.start_recording(first)
    events.wait_for(lambda e: isinstance(e, RecordingChanged) and e.path == first and e.elapsed_s >= 0.5)
    controller.stop_recording()
    events.wait_for(lambda e: isinstance(e, RecordingSaving) and e.path == first)
    controller.start_recording(second)  # the first file is still being saved
    events.wait_for(_is_recording(second))
    assert not controller.wait_for_saving(timeout=0)

    held.release[first].set()  # the first file is done now, while the second records
    events.wait_for(_is_saved(first))
    seen = len([e for e in events.of(RecordingChanged) if e.path == second])
    events.wait_for(_is_recording(second), count=seen + 1)  # the second recording goes on
    controller.stop_recording()
    held.release[second].set()
    events.wait_for(_is_saved(second))
    controller.stop()

    assert log.labels() == [
        "recording first",
        "saving first",
        "recording second",
        "saved first",  # never "ended" while the second records
        "recording second",
        "saving second",
        "ended",
        "saved second",
    ]
    # The recorder thread only hands the news back: the output stage tells it, on its own thread.
    assert log.thread_of("saved first") == "avatarify-output"
    assert log.thread_of("ended") == "avatarify-output"
    assert controller.wait_for_saving(timeout=30)
    for path in (first, second):
        assert_regular_mp4(path, fps=30)


def test_a_file_finished_after_live_mode_stopped_is_still_reported(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path
) -> None:
    held, log = HeldRecordings(), ThreadLog()
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    settings = live_settings(driving_video, media_dir, virtual_camera=NO_VCAM)
    controller = controller_factory(settings, recorder_factory=held)
    controller.subscribe(log)
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady))
    controller.start_recording(first)
    events.wait_for(lambda e: isinstance(e, RecordingChanged) and e.path == first and e.elapsed_s >= 0.5)
    controller.stop(wait_for_saving=False)  # stops the recording; its file is still being saved
    assert not controller.wait_for_saving(timeout=0)

    held.release[first].set()  # no output stage left to tell: the recordings' owner reports it
    assert controller.wait_for_saving(timeout=30)
    assert log.labels() == ["recording first", "saving first", "ended", "saved first"]
    assert log.thread_of("saved first") == "avatarify-recorder"
    assert_regular_mp4(first, fps=30)

    # A file that finishes during the next run is told by that run's output stage, in its order.
    frames = len(events.of(FramesReady))
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady), count=frames + 1)
    controller.start_recording(second)
    events.wait_for(lambda e: isinstance(e, RecordingChanged) and e.path == second and e.elapsed_s >= 0.5)
    controller.stop(wait_for_saving=False)
    third = tmp_path / "third.mp4"
    controller.start()
    events.wait_for(lambda e: isinstance(e, FramesReady), count=len(events.of(FramesReady)) + 1)
    controller.start_recording(third)
    events.wait_for(_is_recording(third))
    held.release[second].set()
    events.wait_for(_is_saved(second))
    seen = len([e for e in events.of(RecordingChanged) if e.path == third])
    events.wait_for(_is_recording(third), count=seen + 1)  # the third recording goes on
    controller.stop_recording()
    held.release[third].set()
    events.wait_for(_is_saved(third))
    controller.stop()

    assert log.labels()[4:] == [
        "recording second",
        "saving second",
        "recording third",
        "saved second",  # reported by the new run's stage: the third recording is not "ended"
        "recording third",
        "saving third",
        "ended",
        "saved third",
    ]
    assert log.thread_of("saved second") == "avatarify-output"


def test_killed_live_recording_leaves_a_playable_file_repaired_at_the_next_start(
    controller_factory, events: EventLog, driving_video: Path, media_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the journal the next start reads
    path = tmp_path / "killed.mp4"
    command = [
        sys.executable, "-m", "avatarify_app", "live", "--video", str(driving_video),
        "--no-virtual-camera", "--record", str(path),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # one metrics line a second; "REC  3 s" once 3 s are recorded
            if "REC" in line and float(line.split("REC")[1].split()[0]) >= 3:
                break
        else:
            pytest.fail("avatarify live ended before recording 3 s")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    assert not path.exists(), "the final name is only given to a complete file"
    (partial,) = tmp_path.glob("killed.*.partial.mp4")
    video_end, _, frames = _stream_ends(partial)
    assert frames >= 30, "at least the fragments finished before the kill must decode"
    assert video_end >= 1.0

    # The next start repairs it and says so.
    controller = controller_factory(live_settings(driving_video, media_dir, virtual_camera=NO_VCAM))
    controller.repair_cut_short()
    message = events.wait_for(lambda e: isinstance(e, MessagePosted) and e.message.key == "recording")
    assert controller.wait_for_saving(timeout=30)
    repaired = tmp_path / "killed (incomplete).mp4"
    assert message.message.level is MessageLevel.WARNING
    assert message.message.text.startswith(f"{path} was cut short; the ")
    assert message.message.text.endswith(" s written are saved beside it as “killed (incomplete).mp4”.")
    assert not partial.exists()
    assert_regular_mp4(repaired, fps=30)
    assert _stream_ends(repaired)[2] == frames
