"""Fixtures for the live pipeline: an in-memory virtual camera and a fast test engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pyvirtualcam
from pyvirtualcam import camera as pyvirtualcam_camera

from tests.fakes import StillEngine, VirtualCameraLog, memory_backend

MEMORY_BACKEND = "avatarify-test-memory"


@pytest.fixture
def vcam_log() -> Iterator[VirtualCameraLog]:
    """What the in-memory virtual camera (pyvirtualcam backend ``MEMORY_BACKEND``) receives."""
    log = VirtualCameraLog()
    pyvirtualcam.register_backend(MEMORY_BACKEND, memory_backend(log))
    yield log
    pyvirtualcam_camera.BACKENDS.pop(MEMORY_BACKEND, None)


@pytest.fixture
def still_engines() -> list[StillEngine]:
    """Engines the ``still_engine_factory`` built, newest last."""
    return []


@pytest.fixture
def still_engine_factory(still_engines: list[StillEngine]):
    """An ``engine_factory`` seam that builds a ``StillEngine`` whatever the engine name."""

    def build(name, options, checkpoint):
        engine = StillEngine(options)
        still_engines.append(engine)
        return engine

    return build
