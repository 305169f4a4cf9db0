"""Soak the real app window: run it for N minutes and print JSON (RSS, fps, refcounts, exit status).

The window runs in a child process exactly as ``avatarify gui --demo --no-virtual-camera`` runs it
(``gui.app.run_gui``, the demo motion driving the default avatar, settings in a temporary file), on
Qt's offscreen platform or, with ``--xvfb``, on a real X server (Xvfb). Every ``--sample-s`` seconds
the child notes its resident memory, the frames the preview showed, and ``sys.getrefcount`` of
None, True and False (PySide6 6.12.0 lost a reference to them on every call from C++ into a Python
override, and the window aborted after about two minutes). At the end the window closes itself; the
child's exit status is reported (0 expected: the abort also hit interpreter shutdown), and then
``--closes`` short runs check that closing gives status 0 every time.

    python bench/gui_soak.py --minutes 5 [--sample-s 10] [--closes 5] [--xvfb]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the window runs (default: 5)")
    parser.add_argument("--sample-s", type=float, default=10.0, help="sampling period (default: 10 s)")
    parser.add_argument("--closes", type=int, default=5, help="short runs that check closing (default: 5)")
    parser.add_argument("--close-after-s", type=float, default=8.0, help="length of each short run")
    parser.add_argument("--xvfb", action="store_true", help="use a real X server (Xvfb) instead of offscreen")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # internal: run the window here
    args = parser.parse_args()
    if args.child is not None:
        raise SystemExit(_child(args.child, args.minutes * 60.0, args.sample_s))

    with tempfile.TemporaryDirectory(prefix="avatarify-soak-") as tmp, _display(args.xvfb) as env:
        samples_path = Path(tmp) / "samples.jsonl"
        status, wall_s = _run_child(samples_path, args.minutes, args.sample_s, env)
        text = samples_path.read_text() if samples_path.exists() else ""  # none if the window never opened
        samples = [json.loads(line) for line in text.splitlines() if line.strip()]
        closes = []
        for i in range(args.closes):
            close_status, _ = _run_child(Path(tmp) / f"close{i}.jsonl", args.close_after_s / 60, 1.0, env)
            closes.append(close_status)
    print(json.dumps(_summary(args, status, wall_s, samples, closes), indent=2))


def _summary(args: argparse.Namespace, status: int, wall_s: float, samples: list[dict], closes: list[int]):
    import PySide6

    result: dict[str, object] = {
        "benchmark": "gui_soak",
        "platform": "xcb (Xvfb)" if args.xvfb else "offscreen",
        "pyside6": PySide6.__version__,
        "minutes": args.minutes,
        "exit_status": status,
        "wall_s": round(wall_s, 1),
        "close_statuses": closes,
        "all_closes_ok": all(code == 0 for code in closes),
        "samples": len(samples),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }
    if len(samples) >= 2:
        t = np.array([s["t_s"] for s in samples])
        rss = np.array([s["rss_mb"] for s in samples])
        frames = np.array([s["frames_shown"] for s in samples])
        fps = (np.diff(frames) / np.maximum(np.diff(t), 1e-6))[:-1]  # the last spans the closing
        fps = fps if len(fps) else np.zeros(1)
        later = t >= 60.0
        result.update(
            {
                "rss_start_mb": round(float(rss[0]), 1),
                "rss_end_mb": round(float(rss[-1]), 1),
                "rss_after_first_minute_mb": round(float(rss[later][0]), 1) if later.any() else None,
                "rss_slope_after_first_minute_mb_per_min": (
                    round(float(np.polyfit(t[later] / 60, rss[later], 1)[0]), 3) if later.sum() >= 3 else None
                ),
                "preview_fps_mean": round(float(frames[-1] - frames[0]) / float(t[-1] - t[0]), 2),
                "preview_fps_min": round(float(fps.min()), 2),
                "frames_shown": int(frames[-1]),
            }
        )
        for name in ("None", "True", "False"):  # after the first minute: start-up imports add references
            counts = np.array([s["refcounts"][name] for s in samples])
            result[f"refcount_{name}_first_last"] = [int(counts[0]), int(counts[-1])]
            result[f"refcount_{name}_drift_per_min_after_first_minute"] = (
                round(float(np.polyfit(t[later] / 60, counts[later], 1)[0]), 1) if later.sum() >= 3 else None
            )
    return result


def _run_child(samples_path: Path, minutes: float, sample_s: float, env: dict[str, str]) -> tuple[int, float]:
    command = [
        sys.executable, __file__, "--child", str(samples_path),
        "--minutes", str(minutes), "--sample-s", str(sample_s),
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(
        command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        timeout=minutes * 60 + 180,
    )  # fmt: skip
    if proc.returncode != 0:
        print(f"window run exited with {proc.returncode}:\n{proc.stderr[-2000:]}", file=sys.stderr)
    return proc.returncode, time.monotonic() - started


class _display:
    """The environment for the child: offscreen Qt, or a private Xvfb (stopped on exit)."""

    def __init__(self, xvfb: bool) -> None:
        self.xvfb = xvfb
        self.server: subprocess.Popen | None = None
        self.read_fd: int | None = None

    def __enter__(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        if not self.xvfb:
            env["QT_QPA_PLATFORM"] = "offscreen"
            return env
        if shutil.which("Xvfb") is None:
            raise SystemExit("Xvfb is not installed (apt install xvfb)")
        read_fd, write_fd = os.pipe()
        self.server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        self.read_fd = read_fd  # open while the server runs: Xvfb dies if it cannot finish its line
        readable, _, _ = select.select([read_fd], [], [], 20)
        number = os.read(read_fd, 64).decode().strip() if readable else ""
        if not number:
            raise SystemExit("Xvfb did not start")
        env.update({"DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"})
        return env

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
        if self.read_fd is not None:
            os.close(self.read_fd)


def _child(samples_path: Path, seconds: float, sample_s: float) -> int:
    """Run the window for ``seconds``, appending a JSON line per sample to ``samples_path``."""
    import cv2  # noqa: F401  (first, as run_gui does: the Qt variables it sets are removed below)

    from avatarify_app.gui.app import GuiOptions, clean_qt_environment, run_gui

    clean_qt_environment()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from avatarify_app.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])  # run_gui uses this one
    t0 = time.monotonic()
    out = samples_path.open("a", encoding="utf-8")

    def sample() -> None:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
        gc.collect()
        record = {
            "t_s": round(time.monotonic() - t0, 2),
            "rss_mb": round(_rss_mb(), 2),
            "frames_shown": windows[0].preview.frames_shown if windows else 0,
            "refcounts": {
                "None": sys.getrefcount(None),
                "True": sys.getrefcount(True),
                "False": sys.getrefcount(False),
            },
        }
        out.write(json.dumps(record) + "\n")
        out.flush()

    timer = QTimer()
    timer.timeout.connect(sample)
    timer.start(round(sample_s * 1000))
    QTimer.singleShot(0, sample)
    with tempfile.TemporaryDirectory(prefix="avatarify-soak-settings-") as tmp:
        options = GuiOptions(
            settings_file=Path(tmp) / "settings.ini", quit_after_s=seconds, demo=True, virtual_camera=False
        )
        status = run_gui(options)
    timer.stop()
    sample()
    out.close()
    return status


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


if __name__ == "__main__":
    main()
