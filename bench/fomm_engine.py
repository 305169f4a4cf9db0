"""FOMM per-frame cost on this machine: every runtime available here against the plain torch forward.

Prints JSON. All paths run the vox-256 networks (``models/vox-256.yaml``) at 256x256 with random
weights (the real checkpoints are not available here; the cost does not depend on the values) drawn so
that activations keep their scale, batch norms have non-trivial statistics, and the prediction spreads
over [0, 1] (errors are measured on a picture, not a flat grey). Per frame:

- baseline: what the FOMM demo does per driving frame, torch fp32 eager, default settings: the keypoint
  detector on the driver, ``normalize_kp``, then the generator's full forward (encoder included).
- each runtime (``avatarify_app/engines/fomm/runtime``) as ``FommEngine.animate`` runs it
  (``Runtime.step``): keypoints, relative motion (movement scale from calibration), and the
  generator's per-frame part with the avatar's encoder features cached. Here: torch fp32 on the CPU,
  OpenVINO ``auto`` (bf16 where the CPU has it natively, else fp32), ``fp32``, ``bf16`` (only where
  native: elsewhere it would be fp32 again) and ``int8`` (NNCF, calibrated on the shipped frames).

Reported per path: ms per frame (min and median of interleaved rounds: the machine is shared), the
speed-up against the baseline of the same run, max abs error and PSNR against the baseline's
prediction, the conversion time of a first use (into an empty cache) and the peak RSS of a fresh
process that loads the converted model and runs three frames. ``cpu`` lists the CPU's features.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from avatarify_app.diagnostics.cpu import cpu_features  # noqa: E402
from avatarify_app.engines.fomm.config import FommConfig, build_models  # noqa: E402
from avatarify_app.engines.fomm.model.motion import movement_scale, normalize_kp  # noqa: E402
from avatarify_app.engines.fomm.runtime import Motion, Runtime, select_device  # noqa: E402
from avatarify_app.engines.fomm.runtime.ov import import_openvino  # noqa: E402

CONFIG = REPO / "models" / "vox-256.yaml"
BENCH_MD5 = "0123456789abcdef-bench"  # the cache key of the random networks


def build_networks(seed: int = 0, spread_output: bool = True):
    """The vox-256 networks with random weights that keep activations at a useful scale.

    ``spread_output``: scale the final conv so the prediction spreads over [0, 1] (costs one forward)."""
    torch.manual_seed(seed)
    kp_detector, generator = build_models(FommConfig.from_yaml(CONFIG))
    with torch.no_grad():
        for module in (*kp_detector.modules(), *generator.modules()):
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                module.weight.mul_(0.7)
                torch.nn.init.uniform_(module.bias, -0.05, 0.05)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.0)
                module.bias.uniform_(-0.1, 0.1)
        kp_detector.jacobian.weight.mul_(0.01)  # jacobians stay near the identity, as trained ones do
        kp_detector.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * 10))
        kp_detector.kp.weight.mul_(0.2)
    if spread_output:
        with torch.no_grad():
            images = make_images(256, 1)
            probe = kp_detector.eval()(images[:1])
            features = {}
            hook = generator.final.register_forward_hook(lambda m, i, o: features.setdefault("out", o))
            generator.eval()(images[:1], kp_source=probe, kp_driving=probe)
            hook.remove()
            generator.final.weight.mul_(1.5 / features["out"].std())
            generator.final.bias.zero_()
    return kp_detector.eval(), generator.eval()


def make_images(size: int, count: int, seed: int = 1) -> torch.Tensor:
    """Smooth random images (count, 3, size, size) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, size // 16, size // 16, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)


def make_runtime(path: str, cache: Path) -> Runtime:
    """A runtime over fresh copies of the networks: "torch:fp32" or "openvino:<precision>"."""
    backend, precision = path.split(":")
    kp_detector, generator = build_networks()
    if backend == "torch":
        from avatarify_app.engines.fomm.runtime.torch_eager import TorchRuntime

        return TorchRuntime(kp_detector, generator, select_device("cpu"), precision)
    from avatarify_app.engines.fomm.runtime.openvino_runtime import OpenVinoRuntime

    return OpenVinoRuntime(
        kp_detector,
        generator,
        FommConfig.from_yaml(CONFIG),
        checkpoint_md5=BENCH_MD5,
        cache_dir=cache,
        precision=precision,
    )


class Frames:
    """The source, the neutral driver and the drivers, and each path's per-frame function."""

    def __init__(self, size: int) -> None:
        images = make_images(size, 5)
        self.source, self.initial, self.drivers = images[:1], images[1:2], images[2:]
        self.frame = 0

    def driver(self) -> torch.Tensor:
        self.frame += 1
        return self.drivers[self.frame % len(self.drivers)].unsqueeze(0)

    def baseline(self) -> Callable[[torch.Tensor | None], torch.Tensor]:
        kp_detector, generator = build_networks()
        with torch.inference_mode():
            kp_source, kp_initial = kp_detector(self.source), kp_detector(self.initial)

        def step(driver: torch.Tensor | None = None) -> torch.Tensor:
            with torch.inference_mode():
                kp = normalize_kp(
                    kp_source,
                    kp_detector(self.driver() if driver is None else driver),
                    kp_initial,
                    True,
                    True,
                    True,
                )
                return generator(self.source, kp_source=kp_source, kp_driving=kp)["prediction"]

        return step

    def runtime_step(self, runtime: Runtime) -> Callable[[torch.Tensor | None], torch.Tensor]:
        avatar = runtime.prepare(self.source)
        kp_initial = runtime.keypoints(self.initial)
        motion = Motion(kp_initial, movement_scale(avatar.kp_source, kp_initial))

        def step(driver: torch.Tensor | None = None) -> torch.Tensor:
            return runtime.step(self.driver() if driver is None else driver, avatar, motion, 1.0)

        return step


def time_interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Milliseconds per call, each function once per round, rounds interleaved."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return times


def child_peak_rss(path: str, size: int, threads: int, cache: Path) -> float:
    """Peak RSS (MB) of a fresh process that loads ``path`` (converted already) and runs three frames."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            path,
            "--size",
            str(size),
            "--threads",
            str(threads),
            "--cache",
            str(cache),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _rss_child(path: str, size: int, cache: Path) -> None:
    frames = Frames(size)
    step = frames.baseline() if path == "baseline" else frames.runtime_step(make_runtime(path, cache))
    for _ in range(3):
        step(None)
    print(_peak_rss_mb())


def _peak_rss_mb() -> float:
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _summary(times: list[float]) -> dict[str, float]:
    return {"min": round(min(times), 1), "median": round(statistics.median(times), 1)}


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return round(10 * math.log10(1 / mse), 1) if mse > 0 else float("inf")


def available_paths() -> list[str]:
    paths = ["torch:fp32"]
    try:
        import_openvino()
    except ImportError:
        return paths
    paths += ["openvino:auto", "openvino:fp32"]
    if cpu_features().native_bf16:
        paths.append("openvino:bf16")
    return [*paths, "openvino:int8"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--paths", nargs="*", help="only these (torch:fp32, openvino:auto, openvino:int8...)")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child processes")
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_child:
        _rss_child(args.rss_child, args.size, args.cache)
        return

    paths = args.paths or available_paths()
    with tempfile.TemporaryDirectory(prefix="fomm-bench-cache-") as tmp:
        cache = Path(tmp)
        frames = Frames(args.size)
        steps: dict[str, Callable[[], object]] = {"baseline": frames.baseline()}
        conversion: dict[str, float] = {}
        for path in paths:
            t0 = time.perf_counter()
            runtime = make_runtime(path, cache)
            conversion[path] = round(time.perf_counter() - t0, 1)
            steps[path] = frames.runtime_step(runtime)
            steps[path].runtime = runtime  # type: ignore[attr-defined]
        driver = frames.drivers[:1]
        reference = steps["baseline"](driver)
        outputs = {path: steps[path](driver) for path in paths}
        times = time_interleaved(
            {name: (lambda s=step: s(None)) for name, step in steps.items()}, args.rounds
        )
        rss = (
            {}
            if args.no_rss
            else {
                name: round(child_peak_rss(name, args.size, args.threads, cache))
                for name in ["baseline", *paths]
            }
        )

    base = times["baseline"]
    result: dict[str, object] = {
        "cpu": {"model": (cpu := cpu_features()).model, **cpu.features, "openvino": list(cpu.openvino)},
        "torch": torch.__version__,
        "openvino": import_openvino().__version__ if "openvino:fp32" in paths else None,
        "threads": torch.get_num_threads(),
        "size": args.size,
        "rounds": args.rounds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "baseline": {"ms_per_frame": _summary(base), "peak_rss_mb": rss.get("baseline")},
    }
    for path in paths:
        runtime = steps[path].runtime  # type: ignore[attr-defined]
        result[path] = {
            "runs": runtime.label,
            "ms_per_frame": _summary(times[path]),
            "speedup": {
                "min": round(min(base) / min(times[path]), 2),
                "median": round(statistics.median(base) / statistics.median(times[path]), 2),
            },
            "max_abs_vs_torch_fp32": float(f"{(outputs[path] - reference).abs().max().item():.2e}"),
            "psnr_db_vs_torch_fp32": _psnr(outputs[path], reference),
            "conversion_s": conversion[path],
            "peak_rss_mb": rss.get(path),
        }
    result["prediction_std"] = round(reference.std().item(), 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
