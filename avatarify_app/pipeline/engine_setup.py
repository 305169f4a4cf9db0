"""Making an engine the way the app runs it, and what the layers above may know of the engines.

The model store fills in a choice's files (the models folder's default checkpoint) and lends its
converted-model cache. Shared by the live controller, offline render and the worker. The window and
the CLI read the catalog through here (they never import ``engines``).
"""

from __future__ import annotations

from collections.abc import Callable

from avatarify_app.engines import Engine, EngineOptions
from avatarify_app.engines.catalog import (
    DEFAULT_ENGINE,
    DEFAULT_WORKER_ENGINE,
    EngineChoice,
    EngineContext,
    EngineInfo,
    Needs,
    choice_as_text,
    choice_fields,
    create_engine,
    default_choice,
    entries,
    get,
    info_for,
    is_secret,
    make_choice,
    names,
)
from avatarify_app.modelstore import converted_models_dir, resolve_files

__all__ = [
    "DEFAULT_ENGINE",
    "DEFAULT_WORKER_ENGINE",
    "EngineChoice",
    "EngineInfo",
    "Needs",
    "choice_as_text",
    "choice_fields",
    "default_choice",
    "entries",
    "get",
    "info_for",
    "is_secret",
    "make_choice",
    "names",
    "open_engine",
]


def open_engine(
    choice: EngineChoice,
    options: EngineOptions,
    *,
    progress: Callable[[str], None] | None = None,
    offline: bool = False,
) -> Engine:
    """Build the engine ``choice`` names (``engines.catalog.create_engine``), with the files it leaves
    open found by the model store and converted models cached in the user cache folder.

    ``progress`` receives sentences while a model is prepared on first use. ``offline``: a file
    drives it frame by frame (``render``; see ``EngineContext``).
    """
    context = EngineContext(cache_dir=converted_models_dir(), progress=progress, offline=offline)
    return create_engine(resolve_files(choice), options, context)
