"""``avatarify serve``: run engines for other machines (``avatarify live --remote``), over WebRTC.

Prints one start line (the engine and where it runs, saying so when there is no GPU) and the exact
command a person copies to the laptop; then serves until stopped (Ctrl+C, SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import sys

from avatarify_app.cli.options import add_engine_choice_arguments, engine_choice
from avatarify_app.config import EngineOptions
from avatarify_app.engines import Engine
from avatarify_app.engines.remote.transport import DEFAULT_PORT, IceSettings, check_token
from avatarify_app.errors import DeviceError
from avatarify_app.pipeline.engine_setup import DEFAULT_WORKER_ENGINE, EngineInfo, entries, get, open_engine
from avatarify_app.serve.certificate import load_or_make
from avatarify_app.serve.server import EngineFactory, Worker, WorkerConfig, new_token

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the engine for other machines (avatarify live --remote), e.g. on a GPU machine",
        description="Run engines for avatarify on other machines: each client (avatarify live --remote) gets "
        "its own session (avatar, calibration, controls). Signalling is HTTPS with a self-signed certificate "
        "that clients pin; frames go over encrypted WebRTC data channels. See docs/remote.md.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all, %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="HTTPS port for signalling (default: %(default)s)"
    )
    parser.add_argument("--token", help="the secret clients must give (default: a new random one each start)")
    add_engine_choice_arguments(
        parser, tuple(info for info in entries() if info.local), DEFAULT_WORKER_ENGINE
    )
    parser.add_argument(
        "--max-sessions", type=_positive_int, default=4, metavar="N", help="default: %(default)s"
    )
    add_ice_arguments(parser)
    parser.set_defaults(func=run)


def add_ice_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stun``, ``--turn``, ``--turn-user``, ``--turn-password``, ``--relay-only`` (both sides)."""
    parser.add_argument(
        "--stun", action="append", default=[], metavar="URL", help="STUN server, stun:HOST:PORT"
    )
    parser.add_argument(
        "--turn",
        action="append",
        default=[],
        metavar="URL",
        help="TURN relay, turn:HOST:PORT (both behind NAT)",
    )
    parser.add_argument("--turn-user", metavar="U", help="TURN user name")
    parser.add_argument("--turn-password", metavar="P", help="TURN password")
    parser.add_argument("--relay-only", action="store_true", help="connect through the TURN relay only")


def ice_settings(args: argparse.Namespace) -> IceSettings:
    return IceSettings(
        stun=tuple(args.stun),
        turn=tuple(args.turn),
        turn_user=args.turn_user,
        turn_password=args.turn_password,
        relay_only=args.relay_only,
    )


def engine_factory(args: argparse.Namespace) -> EngineFactory:
    """The one place the worker opens engines: the app's own ``open_engine``, per session, with the
    engine choice of the command line."""
    choice = engine_choice(args)

    def factory(options: EngineOptions) -> Engine:
        return open_engine(choice, options, progress=_say)

    return factory


def run(args: argparse.Namespace) -> int:
    token = check_token(args.token) if args.token else new_token()
    ice = ice_settings(args)
    factory = engine_factory(args)
    probe = factory(EngineOptions())  # fails early with one line for a bad checkpoint; says the device
    device = probe.device_name
    probe.close()
    certificate = load_or_make()
    config = WorkerConfig(token, certificate, args.host, args.port, args.max_sessions, ice)
    worker = Worker(config, factory)
    asyncio.run(_serve(worker, args, device))
    return 0


async def _serve(worker: Worker, args: argparse.Namespace, device: str) -> None:
    try:
        await worker.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DeviceError(f"port {args.port} is in use: choose another with --port") from None
        raise DeviceError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host = args.host if args.host not in ("0.0.0.0", "::", "") else None
    addresses = [host] if host else _addresses()
    shown = addresses[0] if addresses else "THIS-MACHINE"
    info = get(engine_choice(args).name)
    print(start_line(info, device, args.host, worker.port, args.max_sessions), flush=True)
    command = (
        f"avatarify live --remote {_url_host(shown)}:{worker.port} --token {worker.config.token} "
        f"--fingerprint {worker.config.certificate.fingerprint_hex}"
    )
    print(f"on the other machine run:  {command}", flush=True)
    if len(addresses) > 1:
        print(f"  (this machine's other addresses: {', '.join(addresses[1:])})", flush=True)
    print(
        "  behind NAT or in a cloud notebook, use its public address and open TCP "
        f"{worker.port} and UDP, or add --turn (docs/remote.md)",
        flush=True,
    )
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        with contextlib.suppress(Exception):
            await worker.stop()


def start_line(info: EngineInfo, device: str, host: str, port: int, sessions: int) -> str:
    gpu = any(word in device for word in ("CUDA", "MPS", "GPU"))
    where = f"{info.name} engine on {device}"
    if not gpu:
        where += f" (no GPU found: it runs on the CPU; {info.tip})"
    return f"avatarify worker: {where}; listening on {host}:{port} (HTTPS), up to {sessions} sessions"


def _addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (ifaddr, which aioice uses)."""
    try:
        import ifaddr
    except ImportError:
        return []
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                found.append(ip.ip)
    return found


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _say(text: str) -> None:
    print(f"avatarify: {text}", file=sys.stderr, flush=True)
