"""Reenactment engines behind one interface (``base.Engine``), listed in one catalog (``catalog``).

Engines are imported lazily: each catalog entry's factory imports its engine when it is built, so the
``fomm`` engine's torch loads only when fomm is chosen. Adding an engine: docs/architecture.md,
"Adding an engine".
"""

from __future__ import annotations

from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming
from avatarify_app.engines.catalog import (
    DEFAULT_ENGINE,
    EngineChoice,
    EngineContext,
    EngineInfo,
    FommChoice,
    MeshChoice,
    Needs,
    create_engine,
)

__all__ = [
    "DEFAULT_ENGINE",
    "Engine",
    "EngineChoice",
    "EngineContext",
    "EngineInfo",
    "EngineOptions",
    "FommChoice",
    "MeshChoice",
    "Needs",
    "OutputFraming",
    "create_engine",
]
