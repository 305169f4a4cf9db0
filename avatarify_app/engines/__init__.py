"""Reenactment engines behind one interface (``base.Engine``).

Adding an engine means a new sub-package plus one entry in ``config.ENGINE_NAMES`` and ``create_engine``.
Engines are imported lazily: ``fomm`` pulls in torch, which the ``mesh`` engine does not need.
"""

from __future__ import annotations

from pathlib import Path

from avatarify_app.config import DEFAULT_ENGINE, ENGINE_NAMES
from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming


def create_engine(
    name: str,
    options: EngineOptions | None = None,
    *,
    checkpoint: Path | None = None,
    config: Path | None = None,
) -> Engine:
    """Build the engine called ``name``. ``checkpoint`` and ``config`` are for ``fomm`` only.

    Raises ``ValueError`` for an unknown name and ``CheckpointError`` for a missing or bad checkpoint.
    """
    options = options or EngineOptions()
    if name == "mesh":
        from avatarify_app.engines.mesh import MeshEngine

        return MeshEngine(options)
    if name == "fomm":
        from avatarify_app.engines.fomm import FommEngine

        return FommEngine(options, checkpoint=checkpoint, config=config)
    raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINE_NAMES", "Engine", "EngineOptions", "OutputFraming", "create_engine"]
