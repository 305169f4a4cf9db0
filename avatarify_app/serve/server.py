"""The worker: HTTPS signalling (aiohttp) and one WebRTC peer connection per client.

``POST /session`` takes ``{"protocol", "token", "sdp", "type", "options"}`` and answers the SDP, or
401 (wrong or missing token: logged without its value), 503 (``max_sessions`` reached), 426 (another
protocol version), 400 (anything malformed). Each accepted client gets its own engine from
``factory`` (opened off the event loop) and its own ``Session``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from avatarify_app.config import STRENGTH_RANGE, EngineOptions, OutputFraming
from avatarify_app.engines import Engine
from avatarify_app.engines.remote import protocol as p
from avatarify_app.engines.remote.transport import IceSettings
from avatarify_app.serve.certificate import Certificate
from avatarify_app.serve.session import Session
from avatarify_app.serve.video import result_track

logger = logging.getLogger(__name__)

EngineFactory = Callable[[EngineOptions], Engine]
IDLE_TIMEOUT = 10.0  # seconds without a message: the client is gone (it pings twice a second)
MAX_REQUEST = 64 * 1024


def new_token() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    token: str
    certificate: Certificate
    host: str = "0.0.0.0"
    port: int = 8443
    max_sessions: int = 4
    ice: IceSettings = field(default_factory=IceSettings)


class Worker:
    """Serves ``factory``'s engines to clients. ``start``/``stop`` on one event loop."""

    def __init__(self, config: WorkerConfig, factory: EngineFactory) -> None:
        self.config = config
        self.factory = factory
        self.sessions: dict[str, tuple[Session, Any]] = {}
        self._reserved = 0
        self._ids = itertools.count(1)
        self._runner: Any = None
        self._reaper: asyncio.Task[None] | None = None
        self.port = config.port
        self.refused = 0

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_post("/session", self._session)
        app.router.add_get("/", self._hello)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.certificate.cert, self.config.certificate.key)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, ssl_context=context)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._reaper = asyncio.get_running_loop().create_task(self._reap())
        logger.info("worker listening on %s:%d (HTTPS), up to %d sessions", self.config.host, self.port,
                    self.config.max_sessions)  # fmt: skip

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for sid in list(self.sessions):
            await self._end(sid, "the worker stops")
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hello(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"avatarify": "worker", "protocol": p.PROTOCOL_VERSION})

    async def _session(self, request: Any) -> Any:
        from aiohttp import web
        from aiortc import RTCPeerConnection, RTCSessionDescription

        peer = request.remote or "?"

        def refuse(status: int, error: str) -> Any:
            return web.json_response({"error": error}, status=status)

        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            return refuse(400, "the request is not JSON")
        if not isinstance(body, dict):
            return refuse(400, "the request is not a JSON object")
        token = body.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.config.token.encode()):
            self.refused += 1
            logger.warning("refused a client at %s: %s token", peer, "no" if not token else "a wrong")
            return refuse(401, "the worker refused the token")
        if body.get("protocol") != p.PROTOCOL_VERSION:
            return refuse(
                426, f"this worker speaks protocol {p.PROTOCOL_VERSION}: update avatarify on both sides"
            )
        try:
            options = _engine_options(body.get("options"))
            down_side = p.integer(body["options"], "down_side", 64, 4096)
            down_quality = p.integer(body["options"], "down_quality", 20, 95)
            offer = RTCSessionDescription(sdp=str(body["sdp"]), type=str(body["type"]))
            video = body["options"].get("down") == "video"
            if video and "m=video" not in offer.sdp:
                raise p.ProtocolError("a video downlink needs a video m-line in the offer")
        except (KeyError, TypeError, p.ProtocolError) as exc:
            return refuse(400, f"malformed request ({exc})")
        if offer.type != "offer" or len(offer.sdp) > MAX_REQUEST:
            return refuse(400, "malformed request (not an SDP offer)")
        replaces = body.get("replaces")
        if isinstance(replaces, str) and replaces in self.sessions:  # the same client, reconnecting
            await self._end(replaces, "the client reconnected")
        limit = self.config.max_sessions
        if len(self.sessions) + self._reserved >= limit:
            logger.warning("turned a client at %s away: all %d sessions are in use", peer, limit)
            return refuse(
                503,
                f"the worker serves its maximum of {limit} session{'s' if limit != 1 else ''} "
                "(avatarify serve --max-sessions): try again later",
            )
        self._reserved += 1
        sid = f"{next(self._ids)}"
        engine: Engine | None = None
        session: Session | None = None
        pc: Any = None
        try:
            loop = asyncio.get_running_loop()
            engine = await loop.run_in_executor(None, self.factory, options)
            session = Session(sid, engine, loop, max_side=down_side, quality=down_quality)
            pc = RTCPeerConnection(self.config.ice.configuration())
            pc.on("datachannel", session.attach)

            @pc.on("connectionstatechange")
            async def changed() -> None:
                if pc.connectionState in ("failed", "closed"):
                    await self._end(sid, f"connection {pc.connectionState}")

            await pc.setRemoteDescription(offer)
            if video:  # the client offered to receive video: results go down as VP8
                session.video = result_track()
                pc.addTrack(session.video)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001 - a bad offer or an engine that fails: this client only
            logger.warning("could not start a session for %s: %s", peer, exc)
            logger.debug("session start failure", exc_info=True)
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()
            if session is not None:
                session.close()  # closes the engine too
            elif engine is not None:
                engine.close()
            return refuse(400, f"the worker could not start a session: {exc}")
        finally:
            self._reserved -= 1
        self.sessions[sid] = (session, pc)
        device = str(getattr(engine, "device_name", "CPU"))
        logger.info(
            "session %s: a client at %s (%d of %d sessions), %s", sid, peer, len(self.sessions), limit, device
        )
        return web.json_response(
            {
                "sdp": pc.localDescription.sdp,
                "type": pc.localDescription.type,
                "session": sid,
                "device": device,
                "engine": engine.name,
            }
        )

    async def _end(self, sid: str, why: str) -> None:
        entry = self.sessions.pop(sid, None)
        if entry is None:
            return
        session, pc = entry
        logger.info("session %s ended (%s): %d frames, %d bad messages", sid, why, session.frames_done,
                    session.bad_messages)  # fmt: skip
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pc.close(), 5.0)
        await asyncio.get_running_loop().run_in_executor(None, session.close)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for sid, (session, _) in list(self.sessions.items()):
                if now - session.last_heard > IDLE_TIMEOUT:
                    await self._end(sid, f"no message for {IDLE_TIMEOUT:.0f} s")


def _engine_options(data: object) -> EngineOptions:
    if not isinstance(data, dict):
        raise p.ProtocolError("options")
    lo, hi = STRENGTH_RANGE
    size = p.integer(data, "size", 64, 1024)
    try:
        framing = OutputFraming(data.get("framing"))
    except ValueError as exc:
        raise p.ProtocolError("framing") from exc
    values = {k: p.number(data, k, lo, hi) for k in ("strength", "eyes", "mouth", "head")}
    return EngineOptions(size=size, framing=framing, **values)


class WorkerThread:
    """A worker on its own event loop thread (tests, benchmarks): ``with WorkerThread(...) as w:``."""

    def __init__(self, config: WorkerConfig, factory: EngineFactory) -> None:
        self.worker = Worker(config, factory)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="worker", daemon=True)

    @property
    def port(self) -> int:
        return self.worker.port

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.worker.start(), self._loop).result(30.0)
        return self

    async def _stop(self) -> None:
        await self.worker.stop()
        # Sessions that were ending by themselves (a closed connection) finish before the loop stops.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            _, pending = await asyncio.wait(others, timeout=10.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the worker's loop and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10.0)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10.0)
        self._loop.close()
