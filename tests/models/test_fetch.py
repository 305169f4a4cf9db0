"""Downloading checkpoints from a local HTTP server (127.0.0.1 only): complete, resumed, refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from avatarify_app.errors import InputError
from avatarify_app.modelstore import DownloadError, ModelEntry, fetch_model
from tests.models.conftest import LocalServer, md5_of

PAYLOAD = os.urandom(300_000)


def entry_for(data: bytes, md5: str | None = None, size: int | None = None) -> ModelEntry:
    return ModelEntry(
        name="test-model",
        file="test-model.pth.tar",
        size=size,
        md5=md5 if md5 is not None else md5_of(data),
        config="models/none.yaml",
        licence="test",
    )


def test_complete_transfer_is_verified_and_moved_into_place(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.served.data = PAYLOAD
    progress: list[tuple[int, int | None]] = []

    result = fetch_model(
        entry_for(PAYLOAD, size=len(PAYLOAD)),
        tmp_path,
        [http_server.url()],
        on_progress=lambda done, total: progress.append((done, total)),
        timeout_s=5,
    )

    assert result.path == tmp_path / "test-model.pth.tar"
    assert result.path.read_bytes() == PAYLOAD
    assert result.resumed_from == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test-model.pth.tar"]  # no .part left
    assert http_server.served.requests == [None]
    assert progress[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_dropped_connection_is_resumed_with_a_range_request(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.served.data = PAYLOAD
    http_server.served.drop_after = 100_000
    http_server.served.drops = 1

    result = fetch_model(entry_for(PAYLOAD), tmp_path, [http_server.url()], timeout_s=5)

    assert result.path.read_bytes() == PAYLOAD
    assert http_server.served.requests == [None, "bytes=100000-"]
    assert not (tmp_path / "test-model.pth.tar.part").exists()


def test_a_part_left_by_an_earlier_run_is_resumed(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.served.data = PAYLOAD
    (tmp_path / "test-model.pth.tar.part").write_bytes(PAYLOAD[:123_456])

    result = fetch_model(entry_for(PAYLOAD), tmp_path, [http_server.url()], timeout_s=5)

    assert result.resumed_from == 123_456
    assert result.path.read_bytes() == PAYLOAD
    assert http_server.served.requests == ["bytes=123456-"]


def test_a_complete_part_is_recognised_when_the_server_refuses_the_range(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.served.data = PAYLOAD
    (tmp_path / "test-model.pth.tar.part").write_bytes(PAYLOAD)

    result = fetch_model(entry_for(PAYLOAD), tmp_path, [http_server.url()], timeout_s=5)

    assert result.path.read_bytes() == PAYLOAD
    assert http_server.served.requests == [f"bytes={len(PAYLOAD)}-"]


def test_a_server_that_ignores_range_sends_the_whole_file_again(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.served.data = PAYLOAD
    http_server.served.ranges = False
    (tmp_path / "test-model.pth.tar.part").write_bytes(b"x" * 1000)  # stale bytes must not survive

    result = fetch_model(entry_for(PAYLOAD), tmp_path, [http_server.url()], timeout_s=5)

    assert result.path.read_bytes() == PAYLOAD


def test_wrong_checksum_is_refused_and_the_file_kept_aside(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.served.data = PAYLOAD
    wrong = entry_for(PAYLOAD, md5="0" * 32)

    with pytest.raises(DownloadError, match="wrong checksum") as caught:
        fetch_model(wrong, tmp_path, [http_server.url()], timeout_s=5)

    assert md5_of(PAYLOAD) in str(caught.value)
    assert "test-model.pth.tar.bad" in str(caught.value)
    assert not (tmp_path / "test-model.pth.tar").exists()
    assert not (tmp_path / "test-model.pth.tar.part").exists()
    assert (tmp_path / "test-model.pth.tar.bad").read_bytes() == PAYLOAD


def test_an_address_that_gives_nothing_falls_through_to_the_next(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.served.data = PAYLOAD
    http_server.served.drop_after = 0  # the first address gives nothing at all, three times
    http_server.served.drops = 3

    result = fetch_model(
        entry_for(PAYLOAD), tmp_path, [http_server.url("a"), http_server.url("b")], timeout_s=5
    )

    assert result.url == http_server.url("b")
    assert result.path.read_bytes() == PAYLOAD
    assert len(http_server.served.requests) == 4


def test_every_failure_is_listed_and_the_part_kept(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.served.data = PAYLOAD
    http_server.served.drop_after = 50_000
    http_server.served.drops = 1
    part = tmp_path / "test-model.pth.tar.part"

    http_server.served.status_after_first = 404  # so the resumed transfer cannot finish

    with pytest.raises(DownloadError) as caught:
        fetch_model(entry_for(PAYLOAD), tmp_path, [http_server.url()], timeout_s=5)

    message = str(caught.value)
    assert "HTTP 404" in message
    assert f"50000 bytes are kept in {part}" in message
    assert part.stat().st_size == 50_000


def test_no_address_means_import_it_yourself(tmp_path: Path) -> None:
    entry = entry_for(PAYLOAD)
    with pytest.raises(InputError, match="avatarify models import PATH"):
        fetch_model(entry, tmp_path, [])


def test_only_http_addresses_are_fetched(tmp_path: Path) -> None:
    source = tmp_path / "elsewhere.bin"
    source.write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="not an http"):
        fetch_model(entry_for(PAYLOAD), tmp_path / "models", [source.as_uri()])


def test_a_verified_file_already_present_is_not_downloaded(http_server: LocalServer, tmp_path: Path) -> None:
    (tmp_path / "test-model.pth.tar").write_bytes(PAYLOAD)

    result = fetch_model(entry_for(PAYLOAD), tmp_path, [http_server.url()], timeout_s=5)

    assert result.url is None
    assert http_server.served.requests == []


def test_an_unknown_md5_is_settled_by_a_load_check(
    http_server: LocalServer, tmp_path: Path, fomm_checkpoint: Path, app_root: Path
) -> None:
    data = fomm_checkpoint.read_bytes()
    http_server.served.data = data
    entry = ModelEntry("tiny", "tiny.pth.tar", None, None, "models/tiny.yaml", "test")

    result = fetch_model(entry, tmp_path / "models", [http_server.url()], timeout_s=5, root=app_root)

    assert result.path.read_bytes() == data


def test_an_unknown_md5_and_a_file_that_does_not_load_is_refused(
    http_server: LocalServer, tmp_path: Path, app_root: Path
) -> None:
    http_server.served.data = b"<html>not a checkpoint</html>"
    entry = ModelEntry("tiny", "tiny.pth.tar", None, None, "models/tiny.yaml", "test")

    with pytest.raises(DownloadError, match="not a FOMM checkpoint"):
        fetch_model(entry, tmp_path, [http_server.url()], timeout_s=5, root=app_root)

    assert (tmp_path / "tiny.pth.tar.bad").exists()
