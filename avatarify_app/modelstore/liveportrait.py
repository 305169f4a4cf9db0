"""The LivePortrait weights folder: where it lives, what is in it, its licence, and importing one.

The released human model is five files that users download themselves (``huggingface-cli download
KwaiVGI/LivePortrait``, or the reference's Google Drive / Baidu folders): the app never ships them.
They live in ``<models dir>/liveportrait/`` in the released sub-folders (``base_models/``,
``retargeting_models/``). Nothing here imports torch until a load check is asked for.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatarify_app.errors import CheckpointError, InputError
from avatarify_app.modelstore.registry import default_models_dir, disk_error
from avatarify_app.modelstore.verify import file_md5

logger = logging.getLogger(__name__)

FOLDER_NAME = "liveportrait"
LICENCE = (
    "MIT, by Kuaishou (KwaiVGI/LivePortrait); the InsightFace face models the reference crops with are "
    "non-commercial, but this app does not use them (it crops with MediaPipe FaceMesh)"
)
HF_COMMAND = 'huggingface-cli download KwaiVGI/LivePortrait --local-dir DIR --include "liveportrait/*"'


@dataclass(frozen=True, slots=True)
class ReleasedFile:
    """One of the five files. ``md5`` is None: the released files' checksums were not recorded here
    (they could not be downloaded); a load check decides, and the import prints each file's md5 so
    the integrator can record them."""

    part: str
    subfolder: str
    approx_mb: float
    md5: str | None = None
    licence: str = LICENCE

    def relative(self, suffix: str = ".pth") -> Path:
        return Path(self.subfolder) / f"{self.part}{suffix}"


RELEASED_FILES = (
    ReleasedFile("appearance_feature_extractor", "base_models", 3.3),
    ReleasedFile("motion_extractor", "base_models", 108),
    ReleasedFile("warping_module", "base_models", 174),
    ReleasedFile("spade_generator", "base_models", 212),
    ReleasedFile("stitching_retargeting_module", "retargeting_models", 2.3),
)
_SUFFIXES = (".pth", ".safetensors")


@dataclass(frozen=True, slots=True)
class FileStatus:
    """What ``inspect_folder`` found for one released file (``path`` None: absent)."""

    file: ReleasedFile
    path: Path | None
    size: int | None


@dataclass(frozen=True, slots=True)
class LivePortraitImport:
    """The imported folder and, per file, its new path, md5 and how it got there ("hard link",
    "copy" or "already present")."""

    folder: Path
    files: tuple[tuple[ReleasedFile, Path, str, str], ...]


def default_folder(models_dir: Path | None = None) -> Path:
    return (models_dir or default_models_dir()) / FOLDER_NAME


def locate(folder: Path) -> dict[str, Path]:
    """The files of ``folder`` by part: ``.pth`` before ``.safetensors``, the released sub-folder, then
    the folder itself (a flat copy). Absent parts are left out."""
    found: dict[str, Path] = {}
    for released in RELEASED_FILES:
        for sub in (released.subfolder, ""):
            candidates = [folder / sub / f"{released.part}{suffix}" for suffix in _SUFFIXES]
            hit = next((path for path in candidates if path.is_file()), None)
            if hit is not None:
                found[released.part] = hit
                break
    return found


def inspect_folder(folder: Path | None = None) -> tuple[FileStatus, ...]:
    """Each released file's presence and size in ``folder`` (default: the models folder's), for
    ``avatarify models list`` (which shows ``file.licence`` beside each)."""
    folder = Path(folder) if folder is not None else default_folder()
    found = locate(folder) if folder.is_dir() else {}
    return tuple(
        FileStatus(r, found.get(r.part), found[r.part].stat().st_size if r.part in found else None)
        for r in RELEASED_FILES
    )


def resolve_folder(folder: Path | None = None, models_dir: Path | None = None) -> Path:
    """``folder``, or ``<models dir>/liveportrait``, once it holds all five files.

    Raises ``CheckpointError`` naming the missing files and how to get them.
    """
    path = Path(folder) if folder is not None else default_folder(models_dir)
    found = locate(path) if path.is_dir() else {}
    missing = [f"{r.part}.pth" for r in RELEASED_FILES if r.part not in found]
    if missing:
        where = "does not exist" if not path.is_dir() else f"lacks {', '.join(missing)}"
        raise CheckpointError(
            f"no LivePortrait weights: {path} {where}; download them ({HF_COMMAND}), then run "
            f"avatarify models import DIR/liveportrait, or pass --checkpoint FOLDER (licence: MIT)"
        )
    return path


def import_folder(
    source: Path,
    models_dir: Path,
    *,
    copy: bool = False,
    force: bool = False,
    check: bool = True,
    config: Any = None,
) -> LivePortraitImport:
    """Check the LivePortrait folder ``source`` and put its five files in ``<models_dir>/liveportrait``.

    ``check``: load the files into the networks first (``config``: a ``LivePortraitConfig``, None for
    the released layout), so a foreign or damaged file is refused before anything is written. Files
    are hard-linked where possible (same disk, no ``copy``), else copied through a temporary file
    renamed into place. Raises ``InputError`` (no such folder, files missing, destination taken without
    ``force``), ``CheckpointError`` (a file that does not load) or ``OutputError`` (cannot write).
    """
    source = Path(source).expanduser()
    if not source.is_dir():
        raise InputError(f"{source}: no such folder (expected the folder with the five LivePortrait files)")
    found = locate(source)
    missing = [f"{r.part}.pth" for r in RELEASED_FILES if r.part not in found]
    if missing:
        raise InputError(
            f"{source} lacks {', '.join(missing)}: is it the liveportrait folder of the download?"
        )
    if check:
        from avatarify_app.engines.liveportrait.checkpoint import load_models  # imports torch

        load_models(source, config)
    target_dir = default_folder(models_dir)
    done = []
    for released in RELEASED_FILES:
        path = found[released.part]
        target = target_dir / released.relative(path.suffix)
        md5 = file_md5(path)
        if released.md5 is not None and md5 != released.md5:
            logger.warning("%s: md5 %s differs from the released file's %s", path, md5, released.md5)
        method = _place(path, target, copy=copy, force=force)
        logger.info("imported %s (md5 %s) -> %s by %s", path.name, md5, target, method)
        done.append((released, target, md5, method))
    return LivePortraitImport(target_dir, tuple(done))


def _place(source: Path, target: Path, *, copy: bool, force: bool) -> str:
    if target.exists():
        if target.samefile(source):
            return "already present"
        if not force:
            raise InputError(f"{target} exists: pass --force to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not copy:
            try:
                tmp = target.with_name(target.name + ".link-tmp")
                tmp.unlink(missing_ok=True)
                os.link(source, tmp)
                os.replace(tmp, target)
                return "hard link"
            except OSError:
                pass  # another disk, or links not allowed: copy
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp_name)
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
    except OSError as exc:
        raise disk_error("write", target, exc) from exc
    return "copy"
