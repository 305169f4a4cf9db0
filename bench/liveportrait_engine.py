"""LivePortrait per-stage cost here (torch eager), and whether OpenVINO converts the warping module.

Prints JSON. The networks are the released layout (``LivePortraitConfig.released()``) with random
weights (the released files are not available here; the cost does not depend on the values), batch 1,
at 256x256 in, 512x512 out. Stages, as ``LivePortraitEngine`` runs them:

- ``appearance_F``: the appearance feature extractor, once per avatar (``set_avatar``);
- per frame: ``motion_M`` (the motion extractor on the driver's crop), ``keypoints_and_stitching``
  (bins to degrees, rotation, relative motion, the stitching MLP, the lip delta), ``warping_W`` (3D dense
  motion, 5-D grid sampling, occlusion), ``decoder_G`` (SPADE, 256 -> 512), and ``per_frame_total``
  (their sum, measured in one go); ``engine_animate``: ``LivePortraitEngine.animate`` on a real driving
  frame (crop, the above, the uint8 conversion; the FaceMesh tracking is not included: the pipeline runs
  it in its own stage).

Each figure: min and median ms of ``--rounds`` rounds after one warm-up. ``openvino_warping_module``:
the result of ``openvino.convert_model`` on the warping module, with its 5-D grid sampling as it is
(the error) and with the 4-D decomposition (``WarpingNetwork.use_4d_sampling``: conversion time, max
abs error against torch's 5-D sampling, OpenVINO f32 ms).
On CUDA (``--device cuda``) ``cuda_graphs`` compares, per frame at fp16 (and fp32): the reference
code's path (``reference``: M, the maths, W without the avatar's cache, G, under fp16 autocast as the
reference runs them), the engine's step run eagerly (``step_eager``: ``LivePortraitEngine._step``,
torch backend) and replayed from a CUDA graph (``step_graphs``: the cuda-graphs backend's
``GraphedStep``), and ``engine_animate`` for both backends; ``graphs_vs_reference`` is the ratio of
median times (issue 20's target: at most 0.6), ``max_abs_graphs_vs_eager`` their output difference.
``--graphs-on-cpu`` runs that section on the CPU with the stand-in capture (checks the script only).
``--openvino-engine`` also times ``LivePortraitEngine(backend="openvino")``: its first construction
(conversion into an empty cache), a second one (from the cache) and ``animate``. ``--layout small``
runs the small layout of the tests instead (seconds, not minutes). Wall times on a shared machine are
inflated by the load: ``load_average`` is recorded before and after.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "engines" / "liveportrait"))

from liveportrait_helpers import randomize_, save_models  # noqa: E402

from avatarify_app.engines.base import EngineOptions  # noqa: E402
from avatarify_app.engines.liveportrait.checkpoint import build_models  # noqa: E402
from avatarify_app.engines.liveportrait.config import LivePortraitConfig  # noqa: E402
from avatarify_app.engines.liveportrait.engine import LivePortraitEngine  # noqa: E402
from avatarify_app.engines.liveportrait.model import (  # noqa: E402
    KeypointInfo,
    relative_driving_keypoints,
    source_keypoints,
    stitch,
)
from avatarify_app.tracking import detect_face  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"


def timed(fn: Callable[[], object], rounds: int, sync: Callable[[], None]) -> dict[str, float]:
    fn()
    sync()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return {"min_ms": round(min(times), 2), "median_ms": round(statistics.median(times), 2)}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def try_openvino(models, config: LivePortraitConfig, rounds: int) -> dict[str, object]:
    """Convert W with ``openvino.convert_model``, with its 5-D grid sampling as it is and with the 4-D
    decomposition (``use_4d_sampling``); report the error (or the max abs error and ms against torch)."""
    try:
        from avatarify_app.engines.liveportrait.runtime.openvino import import_openvino

        ov = import_openvino()
    except ImportError as exc:
        return {"error": f"openvino not importable: {exc}"}

    class Warp(torch.nn.Module):
        def __init__(self, warping: torch.nn.Module) -> None:
            super().__init__()
            self.warping = warping

        def forward(self, f: torch.Tensor, x_d: torch.Tensor, x_s: torch.Tensor) -> torch.Tensor:
            return self.warping(f, x_d, x_s)[0]

    side = config.input_size // 4
    a = config.appearance
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(1, a.reshape_channel, a.reshape_depth, side, side, generator=gen)
    x_s = 0.3 * torch.randn(1, 21, 3, generator=gen)
    x_d = x_s + 0.02 * torch.randn(1, 21, 3, generator=gen)
    inputs = (f.numpy(), x_d.numpy(), x_s.numpy())
    report: dict[str, object] = {}
    for label, four_d in (("5d_grid_sample", False), ("4d_decomposition", True)):
        models.warping.use_4d_sampling(four_d)
        module = Warp(models.warping).eval()
        start = time.perf_counter()
        try:
            model = ov.convert_model(module, example_input=(f, x_d, x_s))
        except Exception as exc:  # noqa: BLE001 - the report is the point
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = next((line for line in lines if "supported shape" in line), lines[-1] if lines else "")
            failed = next((line for line in lines if line.startswith("-- ")), "")
            report[label] = {"converted": False, "failed_op": failed.strip("- :"), "reason": reason[:300]}
            continue
        seconds = time.perf_counter() - start
        compiled = ov.Core().compile_model(
            model,
            "CPU",
            {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": torch.get_num_threads()},
        )
        models.warping.use_4d_sampling(False)
        with torch.no_grad():
            ref = Warp(models.warping)(f, x_d, x_s).numpy()
        report[label] = {
            "converted": True,
            "convert_s": round(seconds, 1),
            "max_abs_error_vs_torch_5d": float(np.abs(compiled(inputs)[0] - ref).max()),
            "output_max_abs": float(np.abs(ref).max()),
            "openvino_f32": timed(lambda c=compiled: c(inputs), rounds, lambda: None),
        }
    models.warping.use_4d_sampling(False)
    return report


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def torch_stages(
    config: LivePortraitConfig, device: torch.device, rounds: int, sync: Callable[[], None]
) -> tuple[dict[str, dict[str, float]], str]:
    """Each stage's figures, and ``LivePortraitEngine.animate``'s, with ``device_name``."""
    models = randomize_(build_models(config), seed=0).to(device)
    s = config.input_size
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, s, s, generator=gen).to(device)
    driving = torch.rand(1, 3, s, s, generator=gen).to(device)
    stages: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        f_s = models.appearance(source)
        info_s = KeypointInfo.from_heads(models.motion(source))
        info_0 = KeypointInfo.from_heads(models.motion(driving))
        x_s = source_keypoints(info_s)
        info_d = info_0
        x_d = stitch(models.stitching, x_s, relative_driving_keypoints(info_s, info_d, info_0))
        warped = models.warping(f_s, x_d, x_s)[0]
        lip = torch.cat([x_s.reshape(1, -1), torch.tensor([[0.05, 0.0]], device=device)], 1)

        def maths() -> None:
            x = relative_driving_keypoints(info_s, info_d, info_0)
            stitch(models.stitching, x_s, x) + models.stitching.lip(lip).reshape(1, 21, 3)

        def per_frame() -> None:
            info = KeypointInfo.from_heads(models.motion(driving))
            x = stitch(models.stitching, x_s, relative_driving_keypoints(info_s, info, info_0))
            models.spade(models.warping(f_s, x, x_s)[0])

        stages["appearance_F"] = timed(lambda: models.appearance(source), rounds, sync)
        stages["motion_M"] = timed(lambda: KeypointInfo.from_heads(models.motion(driving)), rounds, sync)
        stages["keypoints_and_stitching"] = timed(maths, rounds, sync)
        stages["warping_W"] = timed(lambda: models.warping(f_s, x_d, x_s), rounds, sync)
        stages["decoder_G"] = timed(lambda: models.spade(warped), rounds, sync)
        stages["per_frame_total"] = timed(per_frame, rounds, sync)
    avatar = read_rgb(MEDIA / "avatar_mona_lisa.jpg")
    frames = [read_rgb(MEDIA / "driving_frames" / f"frame_{n:03d}.png") for n in (0, 138)]
    tracks = [detect_face(frame) for frame in frames]
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_models(Path(tmp), models.to("cpu"))
        engine = LivePortraitEngine(
            EngineOptions(),
            checkpoint=folder,
            config=config,
            backend="torch",
            precision="fp32",
            device=None if device.type == "cpu" else str(device),
        )
    engine.set_avatar(avatar)
    engine.calibrate(frames[0], tracks[0])
    stages["engine_animate"] = timed(lambda: engine.animate(frames[1], tracks[1]), rounds, sync)
    device_name = engine.device_name
    engine.close()
    return stages, device_name


def cuda_graphs(
    config: LivePortraitConfig, device: torch.device, rounds: int, sync: Callable[[], None]
) -> dict[str, object]:
    """The reference's per-frame path, the engine's step eager and replayed from a CUDA graph, and
    ``animate`` on both backends (see the module docstring); on the CPU the stand-in capture."""
    from avatarify_app.engines.liveportrait.runtime.cuda_graphs import GraphedStep, capture_eager

    models = randomize_(build_models(config), seed=0)
    avatar = read_rgb(MEDIA / "avatar_mona_lisa.jpg")
    frames = [read_rgb(MEDIA / "driving_frames" / f"frame_{n:03d}.png") for n in (0, 138)]
    tracks = [detect_face(frame) for frame in frames]
    on_cuda = device.type == "cuda"
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_models(Path(tmp), models)
        for precision in ("fp16", "fp32") if on_cuda else ("fp32",):
            engines = {}
            for backend in ("torch", "cuda-graphs") if on_cuda else ("torch",):
                engine = LivePortraitEngine(
                    EngineOptions(),
                    checkpoint=folder,
                    config=config,
                    backend=backend,
                    precision=precision,
                    device=str(device),
                )
                engine.set_avatar(avatar)
                engine.calibrate(frames[0], tracks[0])
                engines[backend] = engine
            eager = engines["torch"]
            graphed = engines.get("cuda-graphs")
            inputs, flags = eager.step_inputs(frames[1], tracks[1])
            replay = (
                graphed._graphed
                if graphed is not None and graphed._graphed is not None
                else GraphedStep(eager._step, device, capture=capture_eager)
            )
            m = eager.models

            def reference(inputs=inputs, m=m, precision=precision) -> None:
                with torch.no_grad(), torch.autocast(device.type, torch.float16, enabled=precision == "fp16"):
                    info = KeypointInfo.from_heads(m.motion(inputs.driver).float())
                    x_d = relative_driving_keypoints(inputs.source, info, inputs.neutral)
                    x_d = stitch(m.stitching, inputs.x_s, x_d)
                    m.spade(m.warping(inputs.feature_3d, x_d, inputs.x_s)[0])

            figures: dict[str, object] = {
                "reference": timed(reference, rounds, sync),
                "step_eager": timed(functools.partial(eager._step, inputs, flags), rounds, sync),
                "step_graphs": timed(functools.partial(replay, inputs, flags), rounds, sync),
            }
            with torch.no_grad():
                difference = (replay(inputs, flags).float() - eager._step(inputs, flags).float()).abs().max()
            figures["max_abs_graphs_vs_eager"] = float(difference)
            for backend, engine in engines.items():
                animate = functools.partial(engine.animate, frames[1], tracks[1])
                figures[f"engine_animate_{backend}"] = timed(animate, rounds, sync)
                figures[f"device_name_{backend}"] = engine.device_name
            ref_ms = figures["reference"]["median_ms"]  # type: ignore[index]
            graph_ms = figures["step_graphs"]["median_ms"]  # type: ignore[index]
            figures["graphs_vs_reference"] = round(graph_ms / ref_ms, 3) if ref_ms else None
            figures["target_met"] = bool(ref_ms) and graph_ms / ref_ms <= 0.6
            report[precision] = figures
            for engine in engines.values():
                engine.close()
    report["capture"] = "cuda" if on_cuda else "cpu stand-in (figures meaningless)"
    return report


def openvino_engine(config: LivePortraitConfig, rounds: int) -> dict[str, object]:
    """``LivePortraitEngine(backend="openvino")``: first construction (converts into an empty cache),
    a second one (reads the cache), and ``animate`` on a real driving frame."""
    avatar = read_rgb(MEDIA / "avatar_mona_lisa.jpg")
    frames = [read_rgb(MEDIA / "driving_frames" / f"frame_{n:03d}.png") for n in (0, 138)]
    tracks = [detect_face(frame) for frame in frames]
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_models(Path(tmp) / "weights", randomize_(build_models(config), seed=0))
        for label in ("first_construction_s", "cached_construction_s"):
            start = time.perf_counter()
            engine = LivePortraitEngine(
                EngineOptions(),
                checkpoint=folder,
                config=config,
                backend="openvino",
                cache_dir=Path(tmp) / "cache",
            )
            report[label] = round(time.perf_counter() - start, 1)
        engine.set_avatar(avatar)
        engine.calibrate(frames[0], tracks[0])
        report["engine_animate"] = timed(lambda: engine.animate(frames[1], tracks[1]), rounds, lambda: None)
        report["device_name"] = engine.device_name
        engine.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("released", "small"), default="released")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-openvino", action="store_true")
    parser.add_argument(
        "--graphs-on-cpu", action="store_true", help="run the cuda_graphs section with the CPU stand-in"
    )
    parser.add_argument("--only-openvino", action="store_true", help="skip the torch stages")
    parser.add_argument(
        "--openvino-engine", action="store_true", help="also time the engine on OpenVINO (converts: minutes)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = LivePortraitConfig.released() if args.layout == "released" else LivePortraitConfig.small()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    load_before = os.getloadavg()
    result: dict[str, object] = {
        "layout": args.layout,
        "device": str(device),
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "precision": "fp32",
    }
    if not args.only_openvino:
        result["stages"], result["device_name"] = torch_stages(config, device, args.rounds, sync)
    if device.type == "cuda" or args.graphs_on_cpu:
        result["cuda_graphs"] = cuda_graphs(config, device, args.rounds, sync)
    if not args.no_openvino:
        models = randomize_(build_models(config), seed=0)
        result["openvino_warping_module"] = try_openvino(models, config, args.rounds)
    if args.openvino_engine:
        result["openvino_engine"] = openvino_engine(config, args.rounds)
    result["load_average"] = {"before": [round(x, 2) for x in load_before], "after": list(os.getloadavg())}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
