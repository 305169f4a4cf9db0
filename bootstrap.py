#!/usr/bin/env python3
"""Set up avatarify-app in a local virtual environment, then run it or its tests.

    python3 bootstrap.py            # set up (first time: ~2 min), then open the app window
    python3 bootstrap.py test       # set up with the test tools, then run the test suite
    python3 bootstrap.py run ARGS   # set up, then run `avatarify ARGS`, e.g. `run render --demo --out x.mp4`

Uses only the standard library, so it runs on a fresh machine. The environment lives in `.venv/` beside
this file; it is rebuilt only when pyproject.toml changes. On Debian/Ubuntu it installs the few system
libraries Qt, PortAudio and the tests need (as root, or with passwordless sudo), or prints the command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON_VERSION = (3, 11)

# Debian packages: what the app needs on Linux, and what the test suite needs on top.
APT_RUN = [
    "libportaudio2",  # sounddevice (microphone) fails to import without it
    "libpulse0",  # QtMultimedia
    "libgl1", "libegl1", "libxkbcommon0", "libxkbcommon-x11-0", "libfontconfig1", "libdbus-1-3",
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0", "libxcb-render-util0",
    "libxcb-xkb1", "libxcb-shape0", "libxcb-randr0", "libxcb-xinerama0",
]  # fmt: skip
APT_TEST = [
    "xvfb", "xauth",  # one test opens the real window on a virtual screen
    "pulseaudio", "pulseaudio-utils", "libasound2-plugins",  # a real microphone for recorder tests
    "espeak-ng", "sox",  # speech to play into it
    "desktop-file-utils",  # validates the Linux .desktop file
    "chromium",  # a real browser plays the MP4 files we write (tests/outputs/test_browser.py)
    "coturn",  # a real TURN relay on 127.0.0.1 for the remote engine's relay-only test
]  # fmt: skip


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def say(text: str) -> None:
    print(f"[bootstrap] {text}", flush=True)


def find_python() -> list[str]:
    """A command that starts Python 3.11 (the version every pinned wheel exists for)."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return [sys.executable]
    name = "python{}.{}".format(*PYTHON_VERSION)
    if shutil.which(name):
        return [name]
    if os.name == "nt" and shutil.which("py"):
        return ["py", "-{}.{}".format(*PYTHON_VERSION)]
    sys.exit(
        "bootstrap: avatarify-app needs Python {}.{} (this is {}.{}); install it from python.org or your "
        "package manager, then run this again with it.".format(*PYTHON_VERSION, *sys.version_info[:2])
    )


def apt_install(packages: list[str]) -> None:
    """Install missing Debian packages when we can; otherwise say how."""
    if not sys.platform.startswith("linux") or not shutil.which("dpkg-query"):
        return
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        say("missing system libraries; please run:\n    sudo apt-get install -y " + " ".join(missing))
        return
    say("installing system libraries: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=False, env=env)
    result = subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env
    )
    if result.returncode != 0:
        say("some system libraries could not be installed; the app will tell what is missing")


def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return "install ok installed" in result.stdout


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project (editable) with ``extras``, unless already done."""
    stamp = VENV / ".bootstrap-stamp"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    done = stamp.read_text().split() if stamp.exists() and venv_python().exists() else []
    # The stamp holds the pyproject digest and the extras installed; "[dev]" covers "".
    if done and done[0] == digest and (not extras or extras in done[1:]):
        return
    if not venv_python().exists():
        say(f"creating {VENV}")
        subprocess.run([*find_python(), "-m", "venv", str(VENV)], check=True)
    say("installing avatarify-app and its dependencies (first time: about 2 minutes)")
    pip = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    target = f".{extras}" if extras else "."
    subprocess.run([*pip, "-e", target], check=True, cwd=ROOT)
    stamp.write_text(f"{digest} {extras}".strip())


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command == "test":
        apt_install(APT_RUN + APT_TEST)
        ensure_venv("[dev]")
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        return subprocess.run([str(venv_python()), "-m", "pytest", *argv[1:]], cwd=ROOT, env=env).returncode
    if command == "run":
        argv = argv[1:]
    apt_install(APT_RUN)
    ensure_venv("")
    return subprocess.run([str(venv_python()), "-m", "avatarify_app", *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
