"""One conformance suite for the Engine contract: every check of ``contract.py`` on every catalog
entry (tiny configs, random weights) and on the tests' ``StillEngine``.

A new catalog entry joins by an example choice in ``EXAMPLES`` (the files it needs, small); the test
``test_every_catalog_entry_has_an_example`` fails until it has one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from avatarify_app.engines import EngineChoice, EngineContext, FommChoice, MeshChoice, create_engine
from avatarify_app.engines.catalog import LivePortraitChoice, RemoteChoice, names
from tests.engines.contract import CHECKS, FRAME_CHECKS, ContractMedia
from tests.fakes import StillEngine


@contextlib.contextmanager
def _mesh(folder: Path) -> Iterator[EngineChoice]:
    yield MeshChoice()


@contextlib.contextmanager
def _tiny_fomm(folder: Path) -> Iterator[EngineChoice]:
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
    yield FommChoice(checkpoint=checkpoint, config=config, backend="torch")


@contextlib.contextmanager
def _tiny_liveportrait(folder: Path) -> Iterator[EngineChoice]:
    """LivePortrait's networks at the tiny sizes (64 in, 128 out), random weights, in the released
    folder layout (the engine tells the sizes from the files)."""
    from avatarify_app.engines.liveportrait.checkpoint import build_models
    from avatarify_app.engines.liveportrait.config import LivePortraitConfig
    from tests.engines.liveportrait.liveportrait_helpers import randomize_, save_models

    save_models(folder, randomize_(build_models(LivePortraitConfig.tiny()), seed=1))
    yield LivePortraitChoice(checkpoint=folder, backend="torch")


@contextlib.contextmanager
def _remote(folder: Path) -> Iterator[EngineChoice]:
    """A real worker in this process (aiohttp + aiortc on 127.0.0.1) running the mesh engine."""
    from avatarify_app.engines.remote.transport import ICE_ADDRESSES_ENV
    from avatarify_app.serve.certificate import load_or_make
    from avatarify_app.serve.server import WorkerConfig, WorkerThread

    token, certificate = "contract-token-0123", load_or_make(folder)
    config = WorkerConfig(certificate=certificate, host="127.0.0.1", port=0, token=token)
    before = os.environ.get(ICE_ADDRESSES_ENV)
    os.environ[ICE_ADDRESSES_ENV] = "127.0.0.1"  # nothing leaves the loopback
    try:
        with WorkerThread(config, lambda options: create_engine(MeshChoice(), options)) as worker:
            yield RemoteChoice(
                remote=f"127.0.0.1:{worker.port}", token=token, fingerprint=certificate.fingerprint_hex
            )
    finally:
        if before is None:
            os.environ.pop(ICE_ADDRESSES_ENV, None)
        else:
            os.environ[ICE_ADDRESSES_ENV] = before


# Each catalog engine's example: a context manager giving a choice that builds it (small files, a
# worker...), cleaned up after the module's tests.
EXAMPLES: dict[str, Callable[[Path], contextlib.AbstractContextManager[EngineChoice]]] = {
    "mesh": _mesh,
    "fomm": _tiny_fomm,
    "liveportrait": _tiny_liveportrait,
    "remote": _remote,
}
# The contract is checked frame by frame: an engine with frames in flight answers each frame in its
# call (as for ``render``).
CONTEXT = EngineContext(offline=True)


def test_every_catalog_entry_has_an_example():
    assert set(names()) <= set(EXAMPLES), "add an example choice for the new engine to EXAMPLES"


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def example(request, tmp_path_factory) -> Iterator[EngineChoice]:
    with EXAMPLES[request.param](tmp_path_factory.mktemp(request.param)) as choice:
        yield choice


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_catalog_engines_keep_the_contract(check, example: EngineChoice, contract_media: ContractMedia):
    check(lambda options: create_engine(example, options, CONTEXT), contract_media)


@pytest.mark.parametrize("check", FRAME_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_the_still_engine_keeps_the_contract(check, contract_media: ContractMedia):
    check(StillEngine, contract_media)
