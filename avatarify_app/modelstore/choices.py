"""Filling in an engine choice's files from the model store: a choice that names no checkpoint gets the
default one of the models folder. One resolver per engine that has files here; the others pass as
they are."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from avatarify_app.engines.catalog import EngineChoice, LivePortraitChoice
from avatarify_app.modelstore.fomm import resolve_fomm_choice
from avatarify_app.modelstore.liveportrait import resolve_folder


def _resolve_liveportrait(choice: LivePortraitChoice) -> LivePortraitChoice:
    return dataclasses.replace(choice, checkpoint=resolve_folder(choice.checkpoint))


_RESOLVERS: dict[str, Callable[[Any], EngineChoice]] = {
    "fomm": resolve_fomm_choice,
    "liveportrait": _resolve_liveportrait,
}


def resolve_files(choice: EngineChoice) -> EngineChoice:
    """``choice`` with the files it leaves open found in the models folder. Raises ``CheckpointError``
    saying where to put a file that is needed and missing."""
    resolver = _RESOLVERS.get(choice.name)
    return resolver(choice) if resolver is not None else choice
