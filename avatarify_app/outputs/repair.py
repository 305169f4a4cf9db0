"""Repair MP4 files cut short (a crash, a kill, a full disk) into regular ones.

A file cut short is the writer's fragmented partial file (``clip.1a2b3c4d.partial.mp4``, see
``outputs.mp4``): it decodes up to its last whole fragment, but some players misjudge its length.
Repairing copies its streams (no re-encoding) into a regular MP4 beside it, named after the file the
writer was making with ``(incomplete)`` added (``clip (incomplete).mp4``), so a cut-short file never
passes for a complete one and never replaces an existing file (``clip (incomplete 2).mp4`` when that
name is taken). The partial file is removed once its copy is complete. Any other MP4 (say, a
fragmented one from an older version) is copied to ``name (repaired).mp4`` and left as it is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from avatarify_app.errors import InputError, OutputError
from avatarify_app.outputs import journal
from avatarify_app.outputs.mp4 import remux_regular

logger = logging.getLogger(__name__)

_PARTIAL_NAME = re.compile(r"^(?P<stem>.*)\.[0-9a-f]{8}" + re.escape(journal.PARTIAL_SUFFIX) + "$")


@dataclass(frozen=True, slots=True)
class Repaired:
    """``source`` was copied into the regular MP4 ``path`` (``duration_s`` long); ``source_removed``:
    the partial file is gone (its content is all in ``path``)."""

    source: Path
    path: Path
    duration_s: float
    source_removed: bool

    def sentence(self) -> str:
        removed = f" ({self.source.name} was removed)" if self.source_removed else ""
        return f"saved {self.duration_s:.1f} s as {self.path}{removed}"


def repaired_name(source: Path, final: Path | None = None) -> Path:
    """A free name for the repair of ``source``: ``<final stem> (incomplete).mp4`` for a partial
    file (``final``: the name its writer was making; by default read from the partial's name),
    ``<stem> (repaired).mp4`` for any other file; `` 2``, `` 3``... when taken."""
    match = _PARTIAL_NAME.match(source.name)
    if match is not None or final is not None:
        stem = final.stem if final is not None else match.group("stem")  # type: ignore[union-attr]
        folder, label = (final.parent if final is not None else source.parent), "incomplete"
    else:
        stem, folder, label = source.stem, source.parent, "repaired"
    for n in range(1, 1000):
        candidate = folder / f"{stem} ({label}{'' if n == 1 else f' {n}'}).mp4"
        if not candidate.exists() and not os.path.lexists(candidate):
            return candidate
    raise OutputError(f"{folder}: no free name for the repair of {source.name}")


def repair(source: Path, out: Path | None = None, final: Path | None = None) -> Repaired:
    """Copy ``source`` into a regular MP4 at ``out`` (default: ``repaired_name``); never replaces an
    existing file. A partial file of ours is removed afterwards.

    Raises ``InputError`` when ``source`` is missing, not a video or holds no complete frame, and
    ``OutputError`` when ``out`` exists or cannot be written.
    """
    source = Path(source)
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    if (pid := journal.writer_of(source)) is not None:
        raise InputError(
            f"{source}: is still being written (by process {pid}); it becomes a regular MP4 by itself "
            "when that recording or render ends"
        )
    target = Path(out) if out is not None else repaired_name(source, final)
    if target.exists():
        raise OutputError(f"{target}: already exists; give another name (nothing is overwritten)")
    if target.resolve() == source.resolve():
        raise OutputError(f"{target}: is the file to repair; give another name")
    temp = target.with_name(f".{target.name}.repairing")
    try:
        duration = remux_regular(source, temp)
        _move_no_clobber(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise OutputError(
            f"{target}: cannot write the repaired file ({exc.strerror or exc}); {source} is kept"
        ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise
    removed = False
    if _PARTIAL_NAME.match(source.name):
        with contextlib.suppress(OSError):
            source.unlink()
            removed = True
    logger.info("repaired %s into %s (%.2f s)", source, target, duration)
    return Repaired(source, target, duration, removed)


def _move_no_clobber(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` unless something took that name meanwhile."""
    try:
        os.link(temp, target)  # fails when target exists
    except FileExistsError:
        raise OutputError(f"{target}: already exists; give another name (nothing is overwritten)") from None
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise OutputError(
                f"{target}: already exists; give another name (nothing is overwritten)"
            ) from None
        os.replace(temp, target)
        return
    temp.unlink()


@dataclass(frozen=True, slots=True)
class Recovery:
    """The outcome of repairing one file cut short: ``repaired`` or ``error`` (a sentence)."""

    final: Path
    repaired: Repaired | None = None
    error: str | None = None

    def sentence(self) -> str:
        if self.repaired is not None:
            return (
                f"{self.final} was cut short; the {self.repaired.duration_s:.1f} s written are saved "
                f"beside it as “{self.repaired.path.name}”"
            )
        return f"{self.final} was cut short and could not be repaired: {self.error}"


def repair_abandoned(folder: Path | None = None) -> list[Recovery]:
    """Repair every file the journal lists as cut short (no process writing it any more)."""
    outcomes = []
    for item in journal.abandoned(folder):
        with contextlib.suppress(OSError):
            journal.saving_path(item.partial).unlink(missing_ok=True)  # a finish that was cut short
        try:
            repaired = repair(item.partial, final=item.final)
        except InputError as exc:
            # Nothing playable in it (killed before its first second): nothing to keep.
            logger.info("removing %s: %s", item.partial, exc)
            with contextlib.suppress(OSError):
                item.partial.unlink()
            journal.note_finished(item.note)
            outcomes.append(
                Recovery(item.final, error=f"nothing in it could be played ({item.partial.name} was removed)")
            )
            continue
        except OutputError as exc:
            outcomes.append(Recovery(item.final, error=str(exc)))
            continue
        journal.note_finished(item.note)
        outcomes.append(Recovery(item.final, repaired=repaired))
    return outcomes
