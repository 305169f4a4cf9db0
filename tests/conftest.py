"""Fixtures shared by every test. Area-specific fixtures live in that area's conftest.py."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

# Qt must never look for a display in tests, and must not use the Qt5 plugins that cv2 bundles.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
os.environ.pop("QT_QPA_FONTDIR", None)
os.environ.setdefault("GLOG_minloglevel", "2")

MEDIA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "media"


@pytest.fixture(scope="session", autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Logs of the runs tests start go to a temporary state folder, not the user's."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """``../shared/media``: real portraits and a real driving clip (never copied into the repo)."""
    if not MEDIA_DIR.is_dir():
        pytest.fail(f"test media not found at {MEDIA_DIR}: the repo must sit beside shared/")
    return MEDIA_DIR


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"could not read {path}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def driving_video(media_dir: Path) -> Path:
    return media_dir / "driving_mouth_open.mp4"


@pytest.fixture(scope="session")
def avatar_mona_lisa(media_dir: Path) -> np.ndarray:
    return read_rgb(media_dir / "avatar_mona_lisa.jpg")


@pytest.fixture(scope="session")
def driving_frames(media_dir: Path) -> dict[int, np.ndarray]:
    """Frames 0 (neutral), 75 (mouth half open) and 138 (mouth wide open) of the driving clip."""
    return {n: read_rgb(media_dir / "driving_frames" / f"frame_{n:03d}.png") for n in (0, 75, 138)}


@pytest.fixture(autouse=True)
def _own_logging():
    """A test that runs ``cli.main`` in-process leaves the root logger writing to that test's captured
    stderr (closed once the test ends) and to a run log: put the root logger back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    """A test must stop every thread it started (napari's check)."""
    before = set(threading.enumerate())
    yield
    leftover = []
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=2.0)
        if thread.is_alive() and not thread.daemon:
            leftover.append(thread.name)
    assert not leftover, f"threads still running after the test: {leftover}"


@pytest.fixture(autouse=True, scope="session")
def _own_user_data(tmp_path_factory):
    """The tests get their own user data folder (the journal of files being written lives there), so
    they never see nor leave notes in the real user's (child processes inherit it). Tests that look
    at the journal set their own with ``monkeypatch.setenv("XDG_DATA_HOME", ...)``."""
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("user-data"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous
