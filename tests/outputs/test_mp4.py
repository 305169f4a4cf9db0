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
from avatarify_app.outputs import journal
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.outputs.repair import repair_abandoned
from tests.mp4check import assert_regular_mp4, decoded_audio, movie_header_duration, top_level_boxes

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


def test_read_only_folder_raises_output_error_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes")
        with pytest.raises(OutputError, match="not allowed to write here"):
            Mp4Writer(folder / "clip.mp4", size=(64, 48), fps=30)
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


def test_folder_as_path_raises_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a folder"):
        Mp4Writer(tmp_path, size=(64, 48), fps=30)


def test_wrong_frame_shape_is_rejected(tmp_path: Path) -> None:
    with (
        Mp4Writer(tmp_path / "x.mp4", size=(64, 48), fps=30) as writer,
        pytest.raises(InputError, match=r"the video frame must be an RGB image of shape \(48, 64, 3\)"),
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


def test_killed_writer_leaves_a_playable_partial_file_that_is_repaired(tmp_path: Path, monkeypatch) -> None:
    """SIGKILL mid-way: the final name stays free, the partial file decodes, and the repair run at the
    next start makes it a regular MP4 named as incomplete."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = tmp_path / "killed.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", _WRITE_FOREVER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    assert not path.exists()
    (partial,) = tmp_path.glob("killed.*.partial.mp4")
    times = _decode_video_times(partial)
    assert len(times) >= 60, "at least the fragments finished before the kill must decode"
    with av.open(str(partial)) as container:
        audio_s = sum(frame.samples for frame in container.decode(audio=0)) / 16000
    assert audio_s > 1.5

    (outcome,) = repair_abandoned()
    assert outcome.error is None
    assert outcome.repaired is not None
    repaired = tmp_path / "killed (incomplete).mp4"
    assert outcome.repaired.path == repaired
    assert not partial.exists()
    assert_regular_mp4(repaired, fps=30)
    assert _decode_video_times(repaired) == times
    assert repair_abandoned() == []  # the note is gone


def _write_clip(
    path: Path, seconds: float, fps: float = 30, rate: int | None = 48000, shade: int = 0
) -> None:
    with Mp4Writer(path, size=(64, 48), fps=fps, audio_rate=rate) as writer:
        for i in range(round(seconds * fps)):
            writer.write_video(np.full((48, 64, 3), (shade + i * 7) % 256, np.uint8), t=i / fps)
            if rate is not None:
                start, end = round(i * rate / fps), round((i + 1) * rate / fps)
                writer.write_audio(np.zeros((end - start, 1), np.float32), t=start / rate)


@pytest.mark.parametrize(("fps", "rate"), [(30, 48000), (25, None), (24, 16000)])
def test_finished_file_is_a_regular_mp4_with_its_true_duration(tmp_path: Path, fps: float, rate) -> None:
    path = tmp_path / "clip.mp4"
    _write_clip(path, seconds=4.0, fps=fps, rate=rate)

    assert_regular_mp4(path, fps=fps)
    assert abs(movie_header_duration(path) - 4.0) <= 1 / fps + 1024 / (rate or 48000)  # + AAC priming
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"], "temporary files left behind"
    assert not list(journal.journal_dir().glob("clip.*")), "the journal still lists the file"


def test_final_name_holds_the_old_file_until_the_new_one_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write_clip(path, seconds=1.0, rate=None, shade=0)
    before = path.read_bytes()
    writer = Mp4Writer(path, size=(64, 48), fps=30)
    for i in range(45):
        writer.write_video(np.full((48, 64, 3), 200, np.uint8), t=i / 30)
    assert path.read_bytes() == before
    assert writer.partial_path.parent == tmp_path
    assert writer.partial_path.name.endswith(".partial.mp4")
    writer.close()
    assert writer.complete
    assert writer.kept_path is None
    assert len(_decode_video_times(path)) == 45
    assert not writer.partial_path.exists()


def test_two_writers_to_one_path_leave_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    first = Mp4Writer(path, size=(64, 48), fps=30)
    second = Mp4Writer(path, size=(64, 48), fps=30)
    assert first.partial_path != second.partial_path
    for i in range(60):
        first.write_video(np.zeros((48, 64, 3), np.uint8), t=i / 30)
        if i < 40:
            second.write_video(np.full((48, 64, 3), 255, np.uint8), t=i / 30)
    second.close()
    first.close()  # the last one to finish holds the name
    assert len(_decode_video_times(path)) == 60
    assert_regular_mp4(path, fps=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize("size", [(65, 49), (64, 49), (65, 48), (1, 1)])
def test_odd_sizes_are_padded_by_their_edge_pixels(tmp_path: Path, size: tuple[int, int]) -> None:
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : max(1, width // 2)] = (250, 30, 30)
    image[:, -4:] = (30, 250, 30)  # the right edge is green: the padding repeats it
    image[-4:, :] = (30, 30, 250)  # the bottom edge is blue
    path = tmp_path / "odd.mp4"
    with Mp4Writer(path, size=size, fps=30) as writer:
        for i in range(3):
            writer.write_video(image, t=i / 30)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (width + width % 2, height + height % 2)
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    # H.264 blurs colours a little at block edges; compare the picture where it is flat.
    if width >= 8 and height >= 8:
        np.testing.assert_allclose(decoded[height // 2, 2], (250, 30, 30), atol=40)
        np.testing.assert_allclose(decoded[height // 2, -1], (30, 250, 30), atol=40)  # padding or edge
        np.testing.assert_allclose(decoded[-1, width // 2 + 4], (30, 30, 250), atol=40)


def test_an_error_inside_with_keeps_the_partial_file_and_never_the_final_name(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with pytest.raises(KeyboardInterrupt), Mp4Writer(path, size=(64, 48), fps=30) as writer:  # noqa: PT012
        for i in range(50):
            writer.write_video(np.zeros((48, 64, 3), np.uint8), t=i / 30)
        raise KeyboardInterrupt
    assert not path.exists()
    assert writer.kept_path == writer.partial_path
    assert not writer.complete
    assert len(_decode_video_times(writer.kept_path)) == 50


def test_discard_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with Mp4Writer(path, size=(64, 48), fps=30) as writer:
        writer.write_video(np.zeros((48, 64, 3), np.uint8))
        writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_device_or_pipe_is_never_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="is not a regular file"):
        Mp4Writer(fifo, size=(64, 48), fps=30)
    assert fifo.is_fifo()


_WRITE_WITH_A_SIZE_LIMIT = """
import resource, signal, sys
import numpy as np
from avatarify_app.errors import OutputError
from avatarify_app.outputs.mp4 import Mp4Writer

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG (a full disk)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
rng = np.random.default_rng(0)
writer = None
try:
    writer = Mp4Writer(sys.argv[1], size=(160, 120), fps=30)
    for i in range(600):
        writer.write_video(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), t=i / 30)
    writer.close()
except OutputError as exc:
    print("stopped:", exc)
    print("kept:", writer.kept_path if writer is not None else None)
    print("error:", type(exc).__name__, "kept", exc.kept)
"""


def _write_with_a_size_limit(path: Path, limit: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _WRITE_WITH_A_SIZE_LIMIT, str(path), str(limit)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_a_disk_full_before_the_first_frame_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    out = _write_with_a_size_limit(path, limit=100)  # not even the header fits
    assert f"stopped: {path}: the file reached the size limit; nothing was written" in out
    assert "error: DiskFullError kept None" in out
    assert list(tmp_path.iterdir()) == []


def test_a_disk_full_mid_way_keeps_a_playable_partial_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    out = _write_with_a_size_limit(path, limit=200_000)
    (partial,) = tmp_path.glob("clip.*.partial.mp4")
    assert f"stopped: {path}: the file reached the size limit; what was written is kept in {partial}" in out
    assert f"kept: {partial}" in out
    assert f"error: DiskFullError kept {partial}" in out  # the error carries what was kept
    assert not path.exists()
    assert partial.stat().st_size <= 200_000
    assert len(_decode_video_times(partial)) >= 10  # noise: about 8 kB a frame
    assert "moof" in top_level_boxes(partial)


def test_stereo_audio_round_trips(tmp_path: Path) -> None:
    path, rate = tmp_path / "tone.mp4", 22050
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    with Mp4Writer(path, size=(64, 48), fps=30, audio_rate=rate, audio_channels=2) as writer:
        writer.write_video(np.zeros((48, 64, 3), np.uint8))
        writer.write_audio(np.stack([tone, tone], axis=1))
    result = decoded_audio(path)
    assert result is not None
    samples, got_rate = result
    assert got_rate == rate
    assert samples.shape[1] == 2
    assert abs(len(samples) - rate) < 3 * 1024  # AAC pads to whole frames
    assert 0.4 < np.abs(samples).max() < 0.6


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
