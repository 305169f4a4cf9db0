"""``avatarify serve``'s words: the start line says where the engine runs; bad options get one line."""

from __future__ import annotations

import pytest

from avatarify_app import cli
from avatarify_app.cli.serve import start_line
from avatarify_app.engines import catalog


def test_the_start_line_says_when_there_is_no_gpu() -> None:
    fomm = catalog.get("fomm")
    line = start_line(fomm, "CPU, OpenVINO fp32", "0.0.0.0", 8443, 4)
    assert "fomm engine on CPU, OpenVINO fp32 (no GPU found: it runs on the CPU; " in line
    assert "up to 4 sessions" in line
    gpu = start_line(fomm, "CUDA: NVIDIA H200, torch fp16 + CUDA graphs", "0.0.0.0", 8443, 8)
    assert "no GPU" not in gpu


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["serve", "--engine", "mesh", "--token", "short"], "--token: 8 to 128"),
        (["serve", "--engine", "mesh", "--turn", "turn:127.0.0.1:3478"], "--turn needs --turn-user"),
        (["serve", "--engine", "mesh", "--relay-only"], "relay only needs a TURN server"),
    ],
)
def test_bad_options_get_one_line_and_status_2(argv, words, capsys) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert words in err[0]


def test_max_sessions_must_be_positive(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--max-sessions", "0"])
    assert exit_info.value.code == 2
