"""FOMM per-frame cost on the CPU: the engine's path against a plain forward of the same networks.

Prints JSON. Both paths run the vox-256 networks (``models/vox-256.yaml``) at 256x256 with random
weights (the real checkpoints are not available here; the cost does not depend on the values) drawn so
that activations keep their scale, and batch norms with non-trivial statistics. Per frame:

- baseline: what the FOMM demo does per driving frame, fp32, default torch settings: the keypoint
  detector on the driver, ``normalize_kp``, then the generator's full forward (encoder included).
  The avatar's keypoints are computed once, as in the demo.
- engine: what ``FommEngine.animate`` runs: the inference copies of ``optimize_for_inference`` (batch
  norm folded, NNPACK Winograd/FFT convolutions, sub-pixel upsampling convs, GEMMs for the small wide
  convs) with the avatar's encoder features and downsampled image cached, under ``nnpack_threads``.

Run it as is, and with ``OMP_WAIT_POLICY=PASSIVE`` in the environment (recorded in the output): GNU
OpenMP's workers otherwise busy-wait after each parallel op, on the cores NNPACK's threads need.
``--no-nnpack`` measures the engine as it runs on a torch built without NNPACK (Windows wheels).

``gflop_per_frame`` counts the multiply-adds (x2) each path asks for, as direct convolutions
(``torch.utils.flop_counter`` on the reference modules); NNPACK performs fewer, so the engine's
``gflop_per_s`` is an effective rate. Timings are the minimum and median of interleaved rounds (the
machine is shared: other processes come and go); ``peak_rss_mb`` is measured in a fresh child process
per path (build the networks, then a few frames; torch and the app's imports alone take about 320 MB).

What was tried on this project's 2-core AMD EPYC (AVX-512), torch 2.13, 2 threads (ms per frame,
single-thread CPU time where marked "1t"):
- Cached encoder features: 20 of 110 GFLOP gone. Kept.
- Anti-alias downsampling as a strided conv instead of blur-then-subsample: identical values, 16x
  fewer multiply-adds for the 13x13 blur. Kept (in the network itself).
- Batch norm folded into the conv weights: saves a pass over memory per block. Kept.
- channels_last: no gain on the CPU (a 256->256 3x3 conv at 64x64: 22 ms either way). Not kept on the
  CPU; the CUDA path uses it.
- Our own Winograd F(4x4, 3x3) in torch GEMMs (``winograd.py``): 44 -> 29 ms (1t) for a bottleneck
  conv; limited by MKL's GEMM on this AMD CPU (about 87 GFLOP/s per core against 110 for oneDNN's
  direct convs) and by the transform passes. Kept only as the fallback where torch lacks NNPACK.
- NNPACK (``torch._nnpack_spatial_convolution``, Winograd F(6x6, 3x3) and FFT kernels; torch calls it
  by itself only for batches of 16 or more): bottleneck conv 44 -> 18 ms (1t), final 7x7 conv
  63 -> 12 ms (1t), the dense motion's 7x7 mask conv 6.6 -> 2.0 ms (1t). Kept: the main lever.
- Upsampling convs as four phase kernels on the low-resolution input + pixel shuffle: the input
  transform runs on a quarter of the pixels; with NNPACK 89 -> 34 ms (1t) for the first decoder block
  (direct, upsampled: 89 ms). Kept for inputs of 32x32 and up. ``F.pixel_shuffle`` itself took 10.5 ms
  for (1, 256, 128, 128); a view/permute/reshape copy 2.7 ms. Kept.
- The dense motion hourglass's middle (512-2048 channels at 2x2 to 8x8): direct convs are slow there
  (2048->512 at 8x8: 43 ms 1t), NNPACK slower still (64 ms); an unfold and one GEMM takes 20 ms (MKL,
  1t), or 7.5 ms as NNPACK's 1x1 conv on its 2-thread pool (inside ``nnpack_threads``, where MKL gets
  one thread: 15 ms). Kept for outputs up to 8x8. oneDNN's inner product would save 10-25% over MKL
  (a private op): not used.
- Nearest 2x upsampling (the blocks below 32x32) as a broadcast copy: 6.1 -> 1.4 ms (1t) for
  (1, 256, 32, 32) against ``F.interpolate``. Kept.
- Threads: NNPACK has its own pool. With GNU OpenMP's default busy-waiting, torch's OpenMP workers
  steal the cores from it: engine 390-450 ms at 2 OpenMP threads, 310-340 ms with OpenMP at 1 thread
  during the frame (kept: ``nnpack_threads``). Giving the GEMMs 2 threads inside that: no gain. With
  ``OMP_WAIT_POLICY=PASSIVE``: 275 ms at 2 threads (and the baseline 705 instead of 730 ms).
- Page faults: every large fresh tensor costs about 0.45 ms per MB in first-touch faults on this VM
  (the baseline faults about 275 MB a frame, the engine 48 MB). torch's ``THP_MEM_ALLOC_ENABLE=1``
  (transparent huge pages, set before torch is imported) cuts that 4x: baseline 730 -> 640-685 ms,
  engine 300 -> 270-285 ms. An environment setting for the app's entry point, like
  ``OMP_WAIT_POLICY``; glibc's malloc thresholds (``mallopt``) did not stop the faults.
- torch.compile (inductor) of the baseline generator: 63 s to compile, then 637 ms instead of about
  810 ms (same contended run). It needs a C++ compiler at run time (none on users' Windows machines):
  not used in the app. ``--compile`` measures it.
- bf16: not tried (8 bits of mantissa cannot hold 1e-3 over these depths); fp16 is for CUDA only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from avatarify_app.engines.fomm import frozen_conv  # noqa: E402
from avatarify_app.engines.fomm.config import FommConfig, build_models  # noqa: E402
from avatarify_app.engines.fomm.frozen_conv import nnpack_threads  # noqa: E402
from avatarify_app.engines.fomm.motion import normalize_kp  # noqa: E402
from avatarify_app.engines.fomm.optimize import optimize_for_inference  # noqa: E402

CONFIG = REPO / "models" / "vox-256.yaml"


def build_networks(seed: int = 0, spread_output: bool = True):
    """The vox-256 networks with random weights that keep activations at a useful scale.

    ``spread_output``: scale the final conv so the prediction spreads over [0, 1] (costs one forward,
    and its memory: off where peak memory is measured)."""
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
    if not spread_output:
        return kp_detector.eval(), generator.eval()
    with torch.no_grad():
        # Spread the prediction over [0, 1] (pre-sigmoid std about 1.5), so errors are measured on a
        # picture, not on a flat grey.
        images = make_images(256, 1)
        probe = kp_detector.eval()(images[:1])
        features = {}
        hook = generator.final.register_forward_hook(lambda m, i, o: features.setdefault("out", o))
        generator.eval()(images[:1], kp_source=probe, kp_driving=probe)
        hook.remove()
        generator.final.weight.mul_(1.5 / features["out"].std())
        generator.final.bias.zero_()
    return kp_detector, generator


def make_images(size: int, count: int, seed: int = 1) -> torch.Tensor:
    """Smooth random images (count, 3, size, size) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, size // 16, size // 16, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)


class Paths:
    """The baseline and engine per-frame functions over one set of networks and inputs."""

    def __init__(self, size: int) -> None:
        self.kp_ref, self.gen_ref = build_networks()
        self.kp_fast = optimize_for_inference(self.kp_ref)
        self.gen_fast = optimize_for_inference(self.gen_ref)
        images = make_images(size, 4)
        self.source, self.initial, self.drivers = images[:1], images[1:2], images[2:]
        with torch.inference_mode():
            self.kp_source = self.kp_ref(self.source)
            self.kp_initial = self.kp_ref(self.initial)
            self.features = self.gen_fast.encode(self.source)
            self.small = self.gen_fast.dense_motion_network.downsample(self.source)
        self.frame = 0

    def _driver(self) -> torch.Tensor:
        self.frame += 1
        return self.drivers[self.frame % len(self.drivers)].unsqueeze(0)

    def _normalize(self, kp_driving):
        return normalize_kp(self.kp_source, kp_driving, self.kp_initial, True, True, True)

    def baseline_step(self, driver: torch.Tensor | None = None) -> torch.Tensor:
        driver = self._driver() if driver is None else driver
        kp_driving = self._normalize(self.kp_ref(driver))
        return self.gen_ref(self.source, kp_source=self.kp_source, kp_driving=kp_driving)["prediction"]

    def engine_step(self, driver: torch.Tensor | None = None) -> torch.Tensor:
        driver = self._driver() if driver is None else driver
        with nnpack_threads():  # as FommEngine.animate runs it (the inner block nests harmlessly)
            kp_driving = self._normalize(self.kp_fast(driver))
            return self.engine_generator(kp_driving)["prediction"]

    def engine_keypoints(self) -> object:
        with nnpack_threads():
            return self.kp_fast(self._driver())

    def engine_generator(self, kp_driving) -> dict[str, torch.Tensor]:
        with nnpack_threads():
            return self.gen_fast(
                self.source,
                kp_source=self.kp_source,
                kp_driving=kp_driving,
                source_features=self.features,
                source_small=self.small,
                return_deformed=False,
            )

    def baseline_generator(self) -> torch.Tensor:
        kp_driving = self._normalize(self.kp_ref(self.drivers[:1]))
        return self.gen_ref(self.source, kp_source=self.kp_source, kp_driving=kp_driving)["prediction"]

    def parts(self) -> dict[str, Callable[[], object]]:
        kp_driving = self._normalize(self.kp_ref(self.drivers[:1]))
        return {
            "baseline.keypoints": lambda: self.kp_ref(self._driver()),
            "baseline.generator": lambda: self.gen_ref(
                self.source, kp_source=self.kp_source, kp_driving=kp_driving
            ),
            "baseline.step": self.baseline_step,
            "engine.keypoints": self.engine_keypoints,
            "engine.generator": lambda: self.engine_generator(kp_driving),
            "engine.step": self.engine_step,
        }


def count_gflop(fn: Callable[[], object]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def time_interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Milliseconds per call, each function once per round, rounds interleaved."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up: oneDNN primitives, NNPACK buffers, lazily built sub-pixel weights
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return times


def child_peak_rss(mode: str, size: int, threads: int) -> float:
    """Peak RSS (MB) of a fresh process that builds the networks and runs three ``mode`` frames."""
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", mode, "--size", str(size), "--threads", str(threads)]
        + (["--no-nnpack"] if not frozen_conv.nnpack_available() else []),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _rss_child(mode: str, size: int) -> None:
    torch.manual_seed(0)
    kp_detector, generator = build_networks(spread_output=False)
    images = make_images(size, 3)
    with torch.inference_mode():
        kp_source = kp_detector(images[:1])
        if mode == "engine":
            kp_detector = optimize_for_inference(kp_detector, inplace=True)
            generator = optimize_for_inference(generator, inplace=True)
            features = generator.encode(images[:1])
            small = generator.dense_motion_network.downsample(images[:1])
        for _ in range(3):
            kp_driving = normalize_kp(kp_source, kp_detector(images[1:2]), kp_source, True, True, True)
            if mode == "engine":
                generator(
                    images[:1],
                    kp_source=kp_source,
                    kp_driving=kp_driving,
                    source_features=features,
                    source_small=small,
                    return_deformed=False,
                )
            else:
                generator(images[:1], kp_source=kp_source, kp_driving=kp_driving)
    print(_peak_rss_mb())


def _peak_rss_mb() -> float:
    """This process's peak RSS. ``getrusage`` would include the parent's peak (Linux keeps the maximum
    across fork and exec), so read the address space's own high-water mark where Linux gives it."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def _summary(times: list[float]) -> dict[str, float]:
    return {"min": round(min(times), 1), "median": round(statistics.median(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the baseline")
    parser.add_argument(
        "--no-nnpack", action="store_true", help="the engine as on a torch without NNPACK (Winograd fallback)"
    )
    parser.add_argument("--rss-child", choices=("baseline", "engine"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.no_nnpack:
        frozen_conv.nnpack_available = lambda: False  # read by every FrozenConv2d and by nnpack_threads
    if args.rss_child:
        _rss_child(args.rss_child, args.size)
        return

    paths = Paths(args.size)
    with torch.inference_mode():
        driver = paths.drivers[:1]
        reference, fast = paths.baseline_step(driver), paths.engine_step(driver)
        kp_error = (paths.kp_fast(driver)["value"] - paths.kp_ref(driver)["value"]).abs().max().item()
        flops = {
            "baseline.keypoints": count_gflop(lambda: paths.kp_ref(driver)),
            "baseline.step": count_gflop(lambda: paths.baseline_step(driver)),
        }
        # The engine's work, counted on the reference modules: the same step without the encoder.
        encoder = count_gflop(lambda: paths.gen_ref.encode(paths.source))
        flops["engine.step"] = flops["baseline.step"] - encoder
        times = time_interleaved(paths.parts(), args.rounds)
        compiled = None
        if args.compile:
            compiled = _time_compile(paths, args.rounds)

    def report(prefix: str) -> dict[str, object]:
        step = _summary(times[f"{prefix}.step"])
        gflop = flops[f"{prefix}.step"]
        return {
            "ms_per_frame": {
                part: _summary(times[f"{prefix}.{part}"]) for part in ("keypoints", "generator", "step")
            },
            "gflop_per_frame": round(gflop, 1),
            "gflop_per_s": round(gflop / (step["min"] / 1000), 1),
            "peak_rss_mb": round(child_peak_rss(prefix, args.size, args.threads)),
        }

    result = {
        "device": "CPU",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (GNU OpenMP: spin, then sleep)"),
        "nnpack": frozen_conv.nnpack_available(),
        "size": args.size,
        "rounds": args.rounds,
        "config": str(CONFIG.relative_to(REPO)),
        "baseline": report("baseline"),
        "engine": report("engine"),
        "speedup": {
            "min": round(min(times["baseline.step"]) / min(times["engine.step"]), 2),
            "median": round(
                statistics.median(times["baseline.step"]) / statistics.median(times["engine.step"]), 2
            ),
        },
        "max_abs_error": {
            "prediction": float(f"{(fast - reference).abs().max().item():.2e}"),
            "keypoints": float(f"{kp_error:.2e}"),
        },
        "prediction_std": round(reference.std().item(), 3),
    }
    if compiled is not None:
        result["baseline_torch_compile"] = compiled
    print(json.dumps(result, indent=2))


def _time_compile(paths: Paths, rounds: int) -> dict[str, object]:
    try:
        generator = torch.compile(paths.gen_ref)
        kp_driving = normalize_kp(
            paths.kp_source, paths.kp_ref(paths.drivers[:1]), paths.kp_initial, True, True, True
        )
        t0 = time.perf_counter()
        generator(paths.source, kp_source=paths.kp_source, kp_driving=kp_driving)
        compile_s = time.perf_counter() - t0
        times = time_interleaved(
            {"g": lambda: generator(paths.source, kp_source=paths.kp_source, kp_driving=kp_driving)}, rounds
        )["g"]
    except Exception as exc:  # noqa: BLE001 - report whatever stops the compiler
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    return {"compile_s": round(compile_s, 1), "generator_ms": _summary(times)}


if __name__ == "__main__":
    main()
