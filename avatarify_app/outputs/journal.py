"""A note of every MP4 being written, so that files cut short by a crash can be found and repaired.

Each writer leaves one small JSON file in ``<user data dir>/unfinished/`` while it writes: the
temporary (partial) file, the final name asked for, the writing process. A clean finish removes the
note; a crash, a kill or a full disk leaves it, and the next start of the app (or ``avatarify
repair``) turns the partial file into a regular MP4 (``outputs.repair``). The journal is a help, not
a requirement: when its folder cannot be written, files are written all the same (and logged).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from avatarify_app.config import user_data_dir

logger = logging.getLogger(__name__)

# A note whose process is alive still counts as abandoned when its files have not changed for this
# long (seconds): the process id was reused by another program after a reboot.
STALE_AFTER_S = 300.0
# The temporary files beside the final one: ``clip.<8 hex digits>.partial.mp4`` while writing,
# ``clip.<same digits>.saving.mp4`` while the finished file is being made.
PARTIAL_SUFFIX = ".partial.mp4"
SAVING_SUFFIX = ".saving.mp4"
# This process's notes carry this mark: a process id alone may come back after a restart (in a
# container the app may even get the same one every time).
RUN_ID = secrets.token_hex(8)


def saving_path(partial: Path) -> Path:
    """Where the regular MP4 is made from ``partial`` before it takes the final name."""
    return partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX) + SAVING_SUFFIX)


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A file being written, or cut short. ``note``: the journal file that describes it."""

    partial: Path
    final: Path
    pid: int
    run: str
    note: Path


def journal_dir() -> Path:
    return user_data_dir() / "unfinished"


def note_started(partial: Path, final: Path, folder: Path | None = None) -> Path | None:
    """Write the note for ``partial`` (to become ``final``); returns it, or None when it could not be
    written (the writing goes on without it)."""
    folder = folder or journal_dir()
    note = folder / f"{partial.name}.json"
    record = {
        "partial": str(partial.resolve()),
        "final": str(final.resolve()),
        "pid": os.getpid(),
        "run": RUN_ID,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        note.write_text(json.dumps(record), encoding="utf-8")
    except OSError as exc:
        logger.warning(
            "could not note %s in %s (%s): a crash would not be repaired at start", partial, folder, exc
        )
        return None
    return note


def note_stopped(note: Path | None) -> None:
    """Mark a note's file as no longer being written (cut short and kept: a repair may take it)."""
    item = _read(note) if note is not None else None
    if item is None or note is None:
        return
    record = {"partial": str(item.partial), "final": str(item.final), "pid": 0, "run": ""}
    try:
        note.write_text(json.dumps(record), encoding="utf-8")
    except OSError as exc:
        logger.warning("could not update the note %s: %s", note, exc)


def note_finished(note: Path | None) -> None:
    """Forget a note: its file was finished, removed or repaired."""
    if note is not None:
        with contextlib.suppress(OSError):
            note.unlink(missing_ok=True)


def abandoned(folder: Path | None = None) -> list[Unfinished]:
    """The notes of files no running process is writing (cut short by a crash), oldest first.
    Notes whose partial file is gone are forgotten on the way."""
    folder = folder or journal_dir()
    try:
        notes = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []
    found = []
    for note in notes:
        item = _read(note)
        if item is None:
            continue
        if not item.partial.exists():
            note_finished(note)
            continue
        if _being_written(item):
            continue
        found.append(item)
    return found


def writer_of(partial: Path, folder: Path | None = None) -> int | None:
    """The id of the running process still writing ``partial``, or None."""
    folder = folder or journal_dir()
    item = _read(folder / f"{partial.name}.json")
    if item is None or item.partial != partial.resolve() or not _being_written(item):
        return None
    return item.pid


def _read(note: Path) -> Unfinished | None:
    try:
        record = json.loads(note.read_text(encoding="utf-8"))
        return Unfinished(
            Path(record["partial"]), Path(record["final"]), int(record["pid"]), str(record["run"]), note
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable note %s", note)
        return None


def _being_written(item: Unfinished) -> bool:
    if item.run == RUN_ID:
        return True
    if not _alive(item.pid):
        return False
    changed = 0.0
    for path in (item.partial, saving_path(item.partial)):
        with contextlib.suppress(OSError):
            changed = max(changed, path.stat().st_mtime)
    return time.time() - changed < STALE_AFTER_S


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
