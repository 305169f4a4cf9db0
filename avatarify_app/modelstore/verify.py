"""Checking checkpoint files: md5 against the registry, and a load check when the md5 cannot decide."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from avatarify_app.errors import CheckpointError
from avatarify_app.modelstore.registry import ModelEntry


def file_md5(path: Path) -> str:
    """The file's md5 as lowercase hex. Reads the whole file (about 1 s for 228 MB): call on demand."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What is on disk for one registry entry.

    ``md5_ok``: True or False when the file was hashed (or its size alone disproves it) against a known
    md5; None when the file is absent, the registry has no md5, or hashing was skipped.
    """

    entry: ModelEntry
    path: Path
    present: bool
    md5_ok: bool | None = None
    md5: str | None = None


def inspect_model(entry: ModelEntry, models_dir: Path, verify: bool = True) -> ModelStatus:
    """Look for ``entry``'s file in ``models_dir``; with ``verify``, hash it against the registry md5."""
    path = Path(models_dir) / entry.file
    if not path.is_file():
        return ModelStatus(entry, path, present=False)
    if entry.size is not None and path.stat().st_size != entry.size:
        return ModelStatus(entry, path, present=True, md5_ok=False)
    if not verify or entry.md5 is None:
        return ModelStatus(entry, path, present=True)
    md5 = file_md5(path)
    return ModelStatus(entry, path, present=True, md5_ok=md5 == entry.md5, md5=md5)


def check_loadable(path: Path, config: Path | None = None) -> None:
    """Prove that ``path`` is a FOMM checkpoint by loading it (on the CPU, ``weights_only``).

    The weights are loaded strictly into the networks of ``config`` when that file exists (proving
    the architecture), else their two state dicts are read by the engine's one checkpoint reader
    (``engines.fomm.checkpoint.read_checkpoint``). Raises ``CheckpointError`` saying what was found
    instead. Takes seconds for a 228 MB file.
    """
    try:
        # Imported here: it loads torch, which the rest of the model store does not need.
        from avatarify_app.engines.fomm.checkpoint import load_checkpoint, read_checkpoint
    except ImportError as exc:
        raise CheckpointError(
            f"cannot check {Path(path).name}: the fomm engine cannot be imported ({exc}); "
            "pip install torch==2.13.0"
        ) from exc
    if config is not None and Path(config).is_file():
        load_checkpoint(Path(path), Path(config))  # refuses NaN or infinite weights itself
    else:
        parts = read_checkpoint(Path(path))
        _require_finite(Path(path), ((n, t) for part in parts.values() for n, t in part.items()))


def _require_finite(path: Path, tensors: Iterable[tuple[str, object]]) -> None:
    """Refuse weights holding NaN or infinity: they load, then every frame comes out black."""
    import torch

    for name, value in tensors:
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(
                f"{path.name} holds NaN or infinite weights ({name}): the file is damaged; "
                "download or copy it again"
            )
