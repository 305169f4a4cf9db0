"""A toy engine, defined in ``tests/toy_engine.py`` and registered at run time, passes the contract
suite and renders through ``avatarify render --engine toy`` (its own ``--toy-tint`` flag included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from avatarify_app.cli import main
from avatarify_app.engines import create_engine
from avatarify_app.engines.catalog import names, registered
from tests.engines.contract import CHECKS, ContractMedia
from tests.mp4check import assert_regular_mp4
from tests.toy_engine import TOY, ToyChoice


@pytest.fixture
def toy() -> Iterator[None]:
    with registered(TOY):
        yield
    assert "toy" not in names()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_the_toy_engine_keeps_the_contract(check, toy, contract_media: ContractMedia):
    check(lambda options: create_engine(ToyChoice(), options), contract_media)


def test_render_with_the_toy_engine(toy, tmp_path: Path, driving_video: Path, media_dir: Path, capsys):
    out = tmp_path / "toy.mp4"
    avatar = media_dir / "avatar_mona_lisa.jpg"
    status = main(
        ["render", "--engine", "toy", "--toy-tint", "1.0", "--avatar", str(avatar), "--driving",
         str(driving_video), "--out", str(out), "--size", "256"]
    )  # fmt: skip
    assert status == 0
    assert "(toy on CPU, toy)" in capsys.readouterr().out
    assert_regular_mp4(out, fps=30)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (256, 256)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    reds = [float(frame[..., 0].mean() - frame[..., 1].mean()) for frame in frames]
    assert max(reds) > min(reds) + 5, "the open mouth reddens the avatar"


def test_a_choice_the_toy_does_not_take_is_one_line(toy, tmp_path: Path, capsys):
    out = tmp_path / "x.mp4"
    status = main(["render", "--engine", "toy", "--toy-tint", "much", "--demo", "--out", str(out)])
    assert status == 2
    err = capsys.readouterr().err
    assert "the toy engine's tint: 'much' is not a number" in err
    assert "Traceback" not in err
    assert not out.exists()
