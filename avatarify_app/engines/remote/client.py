"""``RemoteEngine``: an engine that runs on another machine (``avatarify serve``), over WebRTC.

The app keeps tracking, calibration policy, recording and the virtual camera; this engine sends the
driver's face window up and shows what comes down. It never waits for the network in ``animate``:
each call hands the newest frame to the connection's own asyncio thread and returns the newest result
received (``frames_behind`` says how many calls ago its frame was given), so a long round trip costs
latency, not frame rate. The worker's certificate is pinned by its SHA-256 fingerprint, the token
goes with the signalling request over that HTTPS connection, and WebRTC's DTLS encrypts the data
channels.

Faults: a lost worker (no answer for ``dead_after`` seconds) leaves the last frame, then the avatar
at rest, while the connection is made again every ``retry_every`` seconds; the avatar, the
calibration frame and the controls are sent again once the worker is back. A refused token and an
unreachable worker at start raise ``DeviceError``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from avatarify_app.config import EngineOptions, OutputFraming
from avatarify_app.engines.base import Engine
from avatarify_app.engines.remote import protocol as p
from avatarify_app.engines.remote.transport import (
    IceSettings,
    check_token,
    parse_address,
    parse_fingerprint,
)
from avatarify_app.errors import DeviceError, NoFaceError
from avatarify_app.frames import FaceTrack, MessageLevel
from avatarify_app.tracking import crop_face, detect_face

logger = logging.getLogger(__name__)

REFUSED = "the worker refused the token"
# Frames stay in the sender's buffer up to this many bytes; past it a newer frame replaces the one
# waiting (newest wins: a congested link drops frames, it never queues them).
SEND_BUFFER = 48 * 1024


class _Fatal(Exception):
    """The worker answered, and it will not serve this client (token, protocol, sessions full)."""


@dataclass
class RemoteStats:
    """Counters for the status bar and ``bench/remote.py``. ``rtt_ms``: the control channel's ping."""

    frames_sent: int = 0
    frames_dropped: int = 0  # replaced by a newer one before the link could take it
    bytes_up: int = 0
    results: int = 0
    bytes_down: int = 0  # results on the data channel (not a video downlink's)
    wire_up: int = 0  # bytes through the ICE transport (everything, headers included), this link
    wire_down: int = 0
    rtt_ms: float | None = None
    worker_ms: float | None = None  # the worker's time per frame (decode, engine, encode)
    connects: int = 0
    lost: int = 0


@dataclass
class _Link:
    pc: Any
    control: Any
    frames: Any
    device: str
    session: str
    last_heard: float = field(default_factory=time.monotonic)
    pending: bytes | None = None  # the newest frame, waiting for room in the send buffer
    tasks: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Result:
    seq: int
    jpeg: bytes = b""
    image: np.ndarray | None = None  # already decoded (the video downlink)


class RemoteEngine(Engine):
    """The ``Engine`` of an ``avatarify serve`` worker at ``url`` (``host:port``).

    ``token`` and ``fingerprint`` are what the worker printed. ``ice``: STUN/TURN servers.
    ``window``: the side of the square sent up (the face fills 1/2.4 of it); ``quality``: its JPEG
    quality. ``down_side``/``down_quality``: results come down at most this big a side (default
    ``options.size``; this engine scales them back to ``output_shape``) and at this JPEG quality: the
    downlink's bit rate (docs/remote.md). ``down="video"``: results come as a VP8 video track
    instead (about 0.5-1.5 Mbit/s, one frame interval more latency). Raises ``DeviceError`` when the
    worker cannot be reached within ``connect_timeout`` seconds or refuses the token, ``InputError``
    for a malformed address, token or fingerprint.
    """

    name = "remote"

    def __init__(
        self,
        options: EngineOptions,
        url: str,
        token: str | None,
        fingerprint: str,
        ice: IceSettings | None = None,
        *,
        window: int = 256,
        quality: int = 80,
        down_side: int | None = None,
        down_quality: int = 75,
        down: str = "jpeg",
        connect_timeout: float = 30.0,
        dead_after: float = 5.0,
        retry_every: float = 1.0,
        ping_every: float = 0.5,
        lockstep: bool = False,
        lockstep_timeout: float = 10.0,
    ) -> None:
        super().__init__(options)
        self.host, self.port = parse_address(url)
        self._token = check_token(token) if token else None  # none: the worker refuses it
        self._digest = parse_fingerprint(fingerprint)
        self._ice = ice or IceSettings()
        self._placer = p.WindowPlacer(window)
        self._window = window
        self._quality = quality
        self._down = (down_side or options.size, down_quality)
        if down not in ("jpeg", "video"):
            raise ValueError(f"down={down!r}: 'jpeg' or 'video'")
        if lockstep and down == "video":  # the receiver's jitter buffer holds a frame until the next
            raise ValueError("lockstep needs the JPEG downlink")
        self._down_mode = down
        self._dead_after, self._retry_every, self._ping_every = dead_after, retry_every, ping_every
        self.lockstep, self.lockstep_timeout = lockstep, lockstep_timeout
        self.stats = RemoteStats()
        self.frames_behind = 0
        self._lock = threading.Condition()
        self._latest: _Result | None = None  # set on the loop's thread
        self._shown_seq = -1
        self._last_output: np.ndarray | None = None
        self._seq = 0
        self._avatar: np.ndarray | None = None
        self._avatar_track = FaceTrack.missing()
        self._avatar_jpeg: bytes | None = None
        self._avatar_id = 0
        self._rest: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None  # the worker's output shape for this avatar
        self._neutral: bytes | None = None  # the calibration frame, sent again after a reconnect
        self._sent_controls: tuple[float, float, float, float] | None = None
        self._waiters: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._fatal: str | None = None
        self._connected = threading.Event()
        self._notices: collections.deque[tuple[MessageLevel, str]] = collections.deque(maxlen=8)
        self._closing = False
        self._link: _Link | None = None
        self._last_session: str | None = None  # a reconnect asks the worker to end it
        self._device = "?"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="remote-engine", daemon=True)
        self._thread.start()
        first = asyncio.run_coroutine_threadsafe(self._first_connect(), self._loop)
        try:
            first.result(connect_timeout)
        except _Fatal as exc:
            self.close()
            raise DeviceError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - whatever failed, the user gets one line
            self.close()
            why = (
                "no answer"
                if isinstance(exc, concurrent.futures.TimeoutError)
                else str(exc) or type(exc).__name__
            )
            logger.debug("first connection failed", exc_info=True)
            raise DeviceError(f"cannot reach the worker at {self.host}:{self.port} ({why})") from None
        asyncio.run_coroutine_threadsafe(self._supervise(), self._loop)

    # -- Engine interface (the inference thread) -------------------------------------------------

    @property
    def device_name(self) -> str:  # type: ignore[override]
        where = f"{self.host}:{self.port}"
        if not self._connected.is_set():
            return f"remote: reconnecting to {where}"
        rtt = self.stats.rtt_ms
        return f"remote: {self._device} at {where}" + (f", rtt {rtt:.0f} ms" if rtt is not None else "")

    def take_notices(self) -> list[tuple[MessageLevel, str]]:
        notices = []
        while self._notices:
            notices.append(self._notices.popleft())  # appended on the connection's thread
        return notices

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def set_avatar(self, image: np.ndarray) -> None:
        self._check_fatal()
        track = detect_face(image)
        if not track.found or track.box is None:
            raise NoFaceError(
                "no face found in the avatar image: choose a portrait where one face is clearly visible, "
                "facing the camera"
            )
        self._avatar, self._avatar_track = image, track
        if self.options.framing is OutputFraming.FULL:
            self._rest, self._shape = image, (image.shape[0], image.shape[1])
        else:  # until the worker sends its own rest frame
            self._rest = crop_face(image, track.box, self.options.size, keep_inside=True).image
            self._shape = (self.options.size, self.options.size)
        self._avatar_jpeg = p.encode_jpeg(image, 95)
        self._avatar_id += 1
        self._last_output = None
        with self._lock:
            self._latest = None
        if not self._connected.is_set():
            return
        waiter: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        self._waiters[self._avatar_id] = waiter
        self._loop.call_soon_threadsafe(self._send_avatar)
        try:
            reply = waiter.result(60.0)
        except concurrent.futures.TimeoutError:
            logger.warning("the worker did not confirm the avatar within 60 s; going on")
            return
        finally:
            self._waiters.pop(self._avatar_id, None)
        if reply.get("type") == "error":
            raise NoFaceError(str(reply.get("text", "the worker could not use this avatar")))

    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        self._check_fatal()
        if not track.found or track.landmarks is None:
            raise NoFaceError("no face in the camera picture: look into the camera, then calibrate again")
        self._seq += 1
        self._neutral = p.encode_frame(
            p.KIND_CALIBRATE, self._seq, time.monotonic(), image, track, self._placer, self._quality
        )
        self._loop.call_soon_threadsafe(self._send_control, self._neutral)

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        self._check_fatal()
        if self._avatar is None:
            raise RuntimeError("set_avatar must be called before animate")
        controls = (float(self.strength), float(self.eyes), float(self.mouth), float(self.head))
        if controls != self._sent_controls:
            self._sent_controls = controls
            self._loop.call_soon_threadsafe(self._send_control, self._controls_message())
        if track.found and self._neutral is None:
            self.calibrate(image, track)  # kept, to calibrate the worker again after a reconnect
        self._seq += 1
        data = p.encode_frame(
            p.KIND_FRAME, self._seq, time.monotonic(), image, track, self._placer, self._quality
        )
        self._loop.call_soon_threadsafe(self._send_frame, data)
        if self.lockstep and track.found:
            self._wait_for(self._seq)
        return self._newest()

    def _wait_for(self, seq: int) -> None:
        """Until the result of frame ``seq`` (or a later one) is in, or the link is lost or it is late."""
        deadline = time.monotonic() + self.lockstep_timeout
        with self._lock:
            while self._latest is None or self._latest.seq < seq:
                left = deadline - time.monotonic()
                if left <= 0 or not self._connected.is_set():
                    logger.debug("frame %d: no result within %.1f s", seq, self.lockstep_timeout)
                    return
                self._lock.wait(min(left, 0.25))

    @property
    def output_shape(self) -> tuple[int, int]:
        if self._shape is not None:
            return self._shape
        return self.options.size, self.options.size

    @property
    def avatar_track(self) -> FaceTrack:
        return self._avatar_track

    @property
    def is_calibrated(self) -> bool:
        return self._neutral is not None

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._loop.is_running():
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(self._hang_up(), self._loop).result(5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()

    # -- helpers on the inference thread ---------------------------------------------------------

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise DeviceError(self._fatal)

    def _controls_message(self) -> str:
        strength, eyes, mouth, head = self._sent_controls or (1.0, 1.0, 1.0, 1.0)
        return p.text("controls", strength=strength, eyes=eyes, mouth=mouth, head=head)

    def _newest(self) -> np.ndarray:
        assert self._rest is not None
        if not self._connected.is_set():
            self.frames_behind = 0
            self._last_output = None
            return self._rest
        with self._lock:
            latest = self._latest
        if latest is None:
            self.frames_behind = 0
            return self._last_output if self._last_output is not None else self._rest
        if latest.seq != self._shown_seq:
            try:
                image = (
                    latest.image
                    if latest.image is not None
                    else p.decode_jpeg(latest.jpeg, p.MAX_AVATAR_SIDE)
                )
            except p.ProtocolError:
                logger.warning("a result from the worker could not be decoded")
            else:
                h, w = self.output_shape
                if image.shape[:2] != (h, w):
                    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
                self._last_output = image
                self._shown_seq = latest.seq
        self.frames_behind = max(0, self._seq - self._shown_seq)
        return self._last_output if self._last_output is not None else self._rest

    # -- the connection (the loop's thread) ------------------------------------------------------

    async def _first_connect(self) -> None:
        self._link = await self._connect()

    async def _supervise(self) -> None:
        while not self._closing:
            link = self._link
            if link is None:
                try:
                    self._link = await self._connect()
                    logger.info("reconnected to the worker at %s:%d", self.host, self.port)
                    self._notices.append(
                        (MessageLevel.INFO, f"Reconnected to the worker at {self.host}:{self.port}.")
                    )
                except _Fatal as exc:
                    logger.error("the worker will not serve this client: %s", exc)
                    self._fatal = str(exc)
                    return
                except Exception as exc:  # noqa: BLE001 - any failure means: try again later
                    logger.debug("reconnecting failed: %r", exc)
                    await asyncio.sleep(self._retry_every)
                continue
            with contextlib.suppress(Exception):
                link.control.send(p.text("ping", t=time.monotonic()))
            await asyncio.sleep(self._ping_every)
            await self._count_bytes(link)
            quiet = time.monotonic() - link.last_heard
            if quiet > self._dead_after or link.pc.connectionState in ("failed", "closed"):
                logger.warning(
                    "lost the worker at %s:%d (no answer for %.1f s); showing the avatar at rest and "
                    "reconnecting",
                    self.host,
                    self.port,
                    quiet,
                )
                self.stats.lost += 1
                self._notices.append(
                    (
                        MessageLevel.WARNING,
                        f"Lost the worker at {self.host}:{self.port}: the output shows the avatar at rest "
                        "until it is back; reconnecting…",
                    )
                )
                await self._drop(link)

    async def _drop(self, link: _Link) -> None:
        self._connected.clear()
        self._link = None
        for task in link.tasks:
            task.cancel()
        for waiter in list(self._waiters.values()):  # set_avatar stops waiting: sent again on reconnect
            if not waiter.done():
                waiter.set_result({"type": "lost"})
        with self._lock:
            self._latest = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(link.pc.close(), 2.0)

    async def _hang_up(self) -> None:
        link = self._link
        if link is not None:
            await self._drop(link)
        for task in asyncio.all_tasks(self._loop):
            if task is not asyncio.current_task():
                task.cancel()

    async def _connect(self) -> _Link:
        import aiohttp
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(self._ice.configuration())
        try:
            control = pc.createDataChannel(p.CONTROL_LABEL)
            frames = pc.createDataChannel(p.FRAMES_LABEL, ordered=False, maxRetransmits=0)
            tracks: list[Any] = []
            if self._down_mode == "video":
                pc.addTransceiver("video", direction="recvonly")
                pc.on("track", tracks.append)
            opened, frames_open = asyncio.Event(), asyncio.Event()
            control.on("open", opened.set)
            frames.on("open", frames_open.set)
            await pc.setLocalDescription(await pc.createOffer())
            body = {
                "protocol": p.PROTOCOL_VERSION,
                "token": self._token,
                "sdp": pc.localDescription.sdp,
                "type": pc.localDescription.type,
                "options": self._options_message(),
                "replaces": self._last_session,
            }
            url = f"https://{_url_host(self.host)}:{self.port}/session"
            timeout = aiohttp.ClientTimeout(total=180.0, sock_connect=5.0)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                try:
                    async with http.post(url, json=body, ssl=aiohttp.Fingerprint(self._digest)) as reply:
                        status = reply.status
                        answer = await reply.json(content_type=None)
                except aiohttp.ServerFingerprintMismatch:
                    raise _Fatal(
                        f"the worker at {self.host}:{self.port} shows another certificate than --fingerprint "
                        "names (a different worker, or someone in between): check the command it printed"
                    ) from None
                except aiohttp.ClientConnectionError as exc:
                    raise OSError(str(exc) or type(exc).__name__) from None
            if not isinstance(answer, dict):
                raise OSError("the worker's answer is not JSON")
            if status in (401, 403):
                raise _Fatal(REFUSED)
            if status != 200:
                error = str(answer.get("error", f"HTTP {status}"))
                if status in (409, 426) or (status == 503 and self.stats.connects == 0):
                    raise _Fatal(error)
                raise OSError(error)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
            await asyncio.wait_for(asyncio.gather(opened.wait(), frames_open.wait()), 15.0)
        except BaseException:
            with contextlib.suppress(Exception):
                await pc.close()
            raise
        link = _Link(pc, control, frames, str(answer.get("device", "?")), str(answer.get("session", "?")))
        frames.bufferedAmountLowThreshold = SEND_BUFFER // 2
        for track in tracks:
            link.tasks.append(asyncio.get_running_loop().create_task(self._read_video(link, track)))
        control.on("message", lambda message: self._on_control(link, message))
        frames.on("message", lambda message: self._on_frame(link, message))
        frames.on("bufferedamountlow", lambda: self._flush(link))
        self._device = link.device
        self._last_session = link.session
        self.stats.connects += 1
        logger.info(
            "connected to the worker at %s:%d: %s, session %s",
            self.host,
            self.port,
            link.device,
            link.session,
        )
        # What the worker must know again: the avatar, the calibration, the controls.
        if self._avatar_jpeg is not None:
            self._send_avatar(link)
        if self._neutral is not None:
            control.send(self._neutral)
        control.send(self._controls_message())
        self._connected.set()
        return link

    def _options_message(self) -> dict[str, Any]:
        o = self.options
        return {
            "size": o.size,
            "framing": o.framing.value,
            "strength": o.strength,
            "eyes": o.eyes,
            "mouth": o.mouth,
            "head": o.head,
            "window": self._window,
            "down_side": self._down[0],
            "down_quality": self._down[1],
            "down": self._down_mode,
        }

    def _send_avatar(self, link: _Link | None = None) -> None:
        link = link or self._link
        data = self._avatar_jpeg
        if link is None or data is None:
            return
        count = -(-len(data) // p.AVATAR_CHUNK)
        for i in range(count):
            piece = data[i * p.AVATAR_CHUNK : (i + 1) * p.AVATAR_CHUNK]
            header = {"id": self._avatar_id, "i": i, "n": count, "bytes": len(data)}
            link.control.send(p.pack(p.KIND_AVATAR, header, piece))

    def _send_control(self, message: str | bytes) -> None:
        link = self._link
        if link is not None and link.control.readyState == "open":
            with contextlib.suppress(Exception):
                link.control.send(message)

    def _send_frame(self, data: bytes) -> None:
        link = self._link
        if link is None or link.frames.readyState != "open":
            return
        if link.frames.bufferedAmount > SEND_BUFFER:
            if link.pending is not None:
                self.stats.frames_dropped += 1
            link.pending = data
            return
        self._put(link, data)

    def _flush(self, link: _Link) -> None:
        if link.pending is not None and link.frames.readyState == "open":
            data, link.pending = link.pending, None
            self._put(link, data)

    def _put(self, link: _Link, data: bytes) -> None:
        try:
            link.frames.send(data)
        except Exception as exc:  # noqa: BLE001 - a closing channel; the supervisor notices
            logger.debug("frame not sent: %r", exc)
            return
        self.stats.frames_sent += 1
        self.stats.bytes_up += len(data)

    def _on_frame(self, link: _Link, message: object) -> None:
        link.last_heard = time.monotonic()
        if not isinstance(message, bytes):
            return
        try:
            kind, header, payload = p.unpack(message, limit=1 << 22)
            seq = p.integer(header, "seq", 0, 2**53)
            worker_ms = p.number(header, "ms", 0, 1e6)
        except p.ProtocolError as exc:
            logger.debug("bad result from the worker: %s", exc)
            return
        if kind != p.KIND_RESULT:
            return
        self.stats.results += 1
        self.stats.bytes_down += len(message)
        self.stats.worker_ms = worker_ms
        with self._lock:
            if self._latest is None or seq > self._latest.seq:
                self._latest = _Result(seq, bytes(payload))
                self._lock.notify_all()

    async def _read_video(self, link: _Link, track: Any) -> None:
        """Results from the video downlink, each with the frame number in its strip."""
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            link.last_heard = time.monotonic()
            seq, picture = p.read_seq(frame.to_ndarray(format="rgb24"))
            if seq is None:
                continue
            seq |= self._seq & ~0xFFFFFF  # 24 bits travel: unwrap
            if seq > self._seq:
                seq -= 1 << 24
            self.stats.results += 1
            with self._lock:
                if self._latest is None or seq > self._latest.seq:
                    self._latest = _Result(seq, image=np.ascontiguousarray(picture))
                    self._lock.notify_all()

    async def _count_bytes(self, link: _Link) -> None:
        """Bytes through the DTLS transports: the data channels' (which ``getStats`` leaves out) and a
        video track's, when it has its own."""
        with contextlib.suppress(Exception):
            reports = dict(link.pc.sctp.transport._get_stats())
            reports.update(await link.pc.getStats())
            transports = [r for r in reports.values() if getattr(r, "type", None) == "transport"]
            self.stats.wire_up = sum(int(r.bytesSent) for r in transports)
            self.stats.wire_down = sum(int(r.bytesReceived) for r in transports)

    def _on_control(self, link: _Link, message: object) -> None:
        link.last_heard = time.monotonic()
        try:
            if isinstance(message, bytes):
                kind, header, payload = p.unpack(message, limit=1 << 24)
                if kind == p.KIND_REST:
                    self._on_rest(header, payload)
                return
            reply = p.parse_text(str(message))
        except p.ProtocolError as exc:
            logger.debug("bad control message from the worker: %s", exc)
            return
        kind = reply["type"]
        if kind == "pong":
            with contextlib.suppress(p.ProtocolError):
                rtt = (time.monotonic() - p.number(reply, "t", -1e12, 1e12)) * 1000
                old = self.stats.rtt_ms
                self.stats.rtt_ms = rtt if old is None else 0.8 * old + 0.2 * rtt
        elif kind == "error":
            logger.warning("the worker says: %s", reply.get("text"))
            waiter = self._waiters.get(reply.get("id", -1)) if isinstance(reply.get("id"), int) else None
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)

    def _on_rest(self, header: dict[str, Any], payload: memoryview) -> None:
        """The worker's avatar at rest, with the engine's output shape (the picture may come smaller)."""
        if header.get("id") != self._avatar_id:
            return
        try:
            h, w = p.integer(header, "h", 1, 16384), p.integer(header, "w", 1, 16384)
            rest = p.decode_jpeg(payload, p.MAX_AVATAR_SIDE)
        except p.ProtocolError:
            return
        if rest.shape[:2] != (h, w):
            rest = cv2.resize(rest, (w, h), interpolation=cv2.INTER_LINEAR)
        self._shape = (h, w)
        self._rest = rest
        waiter = self._waiters.get(self._avatar_id)
        if waiter is not None and not waiter.done():
            waiter.set_result({"type": "avatar_ok"})


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
