"""Exceptions that carry a sentence a person can act on.

Each message says what happened, what was expected and what was found. The controller and the CLI
turn them into one-line messages; an unexpected exception goes to the log with its traceback. An
error also carries what the layer that raised it knew (``OutputError.kept``), so a caller never digs
in ``__cause__`` or on disk for it.
"""

from __future__ import annotations

import errno
from pathlib import Path


class AvatarifyError(Exception):
    """Base class: the message is written for the user, not for a developer."""


class InputError(AvatarifyError):
    """A file the user named is missing, unreadable or of the wrong kind."""


class NoFaceError(AvatarifyError):
    """An image that must show a face (the avatar, the neutral frame) shows none."""


class CheckpointError(AvatarifyError):
    """A model checkpoint is missing, damaged or not the kind expected."""


class DeviceError(AvatarifyError):
    """A camera, microphone, virtual camera or compute device is missing or busy."""


class OutputError(AvatarifyError):
    """A file or device we write to refuses the data (not writable, disk full).

    ``kept``: where what was written before the error is kept (an incomplete file that plays), or
    None when nothing was kept.
    """

    def __init__(self, message: str, *, kept: Path | None = None) -> None:
        super().__init__(message)
        self.kept = kept


class DiskFullError(OutputError):
    """No room left for the data: the disk is full, the quota is used up or the file reached the size
    limit. ``reason`` says which, in the words of ``os_error_words``."""

    def __init__(self, message: str, *, kept: Path | None = None, reason: str = "the disk is full") -> None:
        super().__init__(message, kept=kept)
        self.reason = reason


# What an OSError means, in words a person reads after a file name ("out.mp4: the disk is full").
_OS_ERROR_WORDS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the disk is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file reached the size limit",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENOENT: "no such file or folder",
}
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def os_error_words(exc: OSError) -> str:
    """What ``exc`` means for the user ("the disk is full"); the system's own words for the rest."""
    return _OS_ERROR_WORDS.get(exc.errno or 0, exc.strerror or str(exc))


def is_no_room(exc: OSError) -> bool:
    """Whether ``exc`` says there is no room left (disk full, quota, file size limit): a
    ``DiskFullError``."""
    return exc.errno in _NO_ROOM
