"""``avatarify live`` end to end, as a user runs it (a real process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import av

REPO_ROOT = Path(__file__).resolve().parents[2]


def _live(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "avatarify_app", "live", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_ctrl_c_stops_cleanly_and_finishes_the_recording(driving_video: Path, tmp_path: Path) -> None:
    path = tmp_path / "live.mp4"
    with _live("--video", str(driving_video), "--no-virtual-camera", "--record", str(path)) as proc:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "REC" in line and float(line.split("REC")[1].split()[0]) >= 2:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err[-2000:]
    metrics = [line for line in lines if " fps " in line and "latency p50" in line]
    assert len(metrics) >= 2, lines
    assert "face yes" in metrics[-1]
    assert out.startswith("done: ")
    assert f"saved {path}" in err
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 2 * 30 * 0.9


def test_duration_ends_live_mode(tmp_path: Path) -> None:
    with _live("--demo", "--no-virtual-camera", "--duration", "2") as proc:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "done: " in out


def test_missing_avatar_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with _live("--avatar", str(tmp_path / "me.jpg"), "--demo") as proc:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1] == f"avatarify: {tmp_path / 'me.jpg'}: no such file"
