"""WebRTC settings both sides share: ICE servers (STUN, TURN), the worker's address and fingerprint."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from avatarify_app.errors import InputError

if TYPE_CHECKING:
    from aiortc import RTCConfiguration

DEFAULT_PORT = 8443
# Host candidates only from these addresses (comma-separated), e.g. "127.0.0.1" for tests on loopback:
# aioice leaves 127.0.0.1 out of its host candidates, and a machine's other addresses may be unwanted.
ICE_ADDRESSES_ENV = "AVATARIFY_ICE_ADDRESSES"
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~]{8,128}")


@dataclass(frozen=True, slots=True)
class IceSettings:
    """NAT traversal. ``stun``/``turn``: URLs (``stun:host:port``, ``turn:host:port[?transport=tcp]``);
    ``relay_only``: use TURN relays only (both sides behind strict NATs, or to test the relay)."""

    stun: tuple[str, ...] = ()
    turn: tuple[str, ...] = ()
    turn_user: str | None = None
    turn_password: str | None = None
    relay_only: bool = False

    def __post_init__(self) -> None:
        for url in self.stun:
            if not url.startswith(("stun:", "stuns:")):
                raise InputError(f"--stun {url}: a STUN URL starts with stun: (stun:host:3478)")
        for url in self.turn:
            if not url.startswith(("turn:", "turns:")):
                raise InputError(f"--turn {url}: a TURN URL starts with turn: (turn:host:3478)")
        if self.turn and not (self.turn_user and self.turn_password):
            raise InputError("--turn needs --turn-user and --turn-password")
        if self.relay_only and not self.turn:
            raise InputError("relay only needs a TURN server (--turn)")

    def configuration(self) -> RTCConfiguration:
        """An ``aiortc.RTCConfiguration``: never aiortc's default public STUN server."""
        from aiortc import RTCConfiguration, RTCIceServer
        from aiortc.rtcconfiguration import RTCIceTransportPolicy

        limit_host_addresses()
        servers = [RTCIceServer(urls=list(self.stun))] if self.stun else []
        if self.turn:
            servers.append(
                RTCIceServer(urls=list(self.turn), username=self.turn_user, credential=self.turn_password)
            )
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


def limit_host_addresses() -> None:
    """Apply ``AVATARIFY_ICE_ADDRESSES`` to aioice's host candidates (process-wide)."""
    wanted = [a.strip() for a in os.environ.get(ICE_ADDRESSES_ENV, "").split(",") if a.strip()]
    if not wanted:
        return
    import aioice.ice

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in wanted if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses  # type: ignore[assignment]


def parse_address(text: str) -> tuple[str, int]:
    """``host:port``, ``host`` or ``[v6]:port`` to (host, port). Raises ``InputError``."""
    text = text.strip()
    if text.startswith("https://"):
        text = text[len("https://") :].rstrip("/")
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([^:\s/]+)(?::(\d+))?", text)
    if not match:
        raise InputError(f"--remote {text!r}: expected HOST:PORT (e.g. 203.0.113.7:{DEFAULT_PORT})")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4) or DEFAULT_PORT)
    if not 0 < port < 65536:
        raise InputError(f"--remote {text!r}: port {port} is not a port number")
    return host, port


def parse_fingerprint(text: str) -> bytes:
    """The worker certificate's SHA-256 as printed by ``avatarify serve`` (hex, colons allowed, an
    optional ``sha256:`` prefix) to its 32 bytes. Raises ``InputError``."""
    digits = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise InputError("--fingerprint: expected the 64 hex digits avatarify serve printed")
    return bytes.fromhex(digits)


def format_fingerprint(digest: bytes) -> str:
    return digest.hex()


def check_token(token: str) -> str:
    """A token as typed; raises ``InputError`` for one that cannot have come from ``avatarify serve``."""
    if not _TOKEN_CHARS.fullmatch(token):
        raise InputError("--token: 8 to 128 letters, digits or -_.~")
    return token
