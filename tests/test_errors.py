"""The errors carry what the layer that raised them knew, and one table gives an OSError's words."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from avatarify_app.errors import AvatarifyError, DiskFullError, OutputError, is_no_room, os_error_words
from avatarify_app.modelstore import disk_error


def test_an_output_error_carries_what_was_kept() -> None:
    assert OutputError("x.mp4: cannot write").kept is None
    error = DiskFullError("x.mp4: the disk is full", kept=Path("x.1234.partial.mp4"))
    assert isinstance(error, OutputError)
    assert isinstance(error, AvatarifyError)
    assert error.kept == Path("x.1234.partial.mp4")
    assert error.reason == "the disk is full"
    assert str(error) == "x.mp4: the disk is full"


@pytest.mark.parametrize(
    ("code", "words", "no_room"),
    [
        (errno.ENOSPC, "the disk is full", True),
        (errno.EDQUOT, "the disk quota is used up", True),
        (errno.EFBIG, "the file reached the size limit", True),
        (errno.EROFS, "the disk is read-only", False),
        (errno.EACCES, "permission denied", False),
        (errno.ENOENT, "no such file or folder", False),
    ],
)
def test_one_table_says_what_an_os_error_means(code: int, words: str, no_room: bool) -> None:
    exc = OSError(code, "system words")
    assert os_error_words(exc) == words
    assert is_no_room(exc) is no_room


def test_an_unknown_os_error_keeps_the_systems_words() -> None:
    assert os_error_words(OSError(errno.EIO, "Input/output error")) == "Input/output error"


def test_the_models_folder_on_a_full_disk_is_a_disk_full_error(tmp_path: Path) -> None:
    path = tmp_path / "m.pth"
    error = disk_error("write", path, OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(error, DiskFullError)
    assert str(error).startswith(f"cannot write {path}: the disk is full; choose a models folder")
    assert type(disk_error("write", tmp_path, OSError(errno.EROFS, "Read-only"))) is OutputError
