"""The engine flags ``live`` and ``render`` share (``cli.options.add_engine_arguments``), all read from
the engine catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from avatarify_app.cli import build_parser
from avatarify_app.cli.live import build_settings
from avatarify_app.cli.options import engine_choice, engine_options
from avatarify_app.engines import FommChoice, MeshChoice
from avatarify_app.engines.catalog import names


def test_live_builds_the_engine_choice_from_its_flags():
    args = build_parser().parse_args(
        ["live", "--demo", "--engine", "fomm", "--backend", "openvino", "--precision", "int8"]
    )
    assert build_settings(args).engine == FommChoice(backend="openvino", precision="int8")
    defaults = build_settings(build_parser().parse_args(["live", "--demo"]))
    assert defaults.engine == MeshChoice()


def test_live_takes_the_same_engine_flags_as_render(tmp_path: Path):
    checkpoint, config = tmp_path / "vox.pth.tar", tmp_path / "vox.yaml"
    flags = ["--engine", "fomm", "--checkpoint", str(checkpoint), "--config", str(config)]
    flags += ["--strength", "1.5", "--mouth", "0.5"]
    live = build_parser().parse_args(["live", "--demo", *flags])
    render = build_parser().parse_args(["render", "--demo", "--out", "x.mp4", *flags])
    for args in (live, render):
        assert engine_choice(args) == FommChoice(checkpoint=checkpoint, config=config)
        options = engine_options(args)
        assert (options.strength, options.mouth, options.eyes) == (1.5, 0.5, 1.0)
    assert build_settings(live).engine_options.strength == 1.5


def test_engine_names_and_help_come_from_the_catalog(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["render", "--help"])
    text = capsys.readouterr().out
    for name in names():
        assert f"{name}:" in text
    assert "Warps the avatar's face mesh" in text


def test_unknown_choices_are_refused_when_parsing(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["render", "--demo", "--out", "x.mp4", "--precision", "fp8"])
    assert info.value.code == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["live", "--engine", "mesh2"])
    assert info.value.code == 2
