"""The checkpoint registry (``models/registry.yaml``) and where checkpoints live on this computer."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from avatarify_app.config import app_root, user_data_dir
from avatarify_app.errors import (
    AvatarifyError,
    DiskFullError,
    InputError,
    OutputError,
    is_no_room,
    os_error_words,
)

logger = logging.getLogger(__name__)

MODELS_DIR_ENV = "AVATARIFY_MODELS_DIR"
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


class RegistryError(AvatarifyError):
    """The registry file is missing or malformed, or names no such model."""


def disk_error(doing: str, path: Path, exc: OSError, *, reading: bool = False) -> AvatarifyError:
    """One sentence for an ``OSError`` while ``doing`` something with ``path``: an ``InputError`` when
    ``reading`` the user's file, else an ``OutputError`` that suggests another models folder."""
    reason = os_error_words(exc)
    if reading:
        return InputError(f"cannot {doing} {path}: {reason}")
    message = (
        f"cannot {doing} {path}: {reason}; choose a models folder you can write with --models-dir "
        f"or ${MODELS_DIR_ENV}"
    )
    return DiskFullError(message, reason=reason) if is_no_room(exc) else OutputError(message)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One known checkpoint.

    ``size`` (bytes) and ``md5`` (lowercase hex) are None when not recorded. ``config`` is relative to
    the app folder (``app_root()``). ``urls`` are direct download addresses, tried in order.
    """

    name: str
    file: str
    size: int | None
    md5: str | None
    config: str
    licence: str
    urls: tuple[str, ...] = ()
    approx_mb: float | None = None

    def config_path(self, root: Path | None = None) -> Path:
        return (root or app_root()) / self.config


def default_registry_path() -> Path:
    return app_root() / "models" / "registry.yaml"


def default_models_dir(override: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """Where checkpoints live: ``override`` (``--models-dir``), else $AVATARIFY_MODELS_DIR, else
    ``<checkout>/models`` in a source checkout, else ``<user data dir>/models`` (an installed or
    bundled app, whose own folder may be read-only)."""
    if override:
        return Path(override).expanduser()
    if environ.get(MODELS_DIR_ENV):
        return Path(environ[MODELS_DIR_ENV]).expanduser()
    root = app_root()
    if (root / "pyproject.toml").is_file() and not getattr(sys, "frozen", False):
        return root / "models"
    return user_data_dir() / "models"


def load_registry(path: Path | None = None) -> tuple[ModelEntry, ...]:
    """Read the registry file (default ``models/registry.yaml``).

    Raises ``RegistryError`` naming the file and the first problem found.
    """
    path = Path(path) if path is not None else default_registry_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(
            f"cannot read the model registry {path}: {exc.strerror or exc}: is the installation complete?"
        ) from exc
    except yaml.YAMLError as exc:
        raise RegistryError(f"the model registry {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise RegistryError(f"the model registry {path} has no 'models' list")
    entries = tuple(_entry_from_dict(item, f"{path} entry {i}") for i, item in enumerate(data["models"]))
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RegistryError(f"the model registry {path} names {', '.join(duplicates)} more than once")
    return entries


def find_entry(entries: tuple[ModelEntry, ...], name: str) -> ModelEntry:
    """The entry called ``name``; raises ``RegistryError`` listing the known names."""
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries) or "none"
    raise RegistryError(f"no model called {name!r} in the registry (known: {known})")


def _entry_from_dict(item: Any, where: str) -> ModelEntry:
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: expected a mapping, found {type(item).__name__}")
    missing = [k for k in ("name", "file", "config") if not item.get(k)]
    if missing:
        raise RegistryError(f"{where}: missing {', '.join(missing)}")
    file = str(item["file"])
    if Path(file).name != file:
        raise RegistryError(f"{where}: 'file' must be a bare file name, found {file!r}")
    md5 = item.get("md5")
    if md5 is not None and not _MD5_RE.match(str(md5)):
        raise RegistryError(f"{where}: 'md5' must be 32 lowercase hex digits or null, found {md5!r}")
    size = item.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise RegistryError(f"{where}: 'size' must be a positive byte count or null, found {size!r}")
    urls = item.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise RegistryError(f"{where}: 'urls' must be a list of addresses")
    approx = item.get("approx_mb")
    return ModelEntry(
        name=str(item["name"]),
        file=file,
        size=size,
        md5=str(md5) if md5 is not None else None,
        config=str(item["config"]),
        licence=str(item.get("licence") or "unknown"),
        urls=tuple(urls),
        approx_mb=float(approx) if approx is not None else None,
    )
