"""Repairing files cut short: ``outputs.repair`` and ``avatarify repair``, on real MP4 files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from avatarify_app.errors import InputError, OutputError
from avatarify_app.outputs import journal
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.outputs.repair import repair, repair_abandoned, repaired_name
from tests.mp4check import assert_regular_mp4, top_level_boxes

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cut_short(path: Path, frames: int = 75) -> Path:
    """A partial file as a crash leaves it: written, never finished (the writer is dropped)."""
    writer = Mp4Writer(path, size=(64, 48), fps=30, audio_rate=48000)
    for i in range(frames):
        writer.write_video(np.full((48, 64, 3), i % 256, np.uint8), t=i / 30)
        writer.write_audio(np.zeros((1600, 1), np.float32), t=i / 30)
    writer.abort()
    assert writer.kept_path is not None
    return writer.kept_path


def _frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _from_a_process_that_is_gone(note: Path) -> None:
    record = json.loads(note.read_text())
    note.write_text(json.dumps({**record, "pid": 999_999_999, "run": "0" * 16}))  # above any pid_max


@pytest.fixture
def own_journal(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return journal.journal_dir()


def test_a_partial_file_becomes_a_regular_mp4_named_incomplete(tmp_path: Path, own_journal: Path) -> None:
    partial = _cut_short(tmp_path / "clip.mp4")
    assert "moof" in top_level_boxes(partial)

    repaired = repair(partial)

    assert repaired.path == tmp_path / "clip (incomplete).mp4"
    assert repaired.source_removed
    assert not partial.exists()
    assert_regular_mp4(repaired.path, fps=30)
    assert _frame_count(repaired.path) == 75
    assert abs(repaired.duration_s - 2.5) < 0.1


def test_no_existing_file_is_overwritten(tmp_path: Path, own_journal: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"the complete one")
    (tmp_path / "clip (incomplete).mp4").write_bytes(b"an earlier repair")
    partial = _cut_short(tmp_path / "clip.mp4")

    assert repaired_name(partial) == tmp_path / "clip (incomplete 2).mp4"
    repaired = repair(partial)
    assert repaired.path == tmp_path / "clip (incomplete 2).mp4"
    assert (tmp_path / "clip.mp4").read_bytes() == b"the complete one"
    assert (tmp_path / "clip (incomplete).mp4").read_bytes() == b"an earlier repair"
    with pytest.raises(OutputError, match="already exists"):
        repair(repaired.path, out=tmp_path / "clip.mp4")


def test_any_other_mp4_is_copied_beside_it_and_kept(tmp_path: Path, own_journal: Path) -> None:
    fragmented = tmp_path / "old.mp4"
    shutil.copy(_cut_short(tmp_path / "x.mp4"), fragmented)  # as older versions wrote them
    repaired = repair(fragmented)
    assert repaired.path == tmp_path / "old (repaired).mp4"
    assert not repaired.source_removed
    assert fragmented.exists()
    assert_regular_mp4(repaired.path, fps=30)


def test_what_is_not_a_video_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(InputError, match="not a readable video"):
        repair(text)
    with pytest.raises(InputError, match="no such file"):
        repair(tmp_path / "missing.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]


def test_the_journal_lists_files_cut_short_but_not_files_being_written(
    tmp_path: Path, own_journal: Path
) -> None:
    writing = Mp4Writer(tmp_path / "live.mp4", size=(64, 48), fps=30)
    writing.write_video(np.zeros((48, 64, 3), np.uint8))
    partial = _cut_short(tmp_path / "crashed.mp4")
    try:
        # This process is writing live.mp4; crashed.mp4's note says it was this process too, so
        # pretend it came from a process that is gone.
        _from_a_process_that_is_gone(next(own_journal.glob("crashed.*.json")))
        (item,) = journal.abandoned()
        assert (item.partial, item.final) == (partial, tmp_path / "crashed.mp4")

        (outcome,) = repair_abandoned()
        assert outcome.error is None
        assert outcome.repaired is not None
        assert outcome.repaired.path == tmp_path / "crashed (incomplete).mp4"
        assert outcome.sentence() == (
            f"{tmp_path / 'crashed.mp4'} was cut short; the 2.5 s written are saved beside it as "
            "“crashed (incomplete).mp4”"
        )
        assert journal.abandoned() == []
    finally:
        writing.close()
    assert not list(own_journal.glob("*.json"))


_RUN = [sys.executable, "-m", "avatarify_app"]


def _avatarify(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([*_RUN, *args], capture_output=True, text=True, timeout=120, env=env)


def test_avatarify_repair_file(tmp_path: Path, own_journal: Path) -> None:
    partial = _cut_short(tmp_path / "clip.mp4")
    result = _avatarify("repair", str(partial))
    assert result.returncode == 0, result.stderr
    target = tmp_path / "clip (incomplete).mp4"
    assert result.stdout.startswith(f"repaired {partial}: saved 2.")
    assert f"as {target}" in result.stdout
    assert_regular_mp4(target, fps=30)

    result = _avatarify("repair", str(tmp_path / "missing.mp4"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"avatarify: {tmp_path / 'missing.mp4'}: no such file"


def test_avatarify_repair_without_a_file_repairs_what_the_app_left(tmp_path: Path, own_journal: Path) -> None:
    result = _avatarify("repair")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nothing to repair: no recording or render was cut short"

    _cut_short(tmp_path / "clip.mp4")
    _from_a_process_that_is_gone(next(own_journal.glob("clip.*.json")))
    result = _avatarify("repair")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{tmp_path / 'clip.mp4'} was cut short; the 2.")
    assert_regular_mp4(tmp_path / "clip (incomplete).mp4", fps=30)


def test_a_file_being_written_is_left_alone(tmp_path: Path, own_journal: Path) -> None:
    writer = Mp4Writer(tmp_path / "live.mp4", size=(64, 48), fps=30)
    writer.write_video(np.zeros((48, 64, 3), np.uint8))
    try:
        with pytest.raises(InputError, match=f"is still being written \\(by process {os.getpid()}\\)"):
            repair(writer.partial_path)
        assert writer.partial_path.exists()
    finally:
        writer.close()
    assert _frame_count(tmp_path / "live.mp4") == 1


def test_a_reused_process_id_does_not_hide_a_file_cut_short(tmp_path: Path, own_journal: Path) -> None:
    """The note names a live process (this one, as after a restart in a container) but another run,
    and the file has not changed for minutes: it was cut short."""
    partial = _cut_short(tmp_path / "clip.mp4")
    note = next(own_journal.glob("clip.*.json"))
    note.write_text(json.dumps({**json.loads(note.read_text()), "pid": os.getpid(), "run": "0" * 16}))
    assert journal.abandoned() == []  # written moments ago: it may still be being written
    old = partial.stat().st_mtime - 2 * journal.STALE_AFTER_S
    os.utime(partial, (old, old))
    assert [item.partial for item in journal.abandoned()] == [partial]
