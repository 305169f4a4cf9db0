"""One client's session on the worker: its own engine, avatar, calibration and controls.

Messages arrive on the event loop's thread and are only checked and parked there (``protocol``): the
newest frame in one slot (a newer one replaces it), commands in a short queue. The session's own
thread runs the engine on them, so a slow engine or a hostile client stalls no one else, and an
exception in one session is logged and survived.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from avatarify_app.config import STRENGTH_RANGE
from avatarify_app.engines import Engine
from avatarify_app.engines.remote import protocol as p
from avatarify_app.errors import AvatarifyError, NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking.face_mesh import track_from_landmarks

logger = logging.getLogger(__name__)

SEND_BUFFER = 64 * 1024  # bytes of results the frames channel may hold; past it a result is dropped
LOGGED_COMPLAINTS = 5  # per session: the first few bad messages are logged, the rest counted


@dataclass(frozen=True, slots=True)
class _Command:
    kind: str  # "avatar", "calibrate", "controls"
    data: Any
    ref: int = 0


class _Bucket:
    """A token bucket: ``allow`` is False once the client sends faster than ``rate`` for a while."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.level, self.at = rate, burst, burst, time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level < 1:
            return False
        self.level -= 1
        return True


class Session:
    """The engine of one client. ``attach`` the data channels as they open; ``close`` once."""

    def __init__(
        self, sid: str, engine: Engine, loop: asyncio.AbstractEventLoop, max_side: int, quality: int = 75
    ) -> None:
        self.sid = sid
        self.engine = engine
        self.loop = loop
        self.max_side = max_side  # results are sent at most this big a side (the client scales them)
        self.quality = quality  # their JPEG quality
        self.control: Any = None
        self.frames: Any = None
        self.video: Any = None  # a ``video.result_track()`` when results go down as VP8
        self.last_heard = time.monotonic()
        self.bad_messages = 0
        self.dropped_commands = 0
        self.frames_done = 0
        self.cpu_s = 0.0  # thread CPU time spent on this session's work
        self._cond = threading.Condition()
        self._frame: p.FrameMessage | None = None
        self._commands: collections.deque[_Command] = collections.deque()
        self._pings = _Bucket(10.0, 20.0)  # pongs answer at most 10 pings a second
        self._avatar_parts: dict[int, bytes] = {}
        self._avatar_id = -1
        self._avatar_count = 0
        self._has_avatar = False
        self._canvas: np.ndarray | None = None
        self._canvas_key: tuple[float, int, int] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"session-{sid}", daemon=True)
        self._thread.start()

    # -- the event loop's side -------------------------------------------------------------------

    def attach(self, channel: Any) -> None:
        if channel.label == p.CONTROL_LABEL and self.control is None:
            self.control = channel
            channel.on("message", self._on_control)
        elif channel.label == p.FRAMES_LABEL and self.frames is None:
            self.frames = channel
            channel.on("message", self._on_frame)
        else:
            self._complain(f"unexpected data channel {channel.label!r}")

    def _complain(self, what: str) -> None:
        self.bad_messages += 1
        if self.bad_messages <= LOGGED_COMPLAINTS:
            logger.warning("session %s: ignored a bad message (%s)", self.sid, what)
        elif self.bad_messages == LOGGED_COMPLAINTS + 1:
            logger.warning("session %s: more bad messages; counting them quietly", self.sid)

    def _on_frame(self, message: object) -> None:
        self.last_heard = time.monotonic()
        try:
            if not isinstance(message, bytes):
                raise p.ProtocolError("text on the frames channel")
            kind, header, payload = p.unpack(message)
            if kind != p.KIND_FRAME:
                raise p.ProtocolError(f"kind {kind!r} on the frames channel")
            frame = p.FrameMessage.parse(header, payload)
        except p.ProtocolError as exc:
            self._complain(str(exc))
            return
        if frame.window is None:
            return  # no face: the client keeps its last result
        with self._cond:
            if self._frame is None or frame.seq > self._frame.seq:
                self._frame = frame
                self._cond.notify()

    def _on_control(self, message: object) -> None:
        self.last_heard = time.monotonic()
        if isinstance(message, str) and message.startswith('{"type":"ping"'):
            if self._pings.allow():
                try:
                    self._on_text(p.parse_text(message))
                except p.ProtocolError as exc:
                    self._complain(str(exc))
            return
        try:
            if isinstance(message, bytes):
                self._on_binary(message)
            else:
                self._on_text(p.parse_text(message if isinstance(message, str) else ""))
        except p.ProtocolError as exc:
            self._complain(str(exc))

    def _on_text(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "ping":
            self.send_control(p.text("pong", t=p.number(message, "t", -1e12, 1e12)))
        elif kind == "controls":
            lo, hi = STRENGTH_RANGE
            values = {k: p.number(message, k, lo, hi) for k in ("strength", "eyes", "mouth", "head")}
            self._push(_Command("controls", values))
        else:
            raise p.ProtocolError(f"unknown command {kind[:40]!r}")

    def _on_binary(self, message: bytes) -> None:
        kind, header, payload = p.unpack(message, limit=p.AVATAR_CHUNK + p.MAX_HEADER + 5)
        if kind == p.KIND_CALIBRATE:
            frame = p.FrameMessage.parse(header, payload)
            if frame.window is None:
                raise p.ProtocolError("calibration without a face")
            self._push(_Command("calibrate", frame))
        elif kind == p.KIND_AVATAR:
            ref = p.integer(header, "id", 0, 2**31)
            count = p.integer(header, "n", 1, -(-p.MAX_AVATAR_BYTES // p.AVATAR_CHUNK))
            index = p.integer(header, "i", 0, count - 1)
            if ref != self._avatar_id:  # a new avatar: forget the pieces of the last one
                self._avatar_id, self._avatar_count, self._avatar_parts = ref, count, {}
            if count != self._avatar_count:
                raise p.ProtocolError("avatar pieces disagree on their count")
            self._avatar_parts[index] = bytes(payload)
            if len(self._avatar_parts) == count:
                data = b"".join(self._avatar_parts[i] for i in range(count))
                self._avatar_parts = {}
                self._push(_Command("avatar", data, ref))
        else:
            raise p.ProtocolError(f"kind {kind!r} on the control channel")

    def _push(self, command: _Command) -> None:
        """Queue a command. A newer one of a kind still waiting takes its place (the newest controls,
        avatar and calibration are what count, in the order they first came), so a flood never grows
        the queue past three and never pushes a legitimate command out."""
        with self._cond:
            for i, waiting in enumerate(self._commands):
                if waiting.kind == command.kind:
                    self._commands[i] = command
                    self.dropped_commands += 1
                    break
            else:
                self._commands.append(command)
            self._cond.notify()

    def send_control(self, message: str | bytes) -> None:
        """Send on the control channel (from any thread)."""
        self.loop.call_soon_threadsafe(self._send, self.control, message, None)

    def _send(self, channel: Any, message: str | bytes, limit: int | None) -> None:
        if channel is None or channel.readyState != "open":
            return
        if limit is not None and channel.bufferedAmount > limit:
            return  # the link is congested: drop this result, a newer one follows
        try:
            channel.send(message)
        except Exception as exc:  # noqa: BLE001 - a closing channel
            logger.debug("session %s: not sent: %r", self.sid, exc)

    # -- the session's thread --------------------------------------------------------------------

    def _run(self) -> None:
        start_cpu = time.thread_time()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or self._commands or self._frame is not None)
                if self._stopped:
                    break
                command = self._commands.popleft() if self._commands else None
                frame = None
                if command is None:
                    frame, self._frame = self._frame, None
            try:
                if command is not None:
                    self._do(command)
                elif frame is not None:
                    self._animate(frame)
            except NoFaceError as exc:
                self.send_control(p.text("error", about="frame", text=str(exc)))
            except Exception:  # noqa: BLE001 - one session's failure must not stop it, nor the worker
                self._complain("the engine failed on it")
                logger.debug("session %s: engine failure", self.sid, exc_info=True)
            self.cpu_s = time.thread_time() - start_cpu
        self.engine.close()

    def _do(self, command: _Command) -> None:
        if command.kind == "controls":
            values = command.data
            self.engine.strength = values["strength"]
            self.engine.eyes, self.engine.mouth, self.engine.head = (
                values["eyes"],
                values["mouth"],
                values["head"],
            )
        elif command.kind == "avatar":
            self._set_avatar(command.data, command.ref)
        elif command.kind == "calibrate":
            if not self._has_avatar:
                return
            canvas, track = self._place(command.data)
            self.engine.calibrate(canvas, track)

    def _set_avatar(self, data: bytes, ref: int) -> None:
        try:
            image = p.decode_jpeg(data, p.MAX_AVATAR_SIDE)
        except p.ProtocolError as exc:
            self._complain(f"avatar: {exc}")
            self.send_control(
                p.text("error", about="avatar", id=ref, text=f"the worker cannot read the avatar: {exc}")
            )
            return
        try:
            self.engine.set_avatar(image)
        except (NoFaceError, AvatarifyError) as exc:
            self._has_avatar = False
            self.send_control(p.text("error", about="avatar", id=ref, text=str(exc)))
            return
        self._has_avatar = True
        rest = self.engine.animate(image, FaceTrack.missing())
        h, w = rest.shape[:2]
        self.send_control(
            p.pack(p.KIND_REST, {"id": ref, "h": h, "w": w}, p.encode_jpeg(self._fit(rest), 90))
        )
        logger.info("session %s: avatar %dx%d set", self.sid, image.shape[1], image.shape[0])

    def _place(self, frame: p.FrameMessage) -> tuple[np.ndarray, FaceTrack]:
        """The window pasted into this session's canvas (the scaled camera frame), and the track."""
        window = frame.window
        assert window is not None
        assert frame.jpeg is not None
        assert frame.landmarks is not None
        crop = p.decode_jpeg(frame.jpeg, window.size)
        if crop.shape[:2] != (window.size, window.size):
            raise p.ProtocolError("window of the wrong size")
        width, height = window.canvas_size
        key = (window.scale, width, height)
        if self._canvas is None or self._canvas_key != key:
            self._canvas = np.full((height, width, 3), 127, np.uint8)
            self._canvas_key = key
        canvas = self._canvas
        x0, y0 = max(window.x, 0), max(window.y, 0)
        x1, y1 = min(window.x + window.size, width), min(window.y + window.size, height)
        if x1 > x0 and y1 > y0:
            canvas[y0:y1, x0:x1] = crop[y0 - window.y : y1 - window.y, x0 - window.x : x1 - window.x]
        points = frame.landmarks + np.array([window.x, window.y, 0.0], np.float32)
        return canvas, track_from_landmarks(points)

    def _animate(self, frame: p.FrameMessage) -> None:
        if not self._has_avatar:
            return
        started = time.perf_counter()
        canvas, track = self._place(frame)
        out = self.engine.animate(canvas, track)
        self.frames_done += 1
        if self.video is not None:
            self.loop.call_soon_threadsafe(self.video.put, self._fit(out, even=True), frame.seq)
            return
        data = p.encode_jpeg(self._fit(out), self.quality)
        ms = (time.perf_counter() - started) * 1000
        message = p.pack(
            p.KIND_RESULT, p.result_header(frame.seq, frame.t, ms, (out.shape[0], out.shape[1])), data
        )
        self.loop.call_soon_threadsafe(self._send, self.frames, message, SEND_BUFFER)

    def _fit(self, image: np.ndarray, even: bool = False) -> np.ndarray:
        """``image`` at most ``max_side`` a side; ``even``: with even sides too (the video codec's 4:2:0)."""
        h, w = image.shape[:2]
        k = min(1.0, self.max_side / max(h, w))
        size = (max(2, round(w * k)), max(2, round(h * k)))
        if even:
            size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        if size == (w, h):
            return image
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def close(self) -> None:
        """Stop the thread (after the frame in hand) and close the engine; calling it twice is fine."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30.0)
