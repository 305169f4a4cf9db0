"""The real app on a real X server (Xvfb): ``avatarify gui`` in a subprocess with Qt's xcb platform,
the demo motion driving the avatar, and a screenshot of what the X server shows."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings

from avatarify_app.gui.settings import SettingsStore

REPO_ROOT = Path(__file__).resolve().parents[2]
XVFB_START_TIMEOUT_S = 20.0
APP_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def xvfb_display() -> Iterator[str]:
    """A running Xvfb on a display number it picks itself (``-displayfd``), as ``":N"``."""
    if not sys.platform.startswith("linux"):
        pytest.skip("Xvfb is an X11 server for Linux")
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed: apt install xvfb")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        # Xvfb writes the display number to the pipe once it accepts connections.
        readable, _, _ = select.select([read_fd], [], [], XVFB_START_TIMEOUT_S)
        number = os.read(read_fd, 64).decode().strip() if readable else ""
        if not number:
            server.kill()
            _, err = server.communicate(timeout=10)
            pytest.skip(f"Xvfb could not start here: {err.decode(errors='replace').strip()[-300:]}")
        yield f":{number}"
    finally:
        os.close(read_fd)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.mark.slow
def test_window_on_a_real_x_server(xvfb_display: str, tmp_path: Path) -> None:
    screenshot = tmp_path / "window.png"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")
    }
    env.update(
        DISPLAY=xvfb_display,
        QT_QPA_PLATFORM="xcb",
        PYTHONPATH=str(REPO_ROOT),
        # Keep the app's data, settings, videos and log inside the test's folder.
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        TMPDIR=str(tmp_path),
    )
    command = [
        sys.executable, "-m", "avatarify_app", "gui",
        "--settings", str(tmp_path / "settings.ini"),
        "--demo", "--no-virtual-camera",
        "--screenshot", str(screenshot), "--quit-after", "90",
    ]  # fmt: skip
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=APP_TIMEOUT_S
    )
    assert result.returncode == 0, f"the app failed (exit {result.returncode}):\n{result.stderr[-3000:]}"
    saved = SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)).load()
    assert saved.source.kind == "camera", "--demo is for one run: the saved source stays the camera"
    assert saved.virtual_camera.enabled, "--no-virtual-camera is for one run"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    image_bgr = cv2.imread(str(screenshot))
    assert image_bgr is not None, "no screenshot was saved"
    layout = json.loads(screenshot.with_name(screenshot.name + ".layout.json").read_text())
    assert list(image_bgr.shape[1::-1]) == layout["window"]
    for pane in ("camera_pane", "output_pane"):
        x, y, w, h = layout[pane]
        assert w > 100, f"the {pane} is too small: {layout[pane]}"
        assert h > 100, f"the {pane} is too small: {layout[pane]}"
        region = image_bgr[y : y + h, x : x + w].astype(np.float32)
        assert region.std() > 20, f"the {pane} looks blank on the X server (std {region.std():.1f})"
        # Not the pane's dark background: most pixels are picture.
        background = np.all(np.abs(region - np.array([28, 24, 24])) < 6, axis=2).mean()
        assert background < 0.2, f"{background:.0%} of the {pane} is background"
