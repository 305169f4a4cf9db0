"""Qt (PySide6) and a display for the app window."""

from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from avatarify_app.diagnostics.check import Check, Status

logger = logging.getLogger(__name__)

PYSIDE_PIN = "6.12.0"
HEADLESS_HINT = (
    "the headless commands work: `avatarify render` (video file in, video out) and `avatarify live`"
)
_SONAME_RE = re.compile(r"^(?P<stem>.+)\.so\.(?P<major>\d+)")


def check_qt() -> Check:
    try:
        import PySide6
        from PySide6 import QtWidgets  # noqa: F401  (the import is the check)
    except ImportError as exc:
        return Check(
            "gui toolkit",
            Status.FAIL,
            f"PySide6 cannot be imported ({exc}): the app window cannot open",
            f"pip install PySide6-Essentials=={PYSIDE_PIN} PySide6-Addons=={PYSIDE_PIN}",
        )
    try:
        _import_quietly("PySide6.QtMultimedia")
    except ImportError as exc:
        return Check(
            "gui toolkit",
            Status.WARN,
            f"PySide6 {PySide6.__version__} without QtMultimedia ({exc}): cameras and microphones are "
            "listed by number instead of by name",
            f"pip install PySide6-Addons=={PYSIDE_PIN}"
            + (" and sudo apt install libpulse0" if sys.platform.startswith("linux") else ""),
        )
    return Check("gui toolkit", Status.OK, f"PySide6 {PySide6.__version__} with QtMultimedia")


def _import_quietly(module: str) -> None:
    """Import a Qt module with Qt's own messages sent to our log (QtMultimedia reports, on import, each
    optional backend library it cannot find, such as PipeWire)."""
    from PySide6 import QtCore

    def to_log(mode: QtCore.QtMsgType, context: QtCore.QMessageLogContext, message: str) -> None:
        logger.info("Qt (%s): %s", context.category, message)

    previous = QtCore.qInstallMessageHandler(to_log)
    try:
        importlib.import_module(module)
    finally:
        QtCore.qInstallMessageHandler(previous)


def debian_package_for(library: str) -> str:
    """Debian's usual package name for a shared library: libxcb-cursor.so.0 -> libxcb-cursor0."""
    match = _SONAME_RE.match(library)
    if match is None:
        return library
    stem, major = match.group("stem").lower(), match.group("major")
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def missing_xcb_libraries() -> list[str]:
    """Shared libraries Qt's X11 platform plugin needs but cannot find (Linux; ``ldd`` on the plugin)."""
    try:
        import PySide6
    except ImportError:
        return []
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return []
    try:
        result = subprocess.run(
            ["ldd", str(plugin)], capture_output=True, text=True, timeout=5.0, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.info("ldd could not check %s: %s", plugin, exc)
        return []
    return sorted({line.split()[0] for line in result.stdout.splitlines() if "not found" in line})


def check_display(
    environ: Mapping[str, str] = os.environ, missing_libraries: list[str] | None = None
) -> Check:
    """Whether the app window can open here: a desktop session and, on Linux, Qt's X11 libraries."""
    platform_override = environ.get("QT_QPA_PLATFORM", "")
    if platform_override in ("offscreen", "minimal"):
        return Check(
            "display",
            Status.WARN,
            f"QT_QPA_PLATFORM={platform_override}: windows are drawn off screen; {HEADLESS_HINT}",
            "unset QT_QPA_PLATFORM to see the app window",
        )
    if not sys.platform.startswith("linux"):
        return Check("display", Status.OK, "desktop session")
    x11, wayland = environ.get("DISPLAY"), environ.get("WAYLAND_DISPLAY")
    missing = missing_xcb_libraries() if missing_libraries is None else missing_libraries
    install = (
        "sudo apt install " + " ".join(sorted({debian_package_for(lib) for lib in missing}))
        if missing
        else ""
    )
    if not x11 and not wayland:
        return Check(
            "display",
            Status.WARN,
            "no display (neither DISPLAY nor WAYLAND_DISPLAY is set): the app window cannot open; "
            + HEADLESS_HINT,
            "run it from a desktop session" + (f"; the window will also need: {install}" if install else ""),
        )
    where = f"DISPLAY={x11}" if x11 else f"WAYLAND_DISPLAY={wayland}"
    if missing and x11 and not wayland:
        return Check(
            "display",
            Status.WARN,
            f"{where}, but Qt's X11 plugin cannot load: missing {', '.join(missing)}; {HEADLESS_HINT}",
            install,
        )
    return Check("display", Status.OK, where)
