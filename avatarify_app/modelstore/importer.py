"""Bringing a checkpoint the user already has into the models folder, after checking what it is."""

from __future__ import annotations

import enum
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from avatarify_app.errors import CheckpointError, InputError
from avatarify_app.modelstore.registry import ModelEntry, disk_error, find_entry
from avatarify_app.modelstore.verify import check_loadable, file_md5

logger = logging.getLogger(__name__)


class Verdict(enum.StrEnum):
    """How an imported file was recognised."""

    MD5 = "md5 matches the registry"
    LOADED = "loads as a FOMM checkpoint (md5 not in the registry)"
    LOADED_MD5_DIFFERS = "loads as a FOMM checkpoint, but its md5 differs from the registry's"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """``method`` is "hard link", "copy" or "already present"."""

    entry: ModelEntry
    path: Path
    md5: str
    verdict: Verdict
    method: str


def import_checkpoint(
    source: Path,
    models_dir: Path,
    entries: tuple[ModelEntry, ...],
    *,
    name: str | None = None,
    copy: bool = False,
    force: bool = False,
    root: Path | None = None,
) -> ImportResult:
    """Check ``source`` and put it in ``models_dir`` under its registry file name.

    The entry is the one named ``name``, else the one whose md5 matches, else the one whose file name
    equals ``source``'s. A file whose md5 is not the entry's must load as a FOMM checkpoint with the
    entry's config (``root`` / config). The file is hard-linked when possible (same disk, no ``copy``),
    else copied through a temporary file and renamed into place, so a half-copied checkpoint never
    carries the final name. Raises ``InputError`` (no such file, no entry fits, destination taken
    without ``force``), ``CheckpointError`` (not a FOMM checkpoint) or ``OutputError`` (cannot write).
    """
    source = Path(source).expanduser()
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    # The folder is checked first: a read-only one is reported before seconds of loading the weights.
    models_dir = Path(models_dir)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error("create the models folder", models_dir, exc) from exc
    try:
        fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=".import.", suffix=".tmp")
    except OSError as exc:
        raise disk_error("write in", models_dir, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        return _import(source, models_dir, tmp, entries, name, copy, force, root)
    finally:
        tmp.unlink(missing_ok=True)


def _import(
    source: Path,
    models_dir: Path,
    tmp: Path,
    entries: tuple[ModelEntry, ...],
    name: str | None,
    copy: bool,
    force: bool,
    root: Path | None,
) -> ImportResult:
    try:
        md5 = file_md5(source)
    except OSError as exc:
        raise disk_error("read", source, exc, reading=True) from exc
    entry = _choose_entry(source, md5, entries, name)
    if entry.md5 is not None and md5 == entry.md5:
        verdict = Verdict.MD5
    else:
        logger.info("%s: md5 %s is not the registry's for %s: load check", source, md5, entry.name)
        try:
            check_loadable(source, entry.config_path(root))
        except (CheckpointError, InputError) as exc:
            raise CheckpointError(f"{source} was not imported: {exc}") from exc
        verdict = Verdict.LOADED if entry.md5 is None else Verdict.LOADED_MD5_DIFFERS

    dest = models_dir / entry.file
    if dest.exists():
        if _same_file(source, dest):
            return ImportResult(entry, dest, md5, verdict, "already present")
        try:
            same = file_md5(dest) == md5
        except OSError as exc:
            raise disk_error("read", dest, exc) from exc
        if not force and same:
            return ImportResult(entry, dest, md5, verdict, "already present")
        if not force:
            raise InputError(f"{dest} already exists and differs from {source}: pass --force to replace it")
    method = _place(source, tmp, dest, copy)
    logger.info("imported %s as %s (%s, %s)", source, dest, method, verdict.value)
    return ImportResult(entry, dest, md5, verdict, method)


def _choose_entry(source: Path, md5: str, entries: tuple[ModelEntry, ...], name: str | None) -> ModelEntry:
    if name is not None:
        return find_entry(entries, name)
    for entry in entries:
        if entry.md5 == md5:
            return entry
    for entry in entries:
        if entry.file == source.name:
            return entry
    known = ", ".join(e.name for e in entries) or "none"
    raise InputError(
        f"{source.name} matches no known checkpoint by md5 or file name: "
        f"say which it is with --name ({known})"
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _place(source: Path, tmp: Path, dest: Path, copy: bool) -> str:
    """Link or copy ``source`` to ``tmp`` (a temporary name beside ``dest``), then rename it into place."""
    try:
        method = "copy"
        if not copy:
            tmp.unlink()
            try:
                os.link(source, tmp)
                method = "hard link"
            except OSError as exc:  # another disk, or a filesystem without hard links
                logger.info("cannot hard-link %s (%s): copying", source, exc)
        if method == "copy":
            shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        raise disk_error("write", dest, exc) from exc
    return method
