"""Faults with real processes: ``avatarify serve`` killed mid-session and started again; a session
through a real coturn relay only (``turnserver`` on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from remote_helpers import TOKEN, drive, free_port, mesh_factory, wait_until

from avatarify_app.config import EngineOptions
from avatarify_app.engines.remote import IceSettings, RemoteEngine
from avatarify_app.engines.remote.transport import ICE_ADDRESSES_ENV

REPO_ROOT = Path(__file__).resolve().parents[3]


class ServeProcess:
    """``python -m avatarify_app serve`` in its own process; its output lines are collected."""

    def __init__(self, port: int, data_home: Path, *extra: str) -> None:
        env = {**os.environ, "XDG_DATA_HOME": str(data_home), ICE_ADDRESSES_ENV: "127.0.0.1"}
        command = [sys.executable, "-m", "avatarify_app", "serve", "--engine", "mesh", "--host", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--port", str(port), *extra],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, name="serve-output", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r}; got {self.seen}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def serve_processes() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.kill()


def test_a_killed_worker_leaves_the_avatar_at_rest_and_the_client_reconnects(
    serve_processes, tmp_path, avatar_mona_lisa, driver
) -> None:
    port = free_port()
    first = ServeProcess(port, tmp_path, "--token", TOKEN)
    serve_processes.append(first)
    start = first.wait_for_line(r"^avatarify worker: (.*)")
    assert "mesh engine on CPU (no GPU found" in start.group(1)
    command = first.wait_for_line(r"avatarify live --remote (\S+) --token (\S+) --fingerprint (\S+)")
    address, token, fingerprint = command.groups()
    assert (address, token) == (f"127.0.0.1:{port}", TOKEN)

    engine = RemoteEngine(EngineOptions(size=128), address, token, fingerprint, window=192, dead_after=1.5)
    try:
        engine.set_avatar(avatar_mona_lisa)
        drive(engine, driver, 30)
        assert engine.stats.results > 5
        rest = engine._rest
        assert rest is not None
        first.kill()
        # The output never stops: every call returns at once, the last frame and then the avatar at rest.
        outputs = drive(engine, driver, 90)
        assert any(np.array_equal(out, rest) for out, _ in outputs[-20:])
        assert not engine.connected
        assert engine.device_name == f"remote: reconnecting to {address}"

        second = ServeProcess(port, tmp_path, "--token", TOKEN)  # same certificate: same fingerprint
        serve_processes.append(second)
        again = second.wait_for_line(r"--fingerprint (\S+)")
        assert again.group(1) == fingerprint
        results = engine.stats.results

        def back() -> bool:
            drive(engine, driver, 5)
            return engine.connected and engine.stats.results > results + 5

        assert wait_until(back, timeout=60, step=0.0), engine.stats
        assert engine.stats.lost == 1
        assert engine.stats.connects == 2
        outputs = drive(engine, driver, 30)
        assert not np.array_equal(outputs[-1][0], rest)  # animated again: avatar and calibration were resent
    finally:
        engine.close()


@pytest.fixture
def coturn(tmp_path) -> Iterator[tuple[int, str, str]]:
    turnserver = shutil.which("turnserver")
    if turnserver is None:
        pytest.fail("coturn is not installed (Debian package coturn): the relay test needs turnserver")
    port = free_port()
    user, password = "avatarify", "relay-secret"
    process = subprocess.Popen(
        [
            turnserver,
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--min-port=49152",
            "--max-port=65535",
            "--lt-cred-mech",
            f"--user={user}:{password}",
            "--realm=avatarify.test",
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-tcp-relay",
            f"--pidfile={tmp_path / 'turnserver.pid'}",
            "--log-file=stdout",
            "--simple-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: _udp_port_in_use(port) or process.poll() is not None, timeout=15)
        assert process.poll() is None, "turnserver exited at start"
        yield port, user, password
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _udp_port_in_use(port: int) -> bool:
    import socket

    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def test_a_session_through_the_coturn_relay_only(
    start_worker, certificate, coturn, avatar_mona_lisa, driver
) -> None:
    port, user, password = coturn
    ice = IceSettings(
        turn=(f"turn:127.0.0.1:{port}",), turn_user=user, turn_password=password, relay_only=True
    )
    worker = start_worker(mesh_factory, ice=ice)
    engine = RemoteEngine(
        EngineOptions(size=128),
        f"127.0.0.1:{worker.port}",
        TOKEN,
        certificate.fingerprint_hex,
        ice,
        window=192,
    )
    try:
        link = engine._link
        assert link is not None
        candidates = re.findall(r"a=candidate:.* typ (\w+)", link.pc.localDescription.sdp)
        remote = re.findall(r"a=candidate:.* typ (\w+)", link.pc.remoteDescription.sdp)
        assert set(candidates) == {"relay"}, candidates
        assert set(remote) == {"relay"}, remote
        engine.set_avatar(avatar_mona_lisa)
        drive(engine, driver, 45)
        assert engine.stats.results > 10, engine.stats
    finally:
        engine.close()


def test_a_recording_goes_on_while_the_worker_is_killed_and_started_again(
    serve_processes, tmp_path, driving_video, media_dir
) -> None:
    """The live pipeline records through the remote engine; the worker dies and comes back in the
    middle: the file is whole, with frames all along (the avatar at rest while it was gone)."""
    from avatarify_app.config import VirtualCameraSettings
    from avatarify_app.pipeline.controller import Controller
    from avatarify_app.pipeline.events import FramesReady, RecordingChanged
    from tests.fakes import EventLog
    from tests.mp4check import assert_regular_mp4
    from tests.pipeline.conftest import live_settings

    port = free_port()
    first = ServeProcess(port, tmp_path, "--token", TOKEN)
    serve_processes.append(first)
    address, token, fingerprint = first.wait_for_line(
        r"avatarify live --remote (\S+) --token (\S+) --fingerprint (\S+)"
    ).groups()
    made: list[RemoteEngine] = []

    def factory(choice, options):
        made.append(RemoteEngine(options, address, token, fingerprint, window=192, dead_after=1.5))
        return made[-1]

    events = EventLog()
    settings = live_settings(driving_video, media_dir, virtual_camera=VirtualCameraSettings(enabled=False))
    controller = Controller(settings, engine_factory=factory)
    controller.subscribe(events.append)
    path = tmp_path / "live.mp4"

    def recorded(seconds: float) -> None:
        events.wait_for(
            lambda e: isinstance(e, RecordingChanged) and e.path == path and e.elapsed_s >= seconds,
            timeout=120,
        )

    try:
        controller.start()
        events.wait_for(lambda e: isinstance(e, FramesReady))
        controller.start_recording(path)
        recorded(2.0)
        engine = made[0]
        assert engine.connected
        first.kill()
        assert wait_until(lambda: not engine.connected, timeout=30)
        recorded(6.0)
        second = ServeProcess(port, tmp_path, "--token", TOKEN)
        serve_processes.append(second)
        results = engine.stats.results
        assert wait_until(lambda: engine.connected and engine.stats.results > results + 10, timeout=90)
        controller.stop_recording()
        events.wait_for(lambda e: isinstance(e, RecordingChanged) and e.path is None)
    finally:
        controller.stop()
    assert_regular_mp4(path, fps=30)
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.time) for f in container.decode(stream)]
    assert times[-1] > 7.0
    gaps = np.diff(times)
    assert gaps.max() < 0.5, f"the recording stopped for {gaps.max():.2f} s"
    assert engine.stats.lost == 1
    # The user is told, once each, that the worker went away and came back.
    told = [m for m in events.messages() if "the worker at" in m]
    assert len(told) == 2, told
    assert told[0].startswith("warning: Lost the worker at")
    assert "reconnecting" in told[0]
    assert told[1].startswith("info: Reconnected to the worker at")
