"""``avatarify render --engine fomm`` end to end on OpenVINO (tiny random-weight networks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import av
import numpy as np


def test_render_with_int8_says_what_ran_and_how_fast(session_tiny, model_cache, tmp_path):
    checkpoint, config = session_tiny
    out = tmp_path / "fomm.mp4"
    env = {**os.environ, "AVATARIFY_CACHE_DIR": str(model_cache.parent)}
    result = subprocess.run(
        [
            sys.executable, "-m", "avatarify_app", "render", "--demo", "--engine", "fomm",
            "--checkpoint", str(checkpoint), "--config", str(config), "--precision", "int8",
            "--size", "256", "--out", str(out),
        ],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stdout.splitlines()) == 2, f"stdout is the summary only:\n{result.stdout}"
    loop = re.search(
        r"frame loop: (\d+) frames in ([\d.]+) s, ([\d.]+) frames/s \(fomm on CPU, OpenVINO int8[^)]*\)",
        result.stdout,
    )
    assert loop, result.stdout
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == int(loop.group(1))
    assert frames[0].shape == (256, 256, 3)
    assert max(np.abs(f.astype(int) - frames[0].astype(int)).mean() for f in frames) > 0.1, "nothing moved"
    assert any("-int8" in p.name for p in model_cache.iterdir()), "int8 conversion not cached"


def test_render_refuses_a_precision_the_backend_cannot_run(session_tiny, tmp_path):
    checkpoint, config = session_tiny
    result = subprocess.run(
        [
            sys.executable, "-m", "avatarify_app", "render", "--demo", "--engine", "fomm",
            "--checkpoint", str(checkpoint), "--config", str(config), "--backend", "torch",
            "--precision", "int8", "--out", str(tmp_path / "x.mp4"),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "avatarify: precision int8 needs the openvino backend (--backend openvino)"
    ]
    assert not (tmp_path / "x.mp4").exists()
