"""Make the README screenshot: the app window under Xvfb, the demo motion driving an avatar.

    .venv/bin/python tools/screenshot.py            # writes docs/screenshot.png (1280x720)
    .venv/bin/python tools/screenshot.py --out shot.png --avatar avatarify_app/resources/avatars/astronaut.png
    .venv/bin/python tools/screenshot.py --size min --engine fomm --out docs/screenshot-min-fomm.png
    .venv/bin/python tools/screenshot.py --engine fomm --checkpoint vox-cpk.pth.tar --frames 600 --out f.png

Needs Xvfb (``apt install xvfb``) and Qt's xcb libraries (see docs/gui.md). The app runs as
``avatarify gui --demo --no-virtual-camera`` with settings, data and log in a temporary folder, takes
its own screenshot of what the X server shows once frames flow, and quits. The PNG is then scaled and
reduced to a 256-colour palette so it stays small enough for the repository (under 300 KB).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2

from avatarify_app.engines import catalog

REPO_ROOT = Path(__file__).resolve().parents[1]
# The default avatar, as a first run shows it (the demo motion is the astronaut portrait).
DEFAULT_AVATAR = REPO_ROOT / "avatarify_app" / "resources" / "avatars" / "grace_hopper.jpg"
MAX_BYTES = 300_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshot.png")
    parser.add_argument("--avatar", type=Path, default=DEFAULT_AVATAR)
    parser.add_argument("--width", type=int, default=1280, help="largest width of the saved PNG, pixels")
    parser.add_argument("--size", default="1280x720", help="window size, WxH or min (default 1280x720)")
    parser.add_argument(
        "--engine",
        choices=catalog.names(),
        default=catalog.DEFAULT_ENGINE,
        help="the engine chosen in the settings",
    )
    parser.add_argument("--checkpoint", type=Path, help="the engine's checkpoint saved in the settings")
    parser.add_argument("--frames", type=int, default=100, help="frames shown before the screenshot")
    args = parser.parse_args(argv)
    if shutil.which("Xvfb") is None:
        _say("Xvfb is not installed (apt install xvfb)")
        return 2
    with tempfile.TemporaryDirectory(prefix="avatarify-screenshot-") as tmp_name:
        tmp = Path(tmp_name)
        raw = tmp / "window.png"
        with _xvfb() as display:
            status = _run_app(display, tmp, raw, args)
        if status != 0 or not raw.is_file():
            _say(f"the app failed (exit {status})")
            return 1
        size = _save_small(raw, args.out, args.width)
    _say(f"wrote {args.out} ({size / 1000:.0f} KB)" + ("" if size <= MAX_BYTES else ": too big"))
    return 0 if size <= MAX_BYTES else 1


@contextlib.contextmanager
def _xvfb() -> Iterator[str]:
    """Xvfb on a free display number it picks itself (``-displayfd``); yields ``":N"``."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        # Xvfb writes the display number when it accepts connections. The pipe stays open while it
        # runs: a write to a closed pipe (its newline may come apart from the number) would kill it.
        readable, _, _ = select.select([read_fd], [], [], 20.0)
        number = os.read(read_fd, 64).decode().strip() if readable else ""
        if not number:
            raise SystemExit("screenshot: Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        os.close(read_fd)


def _run_app(display: str, tmp: Path, out: Path, args: argparse.Namespace) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM_PLUGIN_PATH")}
    env.update(
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        PYTHONPATH=str(REPO_ROOT),
        HOME=str(tmp / "home"),
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        TMPDIR=str(tmp),
    )
    # The engine as a user's saved choice (fomm without a checkpoint: its message shows too).
    saved = f"[engine]\nname={args.engine}\n"
    if args.checkpoint is not None:
        saved += f"{args.engine}\\checkpoint={args.checkpoint.resolve()}\n"
    (tmp / "settings.ini").write_text(saved, encoding="utf-8")
    command = [
        sys.executable, "-m", "avatarify_app", "gui",
        "--settings", str(tmp / "settings.ini"), "--demo", "--no-virtual-camera",
        "--avatar", str(args.avatar.resolve()), "--window-size", args.size,
        "--screenshot", str(out), "--screenshot-frames", str(args.frames), "--quit-after", "120",
    ]  # fmt: skip
    return subprocess.run(command, env=env, cwd=tmp, timeout=180).returncode


def _save_small(raw: Path, out: Path, width: int) -> int:
    """Scale ``raw`` to ``width`` and save it as a palette PNG; returns the file size in bytes."""
    image_bgr = cv2.imread(str(raw))
    if image_bgr.shape[1] > width:
        height = round(image_bgr.shape[0] * width / image_bgr.shape[1])
        image_bgr = cv2.resize(image_bgr, (width, height), interpolation=cv2.INTER_AREA)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:  # no Pillow: a full-colour PNG, maybe bigger than MAX_BYTES
        cv2.imwrite(str(out), image_bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    else:
        rgb = Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        palette = rgb.quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG
        )
        palette.save(out, optimize=True)
    return out.stat().st_size


def _say(text: str) -> None:
    print(f"screenshot: {text}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
