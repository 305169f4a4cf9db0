"""What the window remembers between runs, kept in ``QSettings``.

Stored: the source (camera number, video file or demo), avatar, the engine choice (its name under
``engine/name``, each field of its choice record under ``engine/<name>/<field>``), mirror and
virtual-camera switches, microphone, expression and region strengths, and the window geometry.
Values are read typed (``QSettings.value(key, default, type=...)``: an ini file holds only text);
values that no longer make sense (a deleted file, an unknown engine, a strength that is no number)
fall back to the defaults, and strengths are kept within ``STRENGTH_RANGE``. A saved engine choice
that cannot be used (an unknown engine, a bad value, a file that is gone) gives the default engine,
with one line in the log. A secret field (a worker's token) goes to the OS's keyring when there is
one (``gui.secrets``), else into the file with a warning in the log. Settings of earlier versions
(``engine/checkpoint``, ``engine/precision``) still load.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from avatarify_app.config import STRENGTH_RANGE, STRENGTHS
from avatarify_app.errors import InputError
from avatarify_app.gui.secrets import KeyringSecrets
from avatarify_app.pipeline.engine_setup import (
    EngineChoice,
    choice_as_text,
    choice_fields,
    get,
    is_secret,
    make_choice,
)
from avatarify_app.pipeline.settings import LiveSettings

logger = logging.getLogger(__name__)

ORGANIZATION = "avatarify"
APPLICATION = "avatarify-app"


def default_qsettings() -> QSettings:
    """The user's settings (the registry on Windows, a plist on macOS, an ini file elsewhere)."""
    return QSettings(ORGANIZATION, APPLICATION)


class SettingsStore:
    """Reads and writes the window's settings in ``qsettings`` (inject an ini-file ``QSettings`` in tests)."""

    def __init__(self, qsettings: QSettings | None = None, secrets: KeyringSecrets | None = None) -> None:
        self._q = qsettings if qsettings is not None else default_qsettings()
        self.secrets = secrets or KeyringSecrets()

    @property
    def file_name(self) -> str:
        return self._q.fileName()

    def load(self, defaults: LiveSettings | None = None) -> LiveSettings:
        """The saved live settings on top of ``defaults``."""
        base = defaults or LiveSettings()
        q = self._q
        kind = _text(q, "source/kind", base.source.kind)
        path = _existing_path(_text(q, "source/path"))
        if kind not in ("camera", "video", "demo") or (kind == "video" and path is None):
            kind = base.source.kind
        source = dataclasses.replace(
            base.source,
            kind=kind,  # type: ignore[arg-type]  # checked above
            camera=_count(q, "source/camera", base.source.camera),
            path=path if kind == "video" else base.source.path,
        )
        strengths = {
            name: _strength(q, f"engine/{name}", getattr(base.engine_options, name)) for name in STRENGTHS
        }
        return dataclasses.replace(
            base,
            source=source,
            avatar=_existing_path(_text(q, "avatar/path")) or base.avatar,
            engine=self._engine(base.engine),
            engine_options=dataclasses.replace(base.engine_options, **strengths),
            mirror_preview=_flag(q, "view/mirror_preview", base.mirror_preview),
            mirror_output=_flag(q, "view/mirror_output", base.mirror_output),
            virtual_camera=dataclasses.replace(
                base.virtual_camera,
                enabled=_flag(q, "virtual_camera/enabled", base.virtual_camera.enabled),
            ),
            microphone=_text(q, "recording/microphone") or base.microphone,
        )

    def save(self, settings: LiveSettings) -> None:
        """Remember ``settings`` (the controller's, as in effect now)."""
        q = self._q
        source = settings.source
        q.setValue("source/kind", source.kind)
        q.setValue("source/camera", source.camera)
        q.setValue("source/path", str(source.path) if source.path is not None else "")
        q.setValue("avatar/path", str(settings.avatar) if settings.avatar is not None else "")
        choice = settings.engine
        q.setValue("engine/name", choice.name)
        secret = {f.name for f in choice_fields(type(choice)) if is_secret(f)}
        for name, text in choice_as_text(choice).items():
            key = f"engine/{choice.name}/{name}"
            q.remove(f"engine/{name}")  # an earlier version's key
            if name in secret and self.secrets.set(f"{choice.name}/{name}", text):
                q.remove(key)  # kept in the keyring, not in the file
                continue
            if name in secret and text:
                logger.warning(
                    "no keyring on this system: the %s engine's %s is kept in %s",
                    choice.name,
                    name,
                    q.fileName(),
                )
            q.setValue(key, text)
        for name in STRENGTHS:
            q.setValue(f"engine/{name}", float(getattr(settings.engine_options, name)))
        q.setValue("view/mirror_preview", settings.mirror_preview)
        q.setValue("view/mirror_output", settings.mirror_output)
        q.setValue("virtual_camera/enabled", settings.virtual_camera.enabled)
        q.setValue("recording/microphone", "" if settings.microphone is None else str(settings.microphone))
        q.sync()

    def _engine(self, default: EngineChoice) -> EngineChoice:
        """The saved engine choice, or ``default`` (with a line in the log) when it cannot be used."""
        q = self._q
        name = _text(q, "engine/name", default.name)
        try:
            kind = get(name).choice
            values = {
                f.name: _text(q, f"engine/{name}/{f.name}", _text(q, f"engine/{f.name}"))
                for f in choice_fields(kind)
            }
            for f in choice_fields(kind):
                if is_secret(f) and not values[f.name]:
                    values[f.name] = self.secrets.get(f"{name}/{f.name}") or ""
            return make_choice(name, values, existing_files=True)
        except InputError as exc:
            logger.warning("the saved engine cannot be used (%s): using the %s engine", exc, default.name)
            return default

    def window_geometry(self) -> QByteArray | None:
        value = self._q.value("window/geometry", None)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window_geometry(self, geometry: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.sync()


def _text(q: QSettings, key: str, default: str = "") -> str:
    return q.value(key, default, type=str)


def _flag(q: QSettings, key: str, default: bool) -> bool:
    """Qt's reading of a boolean: "true"/"false" in an ini file, a real boolean in the registry or a
    plist; any other text but "0" and "" reads as true."""
    return q.value(key, default, type=bool)


def _count(q: QSettings, key: str, default: int) -> int:
    """A whole number, 0 or more. Qt reads text that is no number as 0; PySide6 raises for "nan" and
    "inf" (it converts through a float): those, and negative numbers, give ``default``."""
    try:
        number = q.value(key, default, type=int)
    except (ValueError, OverflowError):
        return default
    return number if number >= 0 else default


def _strength(q: QSettings, key: str, default: float) -> float:
    """A strength within ``STRENGTH_RANGE``; text that is no finite number gives ``default``.

    Read as text and parsed here, not with ``type=float``: PySide6 6.11 converts through a 32-bit
    float (a saved 1.4 comes back as 1.399999976) and reads "abc" as 0.0, a valid strength."""
    try:
        number = float(q.value(key, default, type=str))
    except ValueError:
        return default
    low, high = STRENGTH_RANGE
    return min(max(number, low), high) if math.isfinite(number) else default


def _existing_path(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if not path.exists():
        logger.info("forgetting %s: it no longer exists", path)
        return None
    return path
