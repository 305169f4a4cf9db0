#!/usr/bin/env bash
# The fomm engine's GPU path, checked on a machine with an NVIDIA GPU: the CUDA tests and the bench.
#
#   OUT=results bash scripts/gpu_check.sh [--frames N]
#
# 1. A virtual environment (.venv-gpu, beside this repository's pyproject.toml) with the project and a
#    CUDA build of torch (README, "An NVIDIA GPU?"): from the PyTorch index for $CUDA_BUILD (default
#    cu128; a driver older than CUDA 12.8 needs cu126); or, offline, from the wheels in $WHEELS
#    (pip --no-index --find-links); or, with USE_SYSTEM_TORCH=1, the torch of the python3 on PATH
#    when it already has CUDA (the venv sees its site-packages).
# 2. The CUDA tests: pytest -m gpu (tests/engines/fomm/test_fomm_cuda.py and
#    tests/engines/liveportrait/test_liveportrait_cuda_graphs.py) -> $OUT/gpu_tests.log, .xml
# 3. bench/fomm_engine.py on CUDA: torch eager fp32 and fp16, CUDA graphs fp32 and fp16, each against
#    the plain torch forward of the same run on the same GPU (speed) and torch fp32 (fidelity: keypoint
#    pixels, generator-alone and whole-step PSNR, jitter) -> $OUT/fomm_gpu.json
# 4. $OUT/gpu_check.json: the targets (the CUDA-graph fp16 step at most 40% of the plain forward's,
#    PSNR >= 40 dB against fp32) and whether they were met.
# 5. bench/liveportrait_engine.py on CUDA: LivePortrait's stages per frame, and its per-frame step eager
#    and from a CUDA graph against the reference's path (fp16, fp32) -> $OUT/liveportrait_gpu.json
#
# Nothing here needs a display. Exit status: 0 when the tests passed and the bench ran (the targets
# are reported, not enforced), else the first failing step's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-check-results}"
CUDA_BUILD="${CUDA_BUILD:-cu128}"
TORCH_PIN="$(grep -oE '"torch==[0-9.]+"' "$ROOT/pyproject.toml" | head -1 | tr -d '"' | cut -d= -f3)"
VENV="${VENV:-$ROOT/.venv-gpu}"
PYTHON="${PYTHON:-python3}"
FRAMES=()
if [[ "${1:-}" == "--frames" ]]; then FRAMES=(--frames "$2"); fi
mkdir -p "$OUT"
cd "$ROOT"
log() { echo "gpu_check: $*" | tee -a "$OUT/gpu_check.log" >&2; }

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
  >"$OUT/nvidia_smi.csv" 2>&1 || log "nvidia-smi is not available"

if [[ ! -x "$VENV/bin/python" ]]; then
  if [[ "${USE_SYSTEM_TORCH:-0}" == 1 ]]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
PIP=("$VENV/bin/python" -m pip install -q)
if [[ -n "${WHEELS:-}" ]]; then PIP+=(--no-index --find-links "$WHEELS"); fi
if [[ "${USE_SYSTEM_TORCH:-0}" != 1 ]]; then
  log "installing torch==$TORCH_PIN for $CUDA_BUILD"
  if [[ -n "${WHEELS:-}" ]]; then
    "${PIP[@]}" "torch==$TORCH_PIN"
  else
    "${PIP[@]}" "torch==$TORCH_PIN" --index-url "https://download.pytorch.org/whl/$CUDA_BUILD"
  fi
fi
# The project's dependencies but torch (the CUDA build above, or the system's), then the project itself.
mapfile -t DEPS < <("$VENV/bin/python" - <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project.get("optional-dependencies", {})
for dep in [*project["dependencies"], *extras.get("dev", []), *extras.get("bench", [])]:
    if not dep.replace(" ", "").startswith("torch"):
        print(dep)
PY
)
"${PIP[@]}" "${DEPS[@]}"
"${PIP[@]}" --no-deps -e .
"$VENV/bin/python" - <<'PY' | tee "$OUT/torch.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if not torch.cuda.is_available():
    raise SystemExit("this torch sees no CUDA GPU: install a CUDA build (CUDA_BUILD=cu126 for older drivers)")
print("gpu", torch.cuda.get_device_name(0))
PY

log "the CUDA tests (pytest -m gpu)"
status=0
QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest -m gpu tests/engines/fomm tests/engines/liveportrait -q -p no:cacheprovider \
  --junitxml "$OUT/gpu_tests.xml" 2>&1 | tee "$OUT/gpu_tests.log" || status=$?

log "bench/fomm_engine.py on CUDA"
"$VENV/bin/python" bench/fomm_engine.py "${FRAMES[@]}" --baseline-every 1 \
  --paths cuda:fp32 cuda:fp16 cudagraphs:fp32 cudagraphs:fp16 --out "$OUT/fomm_gpu.json" \
  2>"$OUT/bench.log" >/dev/null || { bench=$?; log "the bench failed (see bench.log)"; [[ $status == 0 ]] && status=$bench; }

if [[ -f "$OUT/fomm_gpu.json" ]]; then
  "$VENV/bin/python" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
bench = json.loads((out / "fomm_gpu.json").read_text())
plain = bench["baseline"]["ms_per_frame"]["median"]
summary = {"gpu": bench.get("gpu"), "plain_forward_ms": plain, "paths": {}}
for path in ("cuda:fp32", "cuda:fp16", "cudagraphs:fp32", "cudagraphs:fp16"):
    figures = bench.get(path, {})
    if "ms_per_frame" not in figures:
        summary["paths"][path] = figures
        continue
    ratio = figures["ms_per_frame"]["median"] / plain
    summary["paths"][path] = {
        "ms_per_frame": figures["ms_per_frame"],
        "share_of_plain_forward": round(ratio, 3),
        "step_psnr_db": figures["step_psnr_db"],
        "keypoints_px": figures["keypoints_px"],
        "meets_targets": ratio <= 0.40 and figures["step_psnr_db"]["median"] >= 40,
    }
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
PY
fi
log "bench/liveportrait_engine.py on CUDA (released layout, random weights)"
"$VENV/bin/python" bench/liveportrait_engine.py --device cuda --rounds 20 --no-openvino \
  >"$OUT/liveportrait_gpu.json" 2>"$OUT/liveportrait_bench.log" \
  || { bench=$?; log "the LivePortrait bench failed (see liveportrait_bench.log)"; [[ $status == 0 ]] && status=$bench; }

log "done: results in $OUT (status $status)"
exit "$status"
