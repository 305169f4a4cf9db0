"""Reenactment engines behind one interface (``base.Engine``).

Adding an engine means a new sub-package plus one entry in ``config.ENGINE_NAMES`` and ``create_engine``.
Engines are imported lazily: ``fomm`` pulls in torch, which the ``mesh`` engine does not need.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from avatarify_app.config import DEFAULT_ENGINE, ENGINE_NAMES, FOMM_BACKENDS, FOMM_PRECISIONS
from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming
from avatarify_app.errors import CheckpointError


def create_engine(
    name: str,
    options: EngineOptions | None = None,
    *,
    checkpoint: Path | None = None,
    config: Path | None = None,
    backend: str = "auto",
    precision: str = "auto",
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Engine:
    """Build the engine called ``name``.

    For ``fomm`` only: ``checkpoint`` and ``config`` (files; ``modelstore.fomm_files`` finds the
    default ones), ``backend`` and ``precision`` (see ``engines.fomm.runtime.choose_runtime``),
    ``cache_dir`` for converted models and ``progress`` for the sentences shown while a first use
    prepares the model.

    Raises ``ValueError`` for an unknown name, ``CheckpointError`` for a missing or bad checkpoint,
    ``InputError`` for a bad config, backend or precision.
    """
    options = options or EngineOptions()
    if name == "mesh":
        from avatarify_app.engines.mesh import MeshEngine

        return MeshEngine(options)
    if name == "fomm":
        from avatarify_app.engines.fomm import FommEngine

        if checkpoint is None:
            raise CheckpointError("the fomm engine needs a checkpoint: pass --checkpoint PATH")
        return FommEngine(
            options,
            checkpoint=checkpoint,
            config=config,
            backend=backend,
            precision=precision,
            cache_dir=cache_dir,
            progress=progress,
        )
    raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")


__all__ = [
    "DEFAULT_ENGINE",
    "ENGINE_NAMES",
    "FOMM_BACKENDS",
    "FOMM_PRECISIONS",
    "Engine",
    "EngineOptions",
    "OutputFraming",
    "create_engine",
]
