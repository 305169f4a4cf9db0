"""`avatarify models list|import|fetch` through their argument parser, with tmp models folders."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest

from avatarify_app.cli import main
from avatarify_app.cli import models as models_cli
from avatarify_app.errors import AvatarifyError
from avatarify_app.modelstore import MODELS_DIR_ENV
from tests.models.conftest import LocalServer


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="avatarify")
    models_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_list_shows_every_registry_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vox-adv-cpk.pth.tar").write_bytes(b"not the real one")

    assert run_cli("models", "list", "--models-dir", str(tmp_path)) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "present", "md5", "ok", "path"]
    assert lines[1].split() == ["vox-adv-cpk", "yes", "NO", str(tmp_path / "vox-adv-cpk.pth.tar")]
    assert lines[2].split() == ["vox-cpk", "no", "-", str(tmp_path / "vox-cpk.pth.tar")]


def test_list_reads_the_models_dir_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))

    run_cli("models", "list", "--no-verify")

    assert str(tmp_path / "vox-cpk.pth.tar") in capsys.readouterr().out


def test_import_refuses_a_file_that_does_not_fit_the_vox_networks(tmp_path: Path) -> None:
    import torch

    # vox-cpk has no md5 in the registry, so the file must load into the vox-256 networks.
    source = tmp_path / "vox-cpk.pth.tar"
    torch.save({"kp_detector": {"kp.weight": torch.zeros(10, 35, 7, 7)}, "generator": {}}, source)

    with pytest.raises(AvatarifyError, match="vox-cpk.pth.tar was not imported: .*do not fit the config"):
        run_cli("models", "import", str(source), "--models-dir", str(tmp_path / "models"))
    assert not (tmp_path / "models" / "vox-cpk.pth.tar").exists()


def test_import_with_name_reports_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from avatarify_app.modelstore import importer

    source = tmp_path / "downloaded.bin"
    source.write_bytes(b"weights")
    monkeypatch.setattr(importer, "check_loadable", lambda path, config: None)  # a stand-in for 230 MB

    assert (
        run_cli("models", "import", str(source), "--name", "vox-cpk", "--models-dir", str(tmp_path / "m"))
        == 0
    )

    out = capsys.readouterr().out
    assert "vox-cpk: loads as a FOMM checkpoint (md5 not in the registry)" in out
    assert f"{tmp_path / 'm' / 'vox-cpk.pth.tar'} (hard link)" in out


def test_fetch_downloads_with_a_progress_line(
    tmp_path: Path,
    http_server: LocalServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from avatarify_app.modelstore import fetch

    http_server.served.data = b"w" * 200_000
    monkeypatch.setattr(fetch, "check_loadable", lambda path, config: None)  # vox-cpk has no md5

    code = run_cli("models", "fetch", "vox-cpk", "--url", http_server.url(), "--models-dir", str(tmp_path))

    assert code == 0
    captured = capsys.readouterr()
    assert "licence CC BY-NC 4.0" in captured.err
    assert "100%" in captured.err
    assert captured.err.count("\n") == 2  # the licence line and one progress line
    assert f"{tmp_path / 'vox-cpk.pth.tar'} (verified; from {http_server.url()})" in captured.out


def test_fetch_without_an_address_says_how_to_import(tmp_path: Path) -> None:
    with pytest.raises(AvatarifyError, match="download vox-cpk.pth.tar yourself"):
        run_cli("models", "fetch", "vox-cpk", "--models-dir", str(tmp_path))


def test_progress_line_redraws_one_line() -> None:
    stream = io.StringIO()
    bar = models_cli.ProgressLine("m", stream, min_interval_s=0.0)
    for done in (0, 50, 100):
        bar.update(done, 100)
    bar.close()

    text = stream.getvalue()
    assert text.count("\r") == 3
    assert text.count("\n") == 1
    assert text.endswith("\n")
    assert "100%" in text.rsplit("\r", 1)[1]


def test_a_user_error_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "avatarify_app", "models", "fetch", "vox-cpk", "--models-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("avatarify: no download address is known for vox-cpk")
    assert result.stderr.count("\n") == 1


SYS = Path("/sys")  # a folder nobody can create files in (sysfs), root included


@pytest.mark.skipif(not SYS.is_dir(), reason="needs Linux's /sys")
@pytest.mark.parametrize(
    ("models_dir", "expected"),
    [
        (SYS, "cannot write in /sys: "),
        (SYS / "avatarify-models", "cannot create the models folder /sys/avatarify-models: "),
        (Path(__file__), "cannot create the models folder"),
    ],
    ids=["read-only folder", "folder that cannot be created", "a file as the folder"],
)
def test_import_into_a_folder_that_cannot_be_written_is_one_line(
    models_dir: Path, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "vox-adv-cpk.pth.tar"
    source.write_bytes(b"any bytes: the folder is refused before the file matters")
    code = main(["models", "import", str(source), "--name", "vox-adv-cpk", "--models-dir", str(models_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert expected in err[0]
    assert "--models-dir" in err[0]
