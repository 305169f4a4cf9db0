"""Fixtures for the remote engine: a real worker (aiohttp + aiortc) on 127.0.0.1, real clients.

Host candidates are limited to 127.0.0.1 (``AVATARIFY_ICE_ADDRESSES``): nothing leaves the loopback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from remote_helpers import SIZE, TOKEN, Driver, mesh_factory

from avatarify_app.config import EngineOptions
from avatarify_app.engines.remote import RemoteEngine
from avatarify_app.engines.remote.transport import ICE_ADDRESSES_ENV
from avatarify_app.serve.certificate import Certificate, load_or_make
from avatarify_app.serve.server import WorkerConfig, WorkerThread


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ICE_ADDRESSES_ENV, "127.0.0.1")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return load_or_make(tmp_path_factory.mktemp("worker-cert"))


@pytest.fixture
def start_worker(certificate: Certificate) -> Iterator[Callable[..., WorkerThread]]:
    """Starts in-process workers (mesh engine unless told) on a free port; stops them after the test."""
    started: list[WorkerThread] = []

    def start(factory=mesh_factory, **config) -> WorkerThread:
        config.setdefault("token", TOKEN)
        worker = WorkerThread(
            WorkerConfig(certificate=certificate, host="127.0.0.1", port=0, **config), factory
        )
        started.append(worker.__enter__())
        return worker

    yield start
    for worker in reversed(started):
        worker.__exit__(None, None, None)


@pytest.fixture
def clients() -> Iterator[list[RemoteEngine]]:
    """Remote engines a test opened; closed after it."""
    opened: list[RemoteEngine] = []
    yield opened
    for engine in opened:
        engine.close()


@pytest.fixture
def connect(clients: list[RemoteEngine], certificate: Certificate) -> Callable[..., RemoteEngine]:
    def make(worker: WorkerThread | int, *, size: int = SIZE, token: str = TOKEN, **kwargs) -> RemoteEngine:
        port = worker if isinstance(worker, int) else worker.port
        kwargs.setdefault("window", 192)
        engine = RemoteEngine(
            EngineOptions(size=size), f"127.0.0.1:{port}", token, certificate.fingerprint_hex, **kwargs
        )
        clients.append(engine)
        return engine

    return make


@pytest.fixture
def driver(driving_video: Path) -> Iterator[Driver]:
    d = Driver(driving_video)
    yield d
    d.close()
