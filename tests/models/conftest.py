"""Fixtures for model management: tiny FOMM checkpoints, registries in tmp dirs, a local HTTP server."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

# A FOMM config small enough that a checkpoint in the original format weighs ~100 kB.
TINY_MODEL_PARAMS = {
    "common_params": {"num_kp": 2, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1,
        "block_expansion": 4,
        "max_features": 8,
        "scale_factor": 0.25,
        "num_blocks": 2,
    },
    "generator_params": {
        "block_expansion": 4,
        "max_features": 8,
        "num_down_blocks": 1,
        "num_bottleneck_blocks": 1,
        "estimate_occlusion_map": True,
        "dense_motion_params": {
            "block_expansion": 4,
            "max_features": 8,
            "num_blocks": 2,
            "scale_factor": 0.25,
        },
    },
}


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
def app_root(tmp_path: Path) -> Path:
    """A stand-in app folder holding models/tiny.yaml, the config registry entries point at."""
    root = tmp_path / "app"
    (root / "models").mkdir(parents=True)
    config = {"dataset_params": {"frame_shape": [64, 64, 3]}, "model_params": TINY_MODEL_PARAMS}
    (root / "models" / "tiny.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


@pytest.fixture
def fomm_checkpoint(tmp_path: Path, app_root: Path) -> Path:
    """A checkpoint in the original FOMM format (legacy torch serialization) with random tiny weights."""
    import torch

    from avatarify_app.engines.fomm.config import FommConfig, build_models

    kp_detector, generator = build_models(FommConfig.from_yaml(app_root / "models" / "tiny.yaml"))
    path = tmp_path / "downloads" / "my-vox.pth.tar"
    path.parent.mkdir()
    torch.save(
        {"generator": generator.state_dict(), "kp_detector": kp_detector.state_dict(), "epoch": 99},
        path,
        _use_new_zipfile_serialization=False,
    )
    return path


@dataclass
class ServedFile:
    """What the test server serves and what it saw. ``drop_after``: bytes sent before the connection is
    cut, for the first ``drops`` GET requests; ``ranges``: honour Range headers; ``status``: the answer
    to every request, or only to those after the first when ``status_after_first`` is set."""

    data: bytes
    drop_after: int | None = None
    drops: int = 0
    ranges: bool = True
    status: int = 200
    status_after_first: int | None = None
    requests: list[str | None] = field(default_factory=list)  # the Range header of each GET


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        served = self.server.served  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        status = served.status_after_first if served.requests and served.status_after_first else served.status
        served.requests.append(range_header)
        if status != 200:
            self.send_error(status)
            return
        start = 0
        if served.ranges and range_header and range_header.startswith("bytes="):
            start = int(range_header[len("bytes=") :].split("-")[0])
            if start >= len(served.data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(served.data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(served.data) - 1}/{len(served.data)}")
        else:
            self.send_response(200)
        body = served.data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if served.drops > 0 and served.drop_after is not None:
            served.drops -= 1
            self.wfile.write(body[: served.drop_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep the test output clean


@dataclass
class LocalServer:
    served: ServedFile
    port: int

    def url(self, name: str = "model.pth.tar") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """An HTTP server on 127.0.0.1 (only), in a named thread, shut down and joined after the test.
    Tests set ``served.data`` and the failure knobs before fetching."""
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    server.served = ServedFile(b"")  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http-server"
    )
    thread.start()
    try:
        yield LocalServer(server.served, server.server_address[1])  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
