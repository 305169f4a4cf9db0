"""FOMM fidelity and speed, end to end and per stage, on a real driving clip: each runtime against fp32.

Prints JSON (and writes it to ``--out``). The vox-256 networks at 256x256 with random weights drawn as
a trained model's (``fomm_weights.py``: the recipe of shared/design/fomm_checkpoint.md; the real
checkpoints are not available here). The avatar (``--avatar``) is cropped as ``FommEngine`` crops it;
the driving clip (``--clip``, all frames unless ``--frames N``) is tracked with MediaPipe and each
frame cropped as the engine does (its calibration box, following the rigid landmarks). The first
frame is the neutral pose (calibration). Per frame, the reference is the plain torch fp32 networks
(the avatar's encoder features cached, as the engine does); each path runs as ``FommEngine.animate``
runs it (``Runtime.keypoints``, the relative motion, ``Runtime.generate``).

Reported per path (backend and precision):

- ``keypoints_px``: the driver's keypoints against fp32's, in pixels at 256 (median and max over
  frames and keypoints);
- ``jitter_px``: frame-to-frame keypoint motion against fp32's (|(k_t - k_t-1) - (r_t - r_t-1)|, px;
  median and max), and ``motion_ratio``: the path's mean frame-to-frame keypoint motion over fp32's;
- ``generator_alone_psnr_db``: the path's generator fed fp32's keypoints (median and min over frames);
- ``step_psnr_db``: the whole step (the path's own keypoints and generator; median and min);
- ``faithful``: the keypoints within 0.25 px of fp32's (median) and the step >= 40 dB (median);
- ``ms_per_frame``: the whole step (median and min over the clip's frames), and ``speedup`` over the
  plain torch forward measured in the same run (the FOMM demo's code path: keypoint detector,
  ``normalize_kp``, the full generator with its encoder; on every ``--baseline-every``-th frame).

Paths: ``torch:fp32`` (BN folded, CPU), ``openvino:<precision>`` (auto, fp32, bf16, fp16, int8 or a
per-part spec "keypoints=fp32,motion=fp32,decoder=bf16"); with CUDA, ``cuda:fp32``, ``cuda:fp16``
(torch eager) and ``cudagraphs:fp32``, ``cudagraphs:fp16``. Converted models are cached in
``--cache`` (the user cache folder by default), so repeated runs do not convert again.
The machine is shared: the load average is in the JSON; wall times are inflated by it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from fomm_weights import CONFIG, load_vox, vox_checkpoint  # noqa: E402

from avatarify_app.avatars import bundled_avatars, load_image  # noqa: E402
from avatarify_app.config import DEMO_CLIP, user_cache_dir  # noqa: E402
from avatarify_app.diagnostics.cpu import cpu_features  # noqa: E402
from avatarify_app.engines.fomm.config import FommConfig  # noqa: E402
from avatarify_app.engines.fomm.engine import _follow_anchor, _make_anchor  # noqa: E402
from avatarify_app.engines.fomm.model.motion import movement_scale, normalize_kp  # noqa: E402
from avatarify_app.engines.fomm.runtime import AvatarTensors, Motion, Runtime, select_device  # noqa: E402
from avatarify_app.engines.fomm.runtime.precision import offered_precisions  # noqa: E402
from avatarify_app.tracking import FaceTracker, TrackerOptions, crop_face, detect_face  # noqa: E402

SHARED_MEDIA = REPO.parent / "shared" / "media"
SHARED_CLIP = SHARED_MEDIA / "driving_mouth_open.mp4"
SHARED_AVATAR = SHARED_MEDIA / "avatar_mona_lisa.jpg"
SIZE = 256
PX = SIZE / 2  # keypoints live on [-1, 1]
FAITHFUL_PX, FAITHFUL_DB = 0.25, 40.0


def read_clip(path: Path, frames: int | None) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    images = []
    try:
        while frames is None or len(images) < frames:
            ok, frame = capture.read()
            if not ok:
                break
            images.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not images:
        raise SystemExit(f"no frames read from {path}")
    return images


def driving_crops(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each frame's face crop as the engine cuts it (the calibration box following the rigid landmarks)."""
    crops = []
    with FaceTracker(TrackerOptions()) as tracker:
        anchor = None
        for frame in frames:
            track = tracker.track(frame)
            if not track.found or track.box is None:
                continue
            if anchor is None:
                anchor = _make_anchor(track)
            box = track.box if anchor is None else _follow_anchor(anchor, track)
            crops.append(crop_face(frame, box, SIZE).image)
    return crops


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    return t.to(device).contiguous()


@dataclass
class Reference:
    """torch fp32 over the clip: driver keypoints, moved keypoints, predictions (CPU tensors)."""

    kp_source: dict[str, torch.Tensor]
    kp_driving: list[dict[str, torch.Tensor]]
    moved: list[dict[str, torch.Tensor]]
    predictions: list[torch.Tensor]


def cached_reference(avatar: np.ndarray, crops: list[np.ndarray], folder: Path) -> Reference:
    """``reference_run``, kept in ``folder`` for the same avatar and crops (predictions as float16:
    its rounding, about 80 dB, is far below the figures measured against it)."""
    digest = hashlib.sha256(avatar.tobytes() + b"".join(c.tobytes() for c in crops)).hexdigest()[:16]
    path = folder / f"reference-{vox_checkpoint().stem}-{digest}.pt"
    if path.is_file():
        data = torch.load(path, weights_only=True)
        return Reference(
            data["kp_source"], data["kp_driving"], data["moved"], [p.float() for p in data["predictions"]]
        )
    ref = reference_run(avatar, crops)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "kp_source": ref.kp_source,
            "kp_driving": ref.kp_driving,
            "moved": ref.moved,
            "predictions": [p.half() for p in ref.predictions],
        },
        path,
    )
    return ref


def reference_run(avatar: np.ndarray, crops: list[np.ndarray]) -> Reference:
    kp_detector, generator = load_vox()
    cpu = torch.device("cpu")
    source = to_tensor(avatar, cpu)
    with torch.inference_mode():
        kp_source = kp_detector(source)
        features = generator.encode(source)
        assert generator.dense_motion_network is not None
        small = generator.dense_motion_network.downsample(source)
        kp_driving = [kp_detector(to_tensor(c, cpu)) for c in crops]
        motion = Motion(kp_driving[0], movement_scale(kp_source, kp_driving[0]))
        moved = [motion.apply(kp_source, kp, 1.0) for kp in kp_driving]
        predictions = [
            generator(
                source,
                kp_driving=m,
                kp_source=kp_source,
                source_features=features,
                source_small=small,
                return_deformed=False,
            )["prediction"]
            for m in moved
        ]
    return Reference(kp_source, kp_driving, moved, predictions)


def baseline_ms(avatar: np.ndarray, crops: list[np.ndarray], device: torch.device) -> list[float]:
    """The plain torch forward per frame (the FOMM demo's code path), milliseconds."""
    kp_detector, generator = load_vox()
    kp_detector, generator = kp_detector.to(device), generator.to(device)
    source = to_tensor(avatar, device)
    times = []
    with torch.inference_mode():
        kp_source = kp_detector(source)
        kp_initial = kp_detector(to_tensor(crops[0], device))
        for crop in crops:
            driver = to_tensor(crop, device)
            _sync(device)
            t0 = time.perf_counter()
            kp = normalize_kp(kp_source, kp_detector(driver), kp_initial, True, True, True)
            generator(source, kp_source=kp_source, kp_driving=kp)
            _sync(device)
            times.append((time.perf_counter() - t0) * 1000)
    return times[1:] if len(times) > 1 else times  # the first call warms up


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_runtime(path: str, cache: Path) -> Runtime:
    backend, precision = path.split(":", 1)
    kp_detector, generator = load_vox()
    if backend == "torch":
        from avatarify_app.engines.fomm.runtime.torch_eager import TorchRuntime

        return TorchRuntime(kp_detector, generator, select_device("cpu"), precision)
    if backend == "cuda":
        from avatarify_app.engines.fomm.runtime.torch_eager import TorchRuntime

        return TorchRuntime(kp_detector, generator, select_device("cuda"), precision)
    if backend == "cudagraphs":
        from avatarify_app.engines.fomm.runtime.cuda_graphs import CudaGraphRuntime

        return CudaGraphRuntime(kp_detector, generator, select_device("cuda"), precision)
    from avatarify_app.engines.fomm.runtime.openvino_runtime import OpenVinoRuntime, file_md5

    return OpenVinoRuntime(
        kp_detector,
        generator,
        FommConfig.from_yaml(CONFIG),
        checkpoint_md5=file_md5(vox_checkpoint()),
        cache_dir=cache,
        precision=precision,
    )


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float().cpu() - b.float().cpu()) ** 2).mean())
    return float(10 * np.log10(1 / mse)) if mse > 0 else 99.0


def _cpu(kp: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float().cpu() for k, v in kp.items()}


def _to(kp: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in kp.items()}


def measure(path: str, runtime: Runtime, avatar: np.ndarray, crops: list[np.ndarray], ref: Reference) -> dict:
    device = runtime.device
    tensors = runtime.prepare(to_tensor(avatar, device))
    kp_initial = runtime.keypoints(to_tensor(crops[0], device))
    motion = Motion(kp_initial, movement_scale(tensors.kp_source, kp_initial))
    # The generator alone: fed fp32's keypoints (source and moved driver), the path's avatar features.
    fed = AvatarTensors(_to(ref.kp_source, device), tensors.features, tensors.source_small)
    kp_err, step_db, alone_db, times, kps = [], [], [], [], []
    for index, crop in enumerate(crops):
        image = to_tensor(crop, device)
        _sync(device)
        t0 = time.perf_counter()
        if path.startswith("cudagraphs"):  # the captured step; its keypoints again, untimed
            prediction = runtime.step(image, tensors, motion, 1.0)
            _sync(device)
            times.append((time.perf_counter() - t0) * 1000)
            kp = runtime.keypoints(image)
        else:
            kp = runtime.keypoints(image)
            prediction = runtime.generate(motion.apply(tensors.kp_source, kp, 1.0), tensors)
            _sync(device)
            times.append((time.perf_counter() - t0) * 1000)
        kp = _cpu(kp)
        kps.append(kp["value"][0])
        kp_err.append((kp["value"][0] - ref.kp_driving[index]["value"][0]).norm(dim=-1) * PX)
        step_db.append(_psnr(prediction, ref.predictions[index]))
        alone = runtime.generate(_to(ref.moved[index], device), fed)
        alone_db.append(_psnr(alone, ref.predictions[index]))
    errors = torch.cat(kp_err)
    ref_values = torch.stack([k["value"][0] for k in ref.kp_driving])
    values = torch.stack(kps)
    jitter = ((values[1:] - values[:-1]) - (ref_values[1:] - ref_values[:-1])).norm(dim=-1) * PX
    ref_motion = float((ref_values[1:] - ref_values[:-1]).norm(dim=-1).mean()) if len(crops) > 1 else 0.0
    own_motion = float((values[1:] - values[:-1]).norm(dim=-1).mean()) if len(crops) > 1 else 0.0
    kp_median = float(errors.median())
    step_median = statistics.median(step_db)
    return {
        "runs": runtime.label,
        "keypoints_px": {"median": round(kp_median, 3), "max": round(float(errors.max()), 3)},
        "jitter_px": (
            {"median": round(float(jitter.median()), 3), "max": round(float(jitter.max()), 3)}
            if len(jitter)
            else None
        ),
        "motion_ratio": round(own_motion / ref_motion, 3) if ref_motion else None,
        "generator_alone_psnr_db": {
            "median": round(statistics.median(alone_db), 1),
            "min": round(min(alone_db), 1),
        },
        "step_psnr_db": {"median": round(step_median, 1), "min": round(min(step_db), 1)},
        "faithful": kp_median <= FAITHFUL_PX and step_median >= FAITHFUL_DB,
        "ms_per_frame": _summary(times[1:] or times),
    }


def _summary(times: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(times), 1), "min": round(min(times), 1)}


def available_paths() -> list[str]:
    paths = ["torch:fp32"]
    offered = offered_precisions()
    if offered:
        paths += ["openvino:auto", "openvino:fp32"]
        paths += [f"openvino:{p}" for p in ("bf16", "fp16") if p in offered]
        if "bf16" in offered:
            paths += ["openvino:decoder=bf16", "openvino:motion=bf16,decoder=bf16"]
        paths.append("openvino:int8")
    if torch.cuda.is_available():
        paths += ["cuda:fp32", "cuda:fp16", "cudagraphs:fp32", "cudagraphs:fp16"]
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clip", type=Path, default=SHARED_CLIP, help="default: the shared clip, else the demo"
    )
    parser.add_argument("--avatar", type=Path, default=SHARED_AVATAR, help="default: the shared Mona Lisa")
    parser.add_argument("--frames", type=int, help="only the clip's first N frames (a quicker run)")
    parser.add_argument("--paths", nargs="*", help="only these (torch:fp32, openvino:auto, openvino:int8...)")
    parser.add_argument(
        "--baseline-every", type=int, default=8, help="time the plain forward on every Nth frame"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--cache", type=Path, default=None, help="converted models (default: the user cache)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cache = args.cache or user_cache_dir() / "bench" / "converted-models"
    if not args.clip.is_file() and args.clip == SHARED_CLIP:  # a machine without ../shared (a GPU box)
        args.clip = DEMO_CLIP
    if not args.avatar.is_file() and args.avatar == SHARED_AVATAR:
        args.avatar = bundled_avatars()[0]
    portrait = load_image(args.avatar)
    track = detect_face(portrait)
    if not track.found or track.box is None:
        raise SystemExit(f"no face in {args.avatar}")
    avatar = crop_face(portrait, track.box, SIZE).image
    crops = driving_crops(read_clip(args.clip, args.frames))
    ref = cached_reference(avatar, crops, user_cache_dir() / "bench")
    base_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = baseline_ms(avatar, crops[:: max(args.baseline_every, 1)], base_device)
    result: dict[str, object] = {
        "clip": args.clip.name,
        "frames": len(crops),
        "avatar": args.avatar.name,
        "weights": "random vox-256, fomm_checkpoint.md's recipe (seed 0)",
        "cpu": {(cpu := cpu_features()).model: cpu.summary(), "openvino": list(cpu.openvino)},
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "reference": "torch fp32 on the CPU, plain networks (the encoder's features cached)",
        "baseline": {"device": str(base_device), "ms_per_frame": _summary(base), "frames_timed": len(base)},
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    for path in args.paths or available_paths():
        t0 = time.perf_counter()
        try:
            runtime = make_runtime(path, cache)
        except Exception as exc:  # an impossible path here: say so, carry on
            result[path] = {"error": str(exc)}
            continue
        prepared = round(time.perf_counter() - t0, 1)
        figures = measure(path, runtime, avatar, crops, ref)
        figures["prepare_s"] = prepared
        figures["speedup_vs_plain_forward"] = round(
            result["baseline"]["ms_per_frame"]["median"] / figures["ms_per_frame"]["median"],
            2,  # type: ignore[index]
        )
        result[path] = figures
        runtime.close()
        print(json.dumps({path: figures}), file=sys.stderr, flush=True)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
