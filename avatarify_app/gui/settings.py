"""What the window remembers between runs, kept in ``QSettings``.

Stored: the source (camera number, video file or demo), avatar, engine, checkpoint and fomm
precision, mirror and virtual-camera switches, microphone, expression and region strengths, and the
window geometry. Values that no longer make sense (a deleted file, an unknown engine) fall back to the
defaults of ``config.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from avatarify_app.config import ENGINE_NAMES, FOMM_PRECISIONS, LiveSettings

logger = logging.getLogger(__name__)

ORGANIZATION = "avatarify"
APPLICATION = "avatarify-app"
REGION_NAMES = ("eyes", "mouth", "head")


def default_qsettings() -> QSettings:
    """The user's settings (the registry on Windows, a plist on macOS, an ini file elsewhere)."""
    return QSettings(ORGANIZATION, APPLICATION)


class SettingsStore:
    """Reads and writes the window's settings in ``qsettings`` (inject an ini-file ``QSettings`` in tests)."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._q = qsettings if qsettings is not None else default_qsettings()

    @property
    def file_name(self) -> str:
        return self._q.fileName()

    def load(self, defaults: LiveSettings | None = None) -> LiveSettings:
        """The saved live settings on top of ``defaults``."""
        base = defaults or LiveSettings()
        q = self._q
        kind = str(q.value("source/kind", base.source.kind))
        path = _existing_path(q.value("source/path", None))
        if kind not in ("camera", "video", "demo") or (kind == "video" and path is None):
            kind = base.source.kind
        source = dataclasses.replace(
            base.source,
            kind=kind,  # type: ignore[arg-type]  # checked above
            camera=_int(q.value("source/camera", base.source.camera), base.source.camera),
            path=path if kind == "video" else base.source.path,
        )
        engine = str(q.value("engine/name", base.engine))
        if engine not in ENGINE_NAMES:
            engine = base.engine
        precision = str(q.value("engine/precision", base.precision))
        if precision not in FOMM_PRECISIONS:
            precision = base.precision
        microphone = q.value("recording/microphone", None)
        strength = _float(q.value("engine/strength", base.engine_options.strength), 1.0)
        regions = {
            name: _region(q.value(f"engine/{name}", getattr(base.engine_options, name)))
            for name in REGION_NAMES
        }
        return dataclasses.replace(
            base,
            source=source,
            avatar=_existing_path(q.value("avatar/path", None)) or base.avatar,
            engine=engine,
            checkpoint=_existing_path(q.value("engine/checkpoint", None)) or base.checkpoint,
            precision=precision,
            engine_options=dataclasses.replace(base.engine_options, strength=strength, **regions),
            mirror_preview=_bool(q.value("view/mirror_preview", base.mirror_preview)),
            mirror_output=_bool(q.value("view/mirror_output", base.mirror_output)),
            virtual_camera=dataclasses.replace(
                base.virtual_camera,
                enabled=_bool(q.value("virtual_camera/enabled", base.virtual_camera.enabled)),
            ),
            microphone=str(microphone) if microphone else base.microphone,
        )

    def save(self, settings: LiveSettings) -> None:
        """Remember ``settings`` (the controller's, as in effect now)."""
        q = self._q
        source = settings.source
        q.setValue("source/kind", source.kind)
        q.setValue("source/camera", source.camera)
        q.setValue("source/path", str(source.path) if source.path is not None else "")
        q.setValue("avatar/path", str(settings.avatar) if settings.avatar is not None else "")
        q.setValue("engine/name", settings.engine)
        q.setValue("engine/checkpoint", str(settings.checkpoint) if settings.checkpoint is not None else "")
        q.setValue("engine/strength", float(settings.engine_options.strength))
        for name in REGION_NAMES:
            q.setValue(f"engine/{name}", float(getattr(settings.engine_options, name)))
        q.setValue("view/mirror_preview", settings.mirror_preview)
        q.setValue("view/mirror_output", settings.mirror_output)
        q.setValue("virtual_camera/enabled", settings.virtual_camera.enabled)
        q.setValue("recording/microphone", "" if settings.microphone is None else str(settings.microphone))
        q.sync()

    def window_geometry(self) -> QByteArray | None:
        value = self._q.value("window/geometry", None)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window_geometry(self, geometry: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.sync()


def _existing_path(value: object) -> Path | None:
    if not value:
        return None
    path = Path(str(value))
    if not path.exists():
        logger.info("forgetting %s: it no longer exists", path)
        return None
    return path


def _bool(value: object) -> bool:
    # Ini files give back "true"/"false" strings; the registry and plists give booleans.
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _float(value: object, default: float) -> float:
    try:
        return float(str(value))
    except ValueError:
        return default


def _region(value: object) -> float:
    """A region strength, 0 to 2; anything else gives the default, 1."""
    number = _float(value, 1.0)
    return min(max(number, 0.0), 2.0) if math.isfinite(number) else 1.0
