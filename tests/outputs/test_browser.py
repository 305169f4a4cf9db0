"""A real browser plays our files: headless Chromium (Debian's ``chromium``, installed by
``bootstrap.py test``) loads a finished MP4 in a ``<video>``, reports its true duration and plays it to
its end.

The browser is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ended by NUL on file descriptors 3 and 4), so no port is opened for it and every wait is
bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from avatarify_app.outputs.mp4 import Mp4Writer
from tests.mp4check import content_end, movie_header_duration

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CALL_TIMEOUT_S = 20.0
FPS = 30

# Resolves ``window.result`` once the clip has played to its end (at 4x speed, muted): the duration
# the browser gave when the metadata came, and where playback ended.
PAGE = """<!doctype html><html><body><video id="v" muted preload="metadata"></video><script>
window.result = new Promise((resolve) => {
  const video = document.getElementById("v");
  let duration = null;
  video.addEventListener("loadedmetadata", () => {
    duration = video.duration;
    video.playbackRate = 4;
    video.play().catch((e) => resolve({error: "play: " + e}));
  });
  video.addEventListener("ended", () => resolve({duration, ended: true, endedAt: video.currentTime}));
  video.addEventListener("error", () => resolve({error: video.error ? video.error.message : "error"}));
  video.src = new URLSearchParams(location.search).get("src");
});
</script></body></html>"""
# Waits for the page's promise (the page may still be loading when this is evaluated).
WAIT_FOR_RESULT = (
    "new Promise(r => { const f = () => (window.result ? window.result.then(r) : setTimeout(f, 20)); f(); })"
)


def _browser() -> str:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is missing: `python3 bootstrap.py test` installs it (APT_TEST)")
    pytest.skip("no Chromium on this machine (apt-get install chromium)")


class DevTools:
    """Headless Chromium driven over ``--remote-debugging-pipe``."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def on_fds_3_and_4() -> None:  # in the child: the pipe ends where Chromium expects them
            reader = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            writer = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(reader, 3)
            os.dup2(writer, 4)

        self.process = subprocess.Popen(
            [
                executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--mute-audio", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=on_fds_3_and_4,
        )  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method} within {CALL_TIMEOUT_S:.0f} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium exited (status {self.process.poll()})")
            self._buffer += chunk

    def play(self, page_url: str) -> dict:
        """Open ``page_url`` in a new tab and return its ``window.result``."""
        target = self.call("Target.createTarget", {"url": page_url})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            for _ in range(100):  # the first evaluations may meet about:blank being replaced
                try:
                    result = self.call(
                        "Runtime.evaluate",
                        {"expression": WAIT_FOR_RESULT, "awaitPromise": True, "returnByValue": True},
                        session,
                    )
                    return result["result"]["value"]
                except RuntimeError as exc:
                    if "context" not in str(exc):
                        raise
            raise RuntimeError("the page never settled")
        finally:
            self.call("Target.closeTarget", {"targetId": target})

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def devtools(tmp_path_factory) -> Iterator[DevTools]:
    executable = _browser()
    browser = DevTools(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        browser.call("Browser.getVersion")
    except (RuntimeError, TimeoutError) as exc:
        browser.close()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Chromium cannot run here: {exc}")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A finished 6 s clip with sound, as render and the recorder write them."""
    path = tmp_path_factory.mktemp("browser") / "clip.mp4"
    rate = 48000
    rng = np.random.default_rng(0)
    with Mp4Writer(path, size=(160, 120), fps=FPS, audio_rate=rate) as writer:
        for i in range(6 * FPS):
            writer.write_video(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), t=i / FPS)
            start, end = i * rate // FPS, (i + 1) * rate // FPS
            tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(start, end) / rate)
            writer.write_audio(tone[:, None].astype(np.float32), t=start / rate)
    return path


def _assert_plays_whole(result: dict, clip: Path) -> None:
    assert "error" not in result, result
    true = content_end(clip, FPS)
    assert abs(result["duration"] - true) <= 1 / FPS, (
        f"browser says {result['duration']} s, content {true:.3f} s"
    )
    assert abs(result["duration"] - movie_header_duration(clip)) <= 1 / FPS
    assert result["ended"]
    assert abs(result["endedAt"] - true) <= 1 / FPS, (
        f"playback ended at {result['endedAt']} s of {true:.3f} s"
    )


def test_chromium_reports_the_true_duration_and_plays_to_the_end(
    devtools: DevTools, clip: Path, tmp_path
) -> None:
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    result = devtools.play(f"{page.as_uri()}?src={clip.as_uri()}")
    _assert_plays_whole(result, clip)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on the loopback interface (as a web page or a chat app would serve it;
    Python's server answers without byte ranges, so the browser reads the file as a stream)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_chromium_reads_the_duration_from_the_header_when_the_clip_is_streamed(
    devtools: DevTools, clip: Path
) -> None:
    """Streamed, the browser cannot scan the file for its length: it takes the movie header's word
    (a fragmented file said about 1 s for a 15 s clip here)."""
    (clip.parent / "page.html").write_text(PAGE)
    with _serve(clip.parent) as base:
        result = devtools.play(f"{base}/page.html?src={base}/{clip.name}")
    _assert_plays_whole(result, clip)
