"""Making an engine the way the app runs it: the model store finds fomm's files and its converted-model
cache. Shared by the live controller and offline render."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from avatarify_app.engines import Engine, EngineOptions, create_engine
from avatarify_app.modelstore import converted_models_dir, fomm_files


def open_engine(
    name: str,
    options: EngineOptions,
    *,
    checkpoint: Path | None = None,
    config: Path | None = None,
    backend: str = "auto",
    precision: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> Engine:
    """``engines.create_engine`` with fomm's checkpoint and config found by the model store (the given
    paths, else the defaults) and its converted models cached in the user cache folder.

    ``progress`` receives sentences while a model is prepared on first use.
    """
    if name == "fomm":
        checkpoint, config = fomm_files(checkpoint, config)
    return create_engine(
        name,
        options,
        checkpoint=checkpoint,
        config=config,
        backend=backend,
        precision=precision,
        cache_dir=converted_models_dir(),
        progress=progress,
    )
