"""The per-frame cost of the region strengths (eyes, mouth, head): prints JSON.

Each engine's region step is timed directly, with all strengths at 1 (the path every frame takes by
default) and with all of them away from 1 (the blended path), on real landmarks of the shared clip:

- mesh: ``MotionTransfer.__call__`` (landmark transfer, per-landmark gains, partial head similarity),
  then the whole ``MeshEngine.animate`` at 512x512 for scale.
- fomm: ``scale_regions`` on 10 keypoints (the vox models' count) against ``scale_motion``, and
  ``KeypointRegions.head_crop`` (one more 256x256 ``cv2.warpAffine`` when ``head != 1``); a FOMM frame
  takes about 300 ms on a 2-core CPU (``bench/fomm_engine.py``).
- the live pipeline's ``ControlRamp.apply`` (easing the four controls), once a frame.

    python bench/regions.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import torch

from avatarify_app.avatars import load_image
from avatarify_app.engines import EngineOptions, MeshChoice, create_engine
from avatarify_app.engines.fomm.model.motion import scale_motion
from avatarify_app.engines.fomm.regions import KeypointRegions, scale_regions
from avatarify_app.engines.mesh.motion import MotionTransfer
from avatarify_app.pipeline.controls import ControlRamp
from avatarify_app.tracking import crop_face, detect_face

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
ONES = {"eyes": 1.0, "mouth": 1.0, "head": 1.0}
BLENDED = {"eyes": 0.3, "mouth": 1.6, "head": 0.5}


def _time_us(call: Callable[[], object], repeat: int) -> dict[str, float]:
    for _ in range(min(repeat, 50)):
        call()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(len(samples) * 0.95)], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    torch.set_num_threads(2)
    frames = {n: load_image(MEDIA / "driving_frames" / f"frame_{n:03d}.png") for n in (0, 138)}
    tracks = {n: detect_face(image) for n, image in frames.items()}
    avatar = load_image(MEDIA / "avatar_mona_lisa.jpg")

    engine = create_engine(MeshChoice(), EngineOptions(size=512))
    engine.set_avatar(avatar)
    engine.calibrate(frames[0], tracks[0])
    motion = MotionTransfer(detect_face(engine.avatar_canvas).landmarks, tracks[0].landmarks)
    driver = tracks[138].landmarks
    results: dict[str, dict] = {"mesh": {}, "fomm": {}, "pipeline": {}}
    for label, controls in (("ones", ONES), ("blended", BLENDED)):
        results["mesh"][f"motion_transfer_{label}"] = _time_us(
            lambda c=controls: motion(driver, 1.0, **c), args.repeat
        )
    for label, controls in (("ones", ONES), ("blended", BLENDED)):
        for name, value in controls.items():
            setattr(engine, name, value)
        results["mesh"][f"animate_512_{label}"] = _time_us(
            lambda: engine.animate(frames[138], tracks[138]), max(args.repeat // 20, 20)
        )

    size, k = 256, 10
    crop = crop_face(frames[0], tracks[0].box, size)
    generator = torch.Generator().manual_seed(0)
    kp_initial = {
        "value": torch.rand(1, k, 2, generator=generator) * 1.2 - 0.6,
        "jacobian": torch.eye(2).repeat(1, k, 1, 1),
    }
    source = {key: v + 0.05 * torch.randn(v.shape, generator=generator) for key, v in kp_initial.items()}
    target = {key: v + 0.05 * torch.randn(v.shape, generator=generator) for key, v in source.items()}
    regions = KeypointRegions.calibrate(kp_initial, crop, tracks[0].landmarks)
    moved_crop = crop_face(frames[138], tracks[138].box, size)
    results["fomm"]["scale_motion_before"] = _time_us(lambda: scale_motion(source, target, 1.0), args.repeat)
    results["fomm"]["scale_regions_ones"] = _time_us(
        lambda: scale_regions(regions, source, target, 1.0, 1.0, 1.0), args.repeat
    )
    results["fomm"]["scale_regions_blended"] = _time_us(
        lambda: scale_regions(regions, source, target, 1.0, 0.3, 1.6), args.repeat
    )
    results["fomm"]["head_crop_ones"] = _time_us(
        lambda: regions.head_crop(frames[138], moved_crop, tracks[138].landmarks, 1.0), args.repeat
    )
    results["fomm"]["head_crop_half"] = _time_us(
        lambda: regions.head_crop(frames[138], moved_crop, tracks[138].landmarks, 0.5), args.repeat
    )
    results["fomm"]["calibrate_regions"] = _time_us(
        lambda: KeypointRegions.calibrate(kp_initial, crop, tracks[0].landmarks), max(args.repeat // 20, 20)
    )

    ramp = ControlRamp(EngineOptions())
    ramp.set_target(EngineOptions(eyes=0.0, mouth=2.0, head=0.5, strength=1.5))
    results["pipeline"]["control_ramp_apply"] = _time_us(lambda: ramp.apply(engine), args.repeat)

    report = {
        "benchmark": "regions",
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "load_1min": round(os.getloadavg()[0], 2),
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    cv2.setNumThreads(2)
    main()
