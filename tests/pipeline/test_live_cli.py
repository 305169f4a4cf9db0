"""``avatarify live`` end to end, as a user runs it (a real process, or ``main()`` for bad input).

Every process is bounded: stdout is read on a helper thread with a deadline, stderr goes to a file (a
full, unread pipe would block the child), and whatever still runs at the end is killed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from avatarify_app.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 120.0  # for anything one test waits on; reaching it fails the test, never hangs it


class LiveProcess:
    """``avatarify live ARGS`` with stdout lines on a queue and stderr in a file."""

    def __init__(self, args: tuple[str, ...], stderr_path: Path, *, ignore_sigint: bool) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w")

        def started_in_background() -> None:
            # As a script's `cmd &` starts it: SIGINT ignored. SIGHUP as a terminal leaves it (the
            # test runner itself may run under nohup, and live keeps an inherited "ignore SIGHUP").
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "avatarify_app", "live", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            preexec_fn=started_in_background if ignore_sigint else _sighup_default,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="live-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self.proc.stdout:
                self.lines.put(line)
        self.lines.put(None)

    def next_line(self, deadline: float) -> str | None:
        """The next stdout line; None at the end of output. Fails the test at ``deadline``."""
        try:
            return self.lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            pytest.fail(f"no output from live within {DEADLINE_S} s; stderr: {self.stderr()[-2000:]}")

    def rest(self, deadline: float) -> list[str]:
        lines = []
        while (line := self.next_line(deadline)) is not None:
            lines.append(line)
        return lines

    def wait(self, deadline: float) -> int:
        try:
            return self.proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            pytest.fail(f"live did not exit in time; stderr: {self.stderr()[-2000:]}")

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._reader.join(timeout=5)
        self._stderr.close()


def _sighup_default() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@contextlib.contextmanager
def live(tmp_path: Path, *args: str, ignore_sigint: bool = False) -> Iterator[LiveProcess]:
    process = LiveProcess(args, tmp_path / "stderr.txt", ignore_sigint=ignore_sigint)
    try:
        yield process
    finally:
        process.close()


def _recorded_s(line: str) -> float:
    return float(line.split("REC")[1].split()[0]) if "REC" in line else -1.0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_stop_signals_stop_cleanly_and_finish_the_recording(
    signum: signal.Signals, driving_video: Path, tmp_path: Path
) -> None:
    path = tmp_path / "live.mp4"
    deadline = time.monotonic() + DEADLINE_S
    # SIGINT ignored at start, as in a background job: live must still stop on a signal.
    with live(
        tmp_path, "--video", str(driving_video), "--no-virtual-camera", "--record", str(path),
        ignore_sigint=True,
    ) as proc:  # fmt: skip
        lines = []
        while (line := proc.next_line(deadline)) is not None:
            lines.append(line)
            if _recorded_s(line) >= 2:
                break
        proc.proc.send_signal(signum)
        lines += proc.rest(deadline)
        returncode = proc.wait(deadline)
        err = proc.stderr()

    assert returncode == 0, err[-2000:]
    metrics = [line for line in lines if " fps " in line and "latency p50" in line]
    assert len(metrics) >= 2, lines
    assert "face yes" in metrics[-1]
    assert lines[-1].startswith("done: ")
    assert f"stopping ({signum.name})" in err
    assert err.count(f"Saved {path}") == 1, err
    with av.open(str(path)) as container:
        times = [float(frame.time) for frame in container.decode(video=0)]
    # The frames span the 2 s recorded before the signal (their number depends on the machine's speed).
    assert times[-1] - times[0] >= 2.0 * 0.9, times[-5:]


def test_duration_ends_live_mode(tmp_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    with live(tmp_path, "--demo", "--no-virtual-camera", "--duration", "2") as proc:
        out = proc.rest(deadline)
        returncode = proc.wait(deadline)
        err = proc.stderr()
    assert returncode == 0, err[-2000:]
    assert out[-1].startswith("done: ")


def test_closed_stdout_stops_live_mode_quietly(tmp_path: Path) -> None:
    """``avatarify live | head -1``: the reader goes away, live mode ends without a traceback."""
    deadline = time.monotonic() + DEADLINE_S
    with live(tmp_path, "--demo", "--no-virtual-camera") as proc:
        assert proc.next_line(deadline) is not None
        assert proc.proc.stdout is not None
        proc.proc.stdout.close()
        returncode = proc.wait(deadline)
        err = proc.stderr()
    assert returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert "BrokenPipe" not in err


def test_one_frame_video_plays_as_a_still(tmp_path: Path, media_dir: Path) -> None:
    clip = tmp_path / "one.mp4"
    face = cv2.cvtColor(cv2.imread(str(media_dir / "driving_frames" / "frame_000.png")), cv2.COLOR_BGR2RGB)
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = face.shape[1], face.shape[0], "yuv420p"
        frame = av.VideoFrame.from_ndarray(face, format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    deadline = time.monotonic() + DEADLINE_S
    with live(tmp_path, "--video", str(clip), "--no-virtual-camera") as proc:
        out = []
        # Runs until the still face comes through (however long the models take to load), a few
        # loops of the one-frame clip later.
        while (line := proc.next_line(deadline)) is not None:
            out.append(line)
            if "face yes" in line and sum("face yes" in seen for seen in out) >= 2:
                break
        proc.proc.send_signal(signal.SIGTERM)
        out += proc.rest(deadline)
        returncode = proc.wait(deadline)
        err = proc.stderr()
    assert returncode == 0, err[-2000:]
    assert "Retrying" not in err
    assert "working again" not in err
    assert sum("face yes" in line for line in out) >= 2, out
    assert out[-1].startswith("done: ")


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, 0, Fraction(1, 16000)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_avatar", "no such file"),
        ("missing_camera", "Without a camera, try --demo"),
        ("empty_avatar", "not a readable image"),
        ("faceless_avatar", "No face found in the avatar image"),
        ("audio_only_video", "not a readable video"),
        ("unreadable_video", "not a readable video"),
        ("fomm_without_checkpoint", "No FOMM checkpoint"),
        ("malicious_checkpoint", "evil.pth.tar"),
        ("record_over_the_video", "names the same file as --video"),
        ("record_as_avi", "give a name ending in .mp4"),
    ],
)
def test_unusable_input_is_one_line_and_exit_2(
    case: str, expected: str, tmp_path: Path, driving_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--demo"]
    if case == "missing_camera":
        args = ["--camera", "57"]
    elif case == "missing_avatar":
        args += ["--avatar", str(tmp_path / "me.jpg")]
    elif case == "empty_avatar":
        (tmp_path / "empty.jpg").touch()
        args += ["--avatar", str(tmp_path / "empty.jpg")]
    elif case == "faceless_avatar":
        cv2.imwrite(str(tmp_path / "grey.png"), np.full((200, 200, 3), 128, np.uint8))
        args += ["--avatar", str(tmp_path / "grey.png")]
    elif case == "audio_only_video":
        args = ["--video", str(_audio_only(tmp_path / "sound.mp4"))]
    elif case == "unreadable_video":
        (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 100)
        args = ["--video", str(tmp_path / "junk.mp4")]
    elif case == "fomm_without_checkpoint":
        args += ["--engine", "fomm"]
    elif case == "malicious_checkpoint":  # a pickle that runs a command when loaded unsafely
        (tmp_path / "evil.pth.tar").write_bytes(pickle.dumps(_Payload(tmp_path / "ran")))
        args += ["--engine", "fomm", "--checkpoint", str(tmp_path / "evil.pth.tar")]
    elif case == "record_over_the_video":
        args = ["--video", str(driving_video), "--record", str(driving_video)]
    elif case == "record_as_avi":
        args += ["--record", str(tmp_path / "out.avi")]
    size = driving_video.stat().st_size

    assert main(["live", "--no-virtual-camera", *args]) == 2

    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("avatarify")]
    assert len(lines) == 1, err
    assert expected in lines[0]
    assert "Traceback" not in err
    assert driving_video.stat().st_size == size
    assert not list(tmp_path.glob("*.avi"))
    assert not (tmp_path / "ran").exists(), "the checkpoint's code ran"


@pytest.mark.parametrize("duration", ["nan", "inf", "-5", "0"])
def test_duration_must_be_a_positive_number(duration: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["live", "--demo", "--duration", duration])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--duration" in err[0]
