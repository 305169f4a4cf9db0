"""A real worker and real clients on loopback: render, live recording, token, sessions, a hostile peer,
a lossy and slow link."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from pathlib import Path

import av
import numpy as np
import pytest
from remote_helpers import SIZE, TOKEN, drive, wait_until

from avatarify_app.capture import VideoFileSource
from avatarify_app.config import EngineOptions, VirtualCameraSettings
from avatarify_app.engines import MeshChoice, create_engine
from avatarify_app.engines.remote import REFUSED
from avatarify_app.engines.remote import protocol as p
from avatarify_app.errors import DeviceError, InputError
from avatarify_app.pipeline.events import FramesReady, RecordingChanged
from avatarify_app.pipeline.rendering import Driving, render_clip
from tests.fakes import EventLog
from tests.mp4check import assert_regular_mp4
from tests.pipeline.conftest import live_settings


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_a_render_through_the_worker_matches_the_local_engine(
    start_worker, connect, driving_video, avatar_mona_lisa, tmp_path
) -> None:
    """The window geometry keeps the motion: the worker's mesh engine, fed the face window, draws what
    the local one draws from the whole frame (up to the JPEG hops)."""
    worker = start_worker()
    frames = 60
    driving = Driving("clip", lambda: VideoFileSource(driving_video, loop=False), frames, 30.0)
    remote = connect(worker, lockstep=True)
    remote.set_avatar(avatar_mona_lisa)
    assert remote.output_shape == (SIZE, SIZE)
    assert remote.device_name.startswith(f"remote: CPU at 127.0.0.1:{worker.port}")
    render_clip(remote, driving, tmp_path / "remote.mp4")
    local = create_engine(MeshChoice(), EngineOptions(size=SIZE))
    local.set_avatar(avatar_mona_lisa)
    render_clip(local, driving, tmp_path / "local.mp4")

    got, want = _frames(tmp_path / "remote.mp4"), _frames(tmp_path / "local.mp4")
    assert len(got) == len(want) == frames
    assert remote.frames_behind == 0  # lockstep: each output answers its own frame
    moving = [float(np.abs(w.astype(int) - want[0].astype(int)).mean()) for w in want]
    assert max(moving) > 2.0, "the clip should move the avatar"
    scores = [_psnr(g, w) for g, w in zip(got, want, strict=True)]
    assert min(scores) > 26.0, f"remote frames differ from the local engine's: {min(scores):.1f} dB"


def test_the_live_pipeline_records_ten_seconds_through_the_worker(
    start_worker, connect, driving_video, media_dir, tmp_path
) -> None:
    worker = start_worker()
    made = []

    def factory(choice, options):
        made.append(connect(worker, size=options.size))
        return made[-1]

    from avatarify_app.pipeline.controller import Controller

    events = EventLog()
    settings = live_settings(driving_video, media_dir, virtual_camera=VirtualCameraSettings(enabled=False))
    controller = Controller(settings, engine_factory=factory)
    controller.subscribe(events.append)
    path = tmp_path / "live.mp4"
    try:
        controller.start()
        events.wait_for(lambda e: isinstance(e, FramesReady))
        controller.start_recording(path)
        events.wait_for(
            lambda e: isinstance(e, RecordingChanged) and e.path == path and e.elapsed_s >= 10.0, timeout=120
        )
        controller.stop_recording()
        events.wait_for(lambda e: isinstance(e, RecordingChanged) and e.path is None)
    finally:
        controller.stop()
    assert_regular_mp4(path, fps=30)
    frames = _frames(path)
    assert len(frames) >= 290, len(frames)
    engine = made[0]
    assert engine.stats.results > 30, engine.stats  # new avatar frames came from the worker
    # The avatar moves (the mesh engine on the worker), not one frame repeated.
    steps = [
        float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(frames, frames[30:], strict=False)
    ]
    assert max(steps) > 2.0


def test_a_wrong_or_missing_token_is_refused_with_one_line(start_worker, connect, caplog) -> None:
    worker = start_worker()
    caplog.set_level(logging.INFO)
    with pytest.raises(DeviceError, match=REFUSED):
        connect(worker, token="not-the-token-1234")
    assert worker.worker.refused == 1
    assert "not-the-token-1234" not in caplog.text
    assert TOKEN not in caplog.text
    with pytest.raises(DeviceError, match=REFUSED):
        connect(worker, token="")  # no token at all
    assert worker.worker.refused == 2
    with pytest.raises(InputError, match="--token"):
        connect(worker, token="no spaces allowed")  # cannot be a token: said before anything is sent
    assert not worker.worker.sessions


def test_max_sessions_turns_the_next_client_away(start_worker, connect, avatar_mona_lisa, driver) -> None:
    worker = start_worker(max_sessions=2)
    first, second = connect(worker), connect(worker)
    with pytest.raises(DeviceError, match="maximum of 2 sessions"):
        connect(worker)
    for engine in (first, second):  # each session has its own avatar and calibration
        engine.set_avatar(avatar_mona_lisa)
    first.strength = 0.0
    drive(first, driver, 20)
    drive(second, driver, 20)
    assert first.stats.results > 0
    assert second.stats.results > 0
    first.close()
    assert wait_until(lambda: len(worker.worker.sessions) == 1, timeout=15)
    connect(worker)  # a freed session is served again


def _hostile_messages() -> list[bytes | str]:
    rng = random.Random(7)
    huge_jpeg = b"\xff\xd8\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03" + bytes(100)  # claims 60000 x 60000
    messages: list[bytes | str] = [
        "not json",
        json.dumps({"type": "controls", "strength": float("nan")}).replace("NaN", "1e999"),
        json.dumps({"type": "controls", "strength": 99, "eyes": 1, "mouth": 1, "head": 1}),
        json.dumps({"type": "no-such-command"}),
        json.dumps([1, 2, 3]),
        "x" * 10000,
        b"",
        b"\x00\x01",
        p.pack(p.KIND_AVATAR, {"id": 1, "i": 0, "n": 1, "bytes": len(huge_jpeg)}, huge_jpeg),
        p.pack(p.KIND_AVATAR, {"id": 2, "i": 0, "n": 1, "bytes": 50}, b"\xff\xd8" + bytes(48)),
        p.pack(p.KIND_AVATAR, {"id": 3, "i": 5, "n": 10**9}, b"x"),
        p.pack(p.KIND_CALIBRATE, {"seq": 1, "t": 0, "found": True, "size": 192, "lm": 2868}, b"\x00" * 10),
        b"F\xff\xff\xff\xff{}",
    ]
    messages += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000))) for _ in range(30)]
    return messages


def _hostile_frames() -> list[bytes]:
    far = np.full((p.NUM_LANDMARKS, 3), 32767, "<i2").tobytes()  # 1024 pixels out
    header = {
        "seq": 5,
        "t": 0.0,
        "found": True,
        "scale": 1.0,
        "x": 0,
        "y": 0,
        "size": 192,
        "fw": 640,
        "fh": 480,
    }
    return [
        p.pack(p.KIND_FRAME, {**header, "lm": len(far)}, far, b"\xff\xd8junk"),
        p.pack(p.KIND_FRAME, {**header, "scale": 1e9, "lm": 2868}, bytes(2868)),
        p.pack(p.KIND_FRAME, {**header, "lm": 2868}, bytes(2868), b"\xff\xd8\xff\xd9"),
        p.pack(p.KIND_FRAME, {**header, "lm": 2868}, bytes(2868), b"not a jpeg at all"),
        b"R" + bytes(64),
        b"garbage",
    ]


def test_a_hostile_client_neither_stops_the_worker_nor_another_session(
    start_worker, connect, avatar_mona_lisa, driver
) -> None:
    worker = start_worker()
    good = connect(worker)
    good.set_avatar(avatar_mona_lisa)
    drive(good, driver, 10)
    before = good.stats.results
    hostile = connect(worker)
    link = hostile._link
    assert link is not None

    def send_all() -> None:
        for message in _hostile_messages():
            link.control.send(message)
        for message in _hostile_frames():
            link.frames.send(message)
        for i in range(3000):  # a flood of commands
            link.control.send(p.text("controls", strength=(i % 20) / 10, eyes=1, mouth=1, head=1))

    hostile._loop.call_soon_threadsafe(send_all)
    drive(good, driver, 60)
    assert good.stats.results > before + 20, good.stats  # the other session went on
    sessions = [s for s, _ in worker.worker.sessions.values()]
    assert len(sessions) == 2
    bad = max(sessions, key=lambda s: s.bad_messages + s.dropped_commands)
    assert wait_until(lambda: bad.bad_messages >= 20, timeout=15), bad.bad_messages
    assert bad.dropped_commands > 0
    # The hostile client is still served (it might be a buggy one); and so is a newcomer.
    # Its own flood can hold its pings back long enough for it to give the link up; it then connects
    # again and sends the avatar again. Served means a result within a while, not within n frames.
    hostile.set_avatar(avatar_mona_lisa)
    deadline = time.monotonic() + 30
    while hostile.stats.results == 0 and time.monotonic() < deadline:
        drive(hostile, driver, 15)
    assert hostile.stats.results > 0, hostile.stats
    connect(worker).close()


class _Impaired:
    """Wraps aioice's ``Connection.send`` (both peers in this process): drops ``loss`` of the packets
    and delays the rest by ``delay`` seconds, without holding the sender up."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, loss: float, delay: float, seed: int = 3) -> None:
        import aioice.ice

        self.rng = random.Random(seed)
        self.loss, self.delay, self.sent, self.dropped = loss, delay, 0, 0
        original = aioice.ice.Connection.send
        impaired = self

        async def send(connection, data: bytes) -> None:
            if not impaired.active:
                return await original(connection, data)
            if impaired.rng.random() < impaired.loss:
                impaired.dropped += 1
                return None
            impaired.sent += 1
            loop = asyncio.get_running_loop()
            loop.call_later(impaired.delay, lambda: loop.create_task(_quietly(original(connection, data))))
            return None

        self.active = False
        monkeypatch.setattr(aioice.ice.Connection, "send", send)


async def _quietly(coroutine) -> None:
    with contextlib.suppress(Exception):  # a packet sent after its connection closed
        await coroutine


def test_a_slow_link_costs_latency_not_frames(
    start_worker, connect, avatar_mona_lisa, driver, monkeypatch
) -> None:
    """100 ms each way: frames are in flight (the result shown answers a frame several calls old) and
    results keep coming at the frame rate, never one round trip per frame."""
    impaired = _Impaired(monkeypatch, loss=0.0, delay=0.1)
    worker = start_worker()
    engine = connect(worker, dead_after=6.0)
    engine.set_avatar(avatar_mona_lisa)
    drive(engine, driver, 10)
    impaired.active = True
    results = engine.stats.results
    outputs = drive(engine, driver, 60)
    impaired.active = False
    assert impaired.sent > 0
    assert max(b for _, b in outputs[20:]) >= 4  # 200 ms round trip: 6 frames in flight at 30 fps
    # Lockstep would give at most 60 * 33 ms / 200 ms = 10 results.
    assert engine.stats.results - results > 20, engine.stats


def test_loss_and_delay_degrade_the_picture_but_the_session_survives(
    start_worker, connect, avatar_mona_lisa, driver, monkeypatch
) -> None:
    impaired = _Impaired(monkeypatch, loss=0.05, delay=0.1)
    worker = start_worker()
    engine = connect(worker, dead_after=6.0)
    engine.set_avatar(avatar_mona_lisa)
    drive(engine, driver, 10)
    impaired.active = True
    results = engine.stats.results
    drive(engine, driver, 90)
    assert impaired.dropped > 0
    assert engine.stats.results > results  # fewer frames get through, some do
    assert engine.connected
    assert engine.stats.lost == 0  # never taken for a lost worker
    impaired.active = False
    results = engine.stats.results
    wait_until(lambda: (engine.stats.rtt_ms or 1e9) < 150, timeout=10)
    outputs = drive(engine, driver, 30)
    assert engine.stats.results - results > 10, engine.stats  # back to normal once the link is
    assert outputs[-1][1] < 10


def test_no_worker_or_another_certificate_gets_one_line(start_worker, certificate) -> None:
    from remote_helpers import free_port

    from avatarify_app.engines.remote import RemoteEngine

    options = EngineOptions(size=SIZE)
    with pytest.raises(DeviceError, match="cannot reach the worker at 127.0.0.1"):
        RemoteEngine(
            options, f"127.0.0.1:{free_port()}", TOKEN, certificate.fingerprint_hex, connect_timeout=10
        )
    worker = start_worker()
    with pytest.raises(DeviceError, match="another certificate than --fingerprint"):
        RemoteEngine(options, f"127.0.0.1:{worker.port}", TOKEN, "ab" * 32)
    assert not worker.worker.sessions


def test_results_can_come_down_as_a_vp8_video_track(start_worker, connect, avatar_mona_lisa, driver) -> None:
    """The video downlink: each frame carries the number of the frame it answers (a strip the client
    cuts off), so frames_behind holds; the picture is the avatar."""
    worker = start_worker()
    engine = connect(worker, down="video", size=256)
    engine.set_avatar(avatar_mona_lisa)
    rest = engine._rest
    assert rest is not None
    outputs = drive(engine, driver, 60)
    assert engine.stats.results > 20, engine.stats
    assert engine.stats.bytes_down == 0  # nothing came down the data channel
    out, behind = outputs[-1]
    assert out.shape == (256, 256, 3)
    assert 0 <= behind < 30
    assert 15.0 < _psnr(out, rest) < 99.0  # the avatar, moved
    with pytest.raises(ValueError, match="lockstep"):
        connect(worker, down="video", lockstep=True)
