from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from avatarify_app.errors import InputError, OutputError
from avatarify_app.outputs.audio_file import read_audio
from avatarify_app.outputs.mp4 import Mp4Writer

REPO_ROOT = Path(__file__).resolve().parents[2]


def _decode_video_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0)]


def _first_loud_audio_time(path: Path, threshold: float = 0.3) -> float | None:
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray()[0]
            loud = np.nonzero(np.abs(samples) > threshold)[0]
            if len(loud):
                return float(frame.time) + loud[0] / frame.sample_rate
    return None


def test_video_frames_round_trip_with_their_times(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with Mp4Writer(path, size=(64, 48), fps=30) as writer:
        for i in range(20):
            writer.write_video(np.full((48, 64, 3), i * 10, np.uint8), t=i / 15)  # 15 fps in a 30 fps file

    times = _decode_video_times(path)
    assert len(times) == 20
    np.testing.assert_allclose(np.diff(times), 1 / 15, atol=1e-3)


def test_default_times_follow_the_frame_rate(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with Mp4Writer(path, size=(64, 48), fps=25) as writer:
        for _ in range(10):
            writer.write_video(np.zeros((48, 64, 3), np.uint8))
        assert writer.frames_written == 10

    np.testing.assert_allclose(np.diff(_decode_video_times(path)), 1 / 25, atol=1e-3)


def test_audio_and_video_stamped_alike_stay_in_sync(tmp_path: Path) -> None:
    """A white frame and a loud beep both at t = 1 s land at the same time in the file."""
    path, rate = tmp_path / "sync.mp4", 16000
    audio = np.zeros((2 * rate, 1), np.float32)
    audio[rate : rate + rate // 10] = 0.8
    with Mp4Writer(path, size=(64, 48), fps=30, audio_rate=rate) as writer:
        for i in range(60):
            writer.write_video(np.full((48, 64, 3), 255 if i == 30 else 0, np.uint8), t=i / 30)
            block = slice(i * rate // 30, (i + 1) * rate // 30)
            writer.write_audio(audio[block], t=block.start / rate)

    (white,) = _white_frame_times(path)
    beep = _first_loud_audio_time(path)
    assert beep is not None
    assert abs(white - beep) < 0.01, f"video at {white:.3f} s, audio at {beep:.3f} s"


def _white_frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0) if f.to_ndarray(format="gray").mean() > 128]


def test_audio_gap_is_filled_with_silence_to_keep_the_clock(tmp_path: Path) -> None:
    path, rate = tmp_path / "gap.mp4", 16000
    tone = 0.8 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)
    with Mp4Writer(path, size=(64, 48), fps=30, audio_rate=rate) as writer:
        writer.write_video(np.zeros((48, 64, 3), np.uint8), t=0.0)
        writer.write_audio(np.zeros((rate // 2, 1), np.float32), t=0.0)
        writer.write_video(np.full((48, 64, 3), 255, np.uint8), t=1.0)
        writer.write_audio(tone[:, None].astype(np.float32), t=1.0)  # 0.5 s missing before it

    (white,) = _white_frame_times(path)
    beep = _first_loud_audio_time(path)
    assert beep is not None
    assert abs(beep - white) < 0.01, f"video at {white:.3f} s, audio at {beep:.3f} s"


def test_missing_folder_raises_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        Mp4Writer(tmp_path / "no" / "such" / "dir.mp4", size=(64, 48), fps=30)


def test_folder_as_path_raises_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a folder"):
        Mp4Writer(tmp_path, size=(64, 48), fps=30)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to simulate a full disk")
def test_full_disk_raises_output_error_and_closes() -> None:
    noise = np.random.default_rng(0).integers(0, 255, (30, 48, 64, 3), dtype=np.uint8)

    def record() -> None:
        with Mp4Writer("/dev/full", size=(64, 48), fps=30) as writer:
            for image in noise:
                writer.write_video(image)

    with pytest.raises(OutputError, match="disk is full"):
        record()


def test_wrong_frame_shape_is_rejected(tmp_path: Path) -> None:
    with (
        Mp4Writer(tmp_path / "x.mp4", size=(64, 48), fps=30) as writer,
        pytest.raises(ValueError, match="48, 64, 3"),
    ):
        writer.write_video(np.zeros((64, 48, 3), np.uint8))


_WRITE_FOREVER = """
import sys
import numpy as np
from avatarify_app.outputs.mp4 import Mp4Writer

writer = Mp4Writer(sys.argv[1], size=(160, 120), fps=30, audio_rate=16000)
rng = np.random.default_rng(0)
i = 0
while True:
    writer.write_video(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), t=i / 30)
    writer.write_audio(np.zeros((533, 1), np.float32), t=i / 30)
    i += 1
    if i == 75:
        print("written", flush=True)
"""


def test_killed_writer_leaves_a_playable_file(tmp_path: Path) -> None:
    path = tmp_path / "killed.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", _WRITE_FOREVER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    times = _decode_video_times(path)
    assert len(times) >= 60, "at least the fragments finished before the kill must decode"
    with av.open(str(path)) as container:
        audio_s = sum(frame.samples for frame in container.decode(audio=0)) / 16000
    assert audio_s > 1.5


def test_read_audio_of_the_driving_clip(driving_video: Path) -> None:
    result = read_audio(driving_video)
    assert result is not None
    samples, rate = result
    assert rate == 44100
    assert samples.dtype == np.float32
    assert samples.ndim == 2
    assert samples.shape[1] in (1, 2)
    assert abs(len(samples) / rate - 7.2) < 0.1


def test_read_audio_returns_none_without_an_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    with Mp4Writer(path, size=(64, 48), fps=30) as writer:
        writer.write_video(np.zeros((48, 64, 3), np.uint8))
    assert read_audio(path) is None


def test_read_audio_round_trips_what_mp4writer_wrote(tmp_path: Path) -> None:
    path, rate = tmp_path / "tone.mp4", 22050
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    with Mp4Writer(path, size=(64, 48), fps=30, audio_rate=rate, audio_channels=2) as writer:
        writer.write_video(np.zeros((48, 64, 3), np.uint8))
        writer.write_audio(np.stack([tone, tone], axis=1))
    result = read_audio(path)
    assert result is not None
    samples, got_rate = result
    assert got_rate == rate
    assert samples.shape[1] == 2
    assert abs(len(samples) - rate) < 3 * 1024  # AAC pads to whole frames
    assert 0.4 < np.abs(samples).max() < 0.6


def test_read_audio_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_audio(tmp_path / "nothing.mp4")


@pytest.mark.parametrize("clock_error", [+0.001, -0.001])
def test_audio_follows_the_shared_clock_when_the_sound_card_drifts(
    tmp_path: Path, clock_error: float
) -> None:
    """A sound card running 0.1 % fast or slow (3.6 s an hour) stays within a frame of the picture
    after a minute, because blocks carry their times on the shared clock."""
    path, rate, block = tmp_path / "drift.mp4", 16000, 160
    true_rate = rate * (1 + clock_error)  # samples the card really delivers per second
    beep_at = 59.0
    with Mp4Writer(path, size=(64, 48), fps=2, audio_rate=rate) as writer:
        n_blocks = int(60 * true_rate / block)
        for k in range(n_blocks):
            t = k * block / true_rate
            samples = np.zeros((block, 1), np.float32)
            if beep_at <= t < beep_at + 0.1:
                samples[:, 0] = 0.8 * np.sin(2 * np.pi * 440 * (t + np.arange(block) / true_rate))
            writer.write_audio(samples, t=t)
            if k % int(true_rate / block / 2) == 0:  # two frames a second, white at the beep
                frame_t = round(t * 2) / 2
                writer.write_video(
                    np.full((48, 64, 3), 255 if frame_t == beep_at else 0, np.uint8), t=frame_t
                )

    (white,) = _white_frame_times(path)
    beep = _first_loud_audio_time(path)
    assert beep is not None
    assert abs(beep - white) < 1 / 30, f"after a minute: video at {white:.3f} s, audio at {beep:.3f} s"
