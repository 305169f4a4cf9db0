"""Logs: one file per run in the user's log folder (under $XDG_STATE_HOME on Linux), named by the
message when something goes wrong."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import avatarify_app.cli as cli
from avatarify_app.cli import doctor, main


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "avatarify" / "log"


def _fail(args) -> int:
    raise RuntimeError("a bug")


def test_an_unexpected_error_names_this_runs_own_log_file(
    state_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(doctor, "run", _fail)
    assert main(["doctor"]) == 1
    first = capsys.readouterr().err.strip()
    assert main(["doctor"]) == 1
    second = capsys.readouterr().err.strip()

    assert first.startswith(f"avatarify: unexpected error; details are in {state_home}{os.sep}avatarify-")
    logs = [Path(line.split("details are in ")[1]) for line in (first, second)]
    assert logs[0] != logs[1], "each run has a file of its own"
    for log in logs:
        text = log.read_text(encoding="utf-8")
        assert "RuntimeError: a bug" in text
        assert "Traceback" in text
    assert "Traceback" not in first + second


def test_only_the_newest_logs_are_kept(state_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_home.mkdir(parents=True)
    for i in range(15):
        old = state_home / f"avatarify-20200101-0000{i:02d}-{i}.log"
        old.write_text("old run\n")
        os.utime(old, (time.time() - 1000 + i, time.time() - 1000 + i))
    main(["models", "list", "--no-verify", "--models-dir", str(state_home.parent / "models")])
    capsys.readouterr()

    kept = sorted(state_home.glob("avatarify-*.log"))
    assert len(kept) == cli.LOGS_KEPT
    assert cli.log_path() in kept
    assert not (state_home / "avatarify-20200101-000000-0.log").exists()  # the oldest went first
    assert (state_home / "avatarify-20200101-000014-14.log").exists()


def test_an_unwritable_state_folder_falls_back_to_the_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder would go")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    monkeypatch.setattr(doctor, "run", _fail)
    assert main(["doctor"]) == 1
    err = capsys.readouterr().err.strip()
    log = Path(err.split("details are in ")[1])
    assert "RuntimeError: a bug" in log.read_text(encoding="utf-8")
    assert not str(log).startswith(str(blocker))
