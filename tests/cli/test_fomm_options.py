"""``--backend`` and ``--precision`` on the command lines that run the fomm engine."""

from __future__ import annotations

import pytest

from avatarify_app.cli import build_parser
from avatarify_app.cli.live import build_settings


def test_live_passes_backend_and_precision_to_the_settings():
    args = build_parser().parse_args(
        ["live", "--demo", "--engine", "fomm", "--backend", "openvino", "--precision", "int8"]
    )
    settings = build_settings(args)
    assert (settings.backend, settings.precision) == ("openvino", "int8")
    defaults = build_settings(build_parser().parse_args(["live", "--demo"]))
    assert (defaults.backend, defaults.precision) == ("auto", "auto")


def test_unknown_choices_are_refused_when_parsing(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["render", "--demo", "--out", "x.mp4", "--precision", "fp8"])
    assert info.value.code == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
