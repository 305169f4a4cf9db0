#!/usr/bin/env bash
# Build the one-folder Linux bundle dist/avatarify/ with PyInstaller, then pack it as
# dist/avatarify-<version>-linux-x86_64.tar.gz. Run from anywhere; uses the project's venv
# (override with PYTHON=/path/to/python). Measured on the 2-core CI machine: see docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
PYINSTALLER_VERSION=6.22.3

"$PYTHON" -m pip install --quiet --disable-pip-version-check "pyinstaller==$PYINSTALLER_VERSION"

version=$("$PYTHON" -c "import avatarify_app; print(avatarify_app.__version__)")
start=$(date +%s)
# cv2 points Qt at its own Qt5 plugins; the bundle must use PySide6's.
env -u QT_QPA_PLATFORM_PLUGIN_PATH -u QT_QPA_FONTDIR \
  "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/avatarify.spec
seconds=$(( $(date +%s) - start ))

# What a Linux desktop needs to show the app in its menu (see packaging/install_linux.sh).
cp packaging/avatarify.desktop dist/avatarify/
cp packaging/install_linux.sh dist/avatarify/

archive="dist/avatarify-${version}-linux-$(uname -m).tar.gz"
start=$(date +%s)
tar -C dist -czf "$archive" avatarify
pack_seconds=$(( $(date +%s) - start ))

echo "build time: ${seconds} s (PyInstaller), ${pack_seconds} s (tar.gz)"
echo "bundle: $(du -sh dist/avatarify | cut -f1) in dist/avatarify ($(find dist/avatarify -type f | wc -l) files)"
echo "archive: $(du -sh "$archive" | cut -f1) $archive"
