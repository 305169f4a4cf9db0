#!/usr/bin/env bash
# Run the built bundle the way a user would: --version, doctor (warnings allowed, failures not), and a
# demo render to an MP4 that must open. Usage: packaging/smoke_test.sh [path/to/avatarify]
# (default dist/avatarify/avatarify). Needs no camera, display, GPU or network.
set -euo pipefail
cd "$(dirname "$0")/.."
app=${1:-dist/avatarify/avatarify}
[ -x "$app" ] || { echo "no executable at $app: run packaging/build_linux.sh first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The bundle must not lean on the source checkout: run it from elsewhere, with its own models folder.
export AVATARIFY_MODELS_DIR="$work/models"
app=$(realpath "$app")
cd "$work"

echo "== version"
"$app" --version

echo "== doctor"
start=$(date +%s)
"$app" doctor --json > doctor.json || { cat doctor.json; echo "doctor found a failure" >&2; exit 1; }
echo "doctor ok in $(( $(date +%s) - start )) s: $(grep -c '"status": "warn"' doctor.json) warnings"
# Every part must have made it into the bundle: a missing module shows as a warning, not a failure.
for part in torch "face tracking run" "gui toolkit" recording; do
  grep -A1 "\"name\": \"$part\"," doctor.json | grep -q '"status": "ok"' \
    || { cat doctor.json; echo "doctor: $part is not ok in the bundle" >&2; exit 1; }
done

echo "== models list"
"$app" models list --no-verify

echo "== demo render"
start=$(date +%s)
"$app" render --demo --out "$work/demo.mp4"
[ -s "$work/demo.mp4" ] || { echo "render wrote no file" >&2; exit 1; }
echo "render ok in $(( $(date +%s) - start )) s: $(stat -c %s "$work/demo.mp4") bytes"
echo "smoke test passed"
