"""Finding the FOMM checkpoint and config to use, identifying a checkpoint, and where converted models go.

The engine takes paths; choosing them is the model store's job (the engine never imports this package).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from avatarify_app.config import app_root, user_cache_dir
from avatarify_app.engines.catalog import FommChoice
from avatarify_app.errors import CheckpointError
from avatarify_app.modelstore.registry import ModelEntry, default_models_dir, load_registry
from avatarify_app.modelstore.verify import file_md5

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINTS = ("vox-adv-cpk.pth.tar", "vox-cpk.pth.tar")


def resolve_checkpoint(checkpoint: Path | None) -> Path:
    """``checkpoint``, or the first of ``DEFAULT_CHECKPOINTS`` in the models folder.

    Raises ``CheckpointError`` saying where to put one when there is none.
    """
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise CheckpointError(f"FOMM checkpoint {checkpoint} not found")
        return Path(checkpoint)
    models_dir = default_models_dir()
    for name in DEFAULT_CHECKPOINTS:
        if (models_dir / name).is_file():
            return models_dir / name
    raise CheckpointError(
        f"no FOMM checkpoint: put {DEFAULT_CHECKPOINTS[0]} in {models_dir} (avatarify models fetch "
        "vox-adv-cpk), or pass --checkpoint PATH; the weights (CC BY-NC 4.0) are not shipped with the app"
    )


def resolve_config(checkpoint: Path, config: Path | None) -> Path | None:
    """``config``, else ``models/vox-adv-256.yaml`` for a checkpoint named "*adv*", else ``vox-256.yaml``.

    Both released configs describe the same networks; None when the yaml files are not installed (the
    engine then uses its built-in vox-256 layout).
    """
    if config is not None:
        return Path(config)
    name = "vox-adv-256.yaml" if "adv" in Path(checkpoint).name else "vox-256.yaml"
    path = app_root() / "models" / name
    if path.is_file():
        return path
    logger.info("%s not found: using the built-in vox-256 network layout", path)
    return None


def fomm_files(checkpoint: Path | None, config: Path | None) -> tuple[Path, Path | None]:
    """The checkpoint and config the fomm engine should load (``resolve_checkpoint``, ``resolve_config``)."""
    path = resolve_checkpoint(checkpoint)
    return path, resolve_config(path, config)


def identify_checkpoint(path: Path, registry: tuple[ModelEntry, ...] | None = None) -> ModelEntry | None:
    """The registered checkpoint (``models/registry.yaml``) that ``path`` is, by md5, or None.

    Slow: hashes the whole file (about 1 s for 228 MB). ``registry`` defaults to the app's registry.
    """
    md5 = file_md5(path)
    entries = load_registry() if registry is None else registry
    return next((entry for entry in entries if entry.md5 == md5), None)


def converted_models_dir() -> Path:
    """Where engines keep models converted for this computer (fomm's OpenVINO IR)."""
    return user_cache_dir() / "converted-models"


def resolve_fomm_choice(choice: FommChoice) -> FommChoice:
    """``choice`` with its checkpoint and config found (``fomm_files``)."""
    checkpoint, config = fomm_files(choice.checkpoint, choice.config)
    return dataclasses.replace(choice, checkpoint=checkpoint, config=config)
