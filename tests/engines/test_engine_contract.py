"""One conformance suite for the Engine contract: every check of ``contract.py`` on every catalog
entry (tiny configs, random weights) and on the tests' ``StillEngine``.

A new catalog entry joins by an example choice in ``EXAMPLES`` (the files it needs, small); the test
``test_every_catalog_entry_has_an_example`` fails until it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from avatarify_app.engines import EngineChoice, FommChoice, MeshChoice, create_engine
from avatarify_app.engines.catalog import names
from tests.engines.contract import CHECKS, FRAME_CHECKS, ContractMedia
from tests.fakes import StillEngine


def _tiny_fomm(folder: Path) -> FommChoice:
    """A tiny fomm network with random weights, in the released checkpoint layout (torch runtime)."""
    import torch

    from avatarify_app.engines.fomm.config import FommConfig, build_models
    from tests.engines.fomm.fomm_helpers import randomize_, save_original_layout, tiny_config_dict

    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict()), encoding="utf-8")
    torch.manual_seed(0)
    networks = build_models(FommConfig.from_yaml(config))
    randomize_(*networks)
    checkpoint = save_original_layout(folder / "tiny-vox.pth.tar", *networks)
    return FommChoice(checkpoint=checkpoint, config=config, backend="torch")


EXAMPLES: dict[str, Callable[[Path], EngineChoice]] = {
    "mesh": lambda folder: MeshChoice(),
    "fomm": _tiny_fomm,
}


def test_every_catalog_entry_has_an_example():
    assert set(names()) <= set(EXAMPLES), "add an example choice for the new engine to EXAMPLES"


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def example(request, tmp_path_factory) -> EngineChoice:
    return EXAMPLES[request.param](tmp_path_factory.mktemp(request.param))


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_catalog_engines_keep_the_contract(check, example: EngineChoice, contract_media: ContractMedia):
    check(lambda options: create_engine(example, options), contract_media)


@pytest.mark.parametrize("check", FRAME_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_the_still_engine_keeps_the_contract(check, contract_media: ContractMedia):
    check(StillEngine, contract_media)
