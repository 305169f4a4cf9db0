"""``render`` and ``live`` through a worker: ``--remote HOST:PORT --token T --fingerprint F`` picks the
remote engine (no ``--engine`` needed), a wrong token is one line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from remote_helpers import TOKEN

from avatarify_app.cli import build_parser, main
from avatarify_app.cli.live import build_settings
from avatarify_app.engines.catalog import RemoteChoice
from tests.mp4check import assert_regular_mp4


def _remote_flags(worker, certificate, token: str = TOKEN) -> list[str]:
    return [
        "--remote",
        f"127.0.0.1:{worker.port}",
        "--token",
        token,
        "--fingerprint",
        certificate.fingerprint_hex,
    ]


def test_the_remote_flags_pick_the_remote_engine():
    args = build_parser().parse_args(
        ["live", "--demo", "--remote", "10.1.2.3:8443", "--token", "abcdefgh", "--fingerprint", "ab" * 32]
    )
    choice = build_settings(args).engine
    assert choice == RemoteChoice(remote="10.1.2.3:8443", token="abcdefgh", fingerprint="ab" * 32)
    assert "abcdefgh" not in repr(choice), "a token never reaches a log"


def test_render_through_a_worker(start_worker, certificate, tmp_path: Path, capsys):
    worker = start_worker()
    out = tmp_path / "remote.mp4"
    status = main(
        ["render", "--demo", "--out", str(out), "--size", "256", *_remote_flags(worker, certificate)]
    )
    assert status == 0
    assert "(remote on remote: CPU at 127.0.0.1" in capsys.readouterr().out
    assert_regular_mp4(out, fps=30)
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames > 100


@pytest.mark.parametrize("command", ["render", "live"])
def test_a_wrong_token_is_one_line_and_status_2(start_worker, certificate, tmp_path: Path, capsys, command):
    worker = start_worker()
    flags = _remote_flags(worker, certificate, token="not-the-token")
    if command == "render":
        argv = ["render", "--demo", "--out", str(tmp_path / "x.mp4"), *flags]
    else:
        argv = ["live", "--demo", "--no-virtual-camera", "--duration", "5", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the worker refused the token" in err.lower()
    assert "Traceback" not in err
    assert "not-the-token" not in err
