#!/usr/bin/env bash
# Install an unpacked bundle for the current user: the folder goes to ~/.local/opt/avatarify, the
# command to ~/.local/bin/avatarify, the menu entry and icons to ~/.local/share. Run it from inside
# the unpacked folder (it is copied there by build_linux.sh). Uninstall: remove those four paths.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
prefix="${XDG_DATA_HOME:-$HOME/.local/share}"
opt="$HOME/.local/opt/avatarify"

if [ ! -x "$src/avatarify" ]; then
  echo "run this script from the unpacked avatarify folder (no executable at $src/avatarify)" >&2
  exit 1
fi
mkdir -p "$HOME/.local/opt" "$HOME/.local/bin" "$prefix/applications"
if [ "$src" != "$opt" ]; then
  rm -rf "$opt"
  cp -a "$src" "$opt"
fi
ln -sf "$opt/avatarify" "$HOME/.local/bin/avatarify"
for size in 16 32 48 64 128 256 512; do
  icon="$opt/_internal/avatarify_app/resources/icons/avatarify-$size.png"
  [ -f "$icon" ] || continue
  mkdir -p "$prefix/icons/hicolor/${size}x${size}/apps"
  cp "$icon" "$prefix/icons/hicolor/${size}x${size}/apps/avatarify.png"
done
sed -e "s|^Exec=.*|Exec=$opt/avatarify|" -e "s|^TryExec=.*|TryExec=$opt/avatarify|" \
  "$opt/avatarify.desktop" > "$prefix/applications/avatarify.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$prefix/applications" || true
echo "installed: $opt (command: ~/.local/bin/avatarify; menu: Avatarify)"
