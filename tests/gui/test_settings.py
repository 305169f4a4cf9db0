"""What the window remembers: a round trip through an ini-file QSettings, and stale values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings

from avatarify_app.config import STRENGTH_RANGE, SourceSpec, VirtualCameraSettings
from avatarify_app.engines import FommChoice, MeshChoice
from avatarify_app.engines.base import EngineOptions
from avatarify_app.gui.settings import SettingsStore
from avatarify_app.pipeline.settings import LiveSettings


def test_round_trip(store: SettingsStore, settings_file: Path, driving_video: Path, media_dir: Path) -> None:
    checkpoint = settings_file.parent / "vox.pth.tar"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(b"not really a checkpoint")
    saved = LiveSettings(
        source=SourceSpec(kind="video", path=driving_video),
        avatar=media_dir / "avatar_mona_lisa.jpg",
        engine=FommChoice(checkpoint=checkpoint, precision="int8"),
        engine_options=EngineOptions(strength=1.4),
        virtual_camera=VirtualCameraSettings(enabled=False),
        mirror_preview=False,
        mirror_output=True,
        microphone="USB microphone",
    )
    store.save(saved)
    store.save_window_geometry(QByteArray(b"geometry"))
    again = SettingsStore(QSettings(str(settings_file), QSettings.Format.IniFormat))
    assert again.load() == saved
    assert again.window_geometry() == QByteArray(b"geometry")


def test_camera_and_defaults(store: SettingsStore) -> None:
    assert store.load() == LiveSettings()
    assert store.window_geometry() is None
    store.save(LiveSettings(source=SourceSpec(kind="camera", camera=3)))
    assert store.load().source == SourceSpec(kind="camera", camera=3)


def test_stale_values_fall_back_to_defaults(
    store: SettingsStore, settings_file: Path, tmp_path: Path
) -> None:
    q = QSettings(str(settings_file), QSettings.Format.IniFormat)
    q.setValue("source/kind", "video")
    q.setValue("source/path", str(tmp_path / "deleted.mp4"))
    q.setValue("avatar/path", str(tmp_path / "deleted.png"))
    q.setValue("engine/name", "no-such-engine")
    q.setValue("engine/strength", "strong")
    q.sync()
    loaded = store.load()
    defaults = LiveSettings()
    assert loaded.source == defaults.source
    assert loaded.avatar is None
    assert loaded.engine == defaults.engine
    assert loaded.engine_options.strength == 1.0


def _read_ini(path: Path, text: str, defaults: LiveSettings | None = None) -> LiveSettings:
    """The settings a new run reads from an ini file holding ``text`` (an ini file holds only text)."""
    path.write_text(text, encoding="utf-8")
    return SettingsStore(QSettings(str(path), QSettings.Format.IniFormat)).load(defaults)


def test_an_ini_file_is_read_typed(tmp_path: Path) -> None:
    loaded = _read_ini(
        tmp_path / "typed.ini",
        "[source]\nkind=camera\ncamera=2\n"
        "[engine]\nname=fomm\nstrength=1.4\neyes=0.25\nmouth=2\n"
        "[view]\nmirror_preview=false\nmirror_output=true\n"
        "[virtual_camera]\nenabled=false\n",
    )
    assert loaded.source.camera == 2
    assert loaded.engine == FommChoice()
    assert loaded.engine_options.strength == 1.4  # exactly: not through a 32-bit float
    assert (loaded.engine_options.eyes, loaded.engine_options.mouth) == (0.25, 2.0)
    assert (loaded.mirror_preview, loaded.mirror_output) == (False, True)
    assert loaded.virtual_camera.enabled is False


@pytest.mark.parametrize(
    ("section", "key", "text"),
    [
        ("engine", "strength", "abc"),
        ("engine", "strength", "nan"),
        ("engine", "eyes", "inf"),
        ("engine", "mouth", ""),
        ("engine", "name", "mesh2"),
        ("engine", "precision", "fp64"),
        ("source", "camera", "nan"),
        ("source", "camera", "-2"),
        ("source", "kind", "webcam"),
    ],
)
def test_junk_in_an_ini_file_gives_the_default(tmp_path: Path, section: str, key: str, text: str) -> None:
    defaults = LiveSettings(source=SourceSpec(kind="demo", camera=3), engine_options=EngineOptions(eyes=0.5))
    loaded = _read_ini(tmp_path / "junk.ini", f"[{section}]\n{key}={text}\n", defaults)
    assert loaded == defaults


def test_strengths_are_kept_within_their_range(tmp_path: Path) -> None:
    loaded = _read_ini(tmp_path / "range.ini", "[engine]\nstrength=9\nhead=-1\n")
    assert (loaded.engine_options.strength, loaded.engine_options.head) == STRENGTH_RANGE[::-1]


def test_missing_keys_keep_the_defaults(tmp_path: Path) -> None:
    defaults = LiveSettings(mirror_preview=False, mirror_output=True, microphone="USB microphone")
    loaded = _read_ini(tmp_path / "partial.ini", "[view]\nmirror_output=false\n", defaults)
    assert loaded == dataclasses.replace(defaults, mirror_output=False)


def test_settings_of_the_previous_version_still_load(tmp_path: Path) -> None:
    checkpoint = tmp_path / "vox-adv-cpk.pth.tar"
    checkpoint.write_bytes(b"weights")
    text = f"[engine]\nname=fomm\ncheckpoint={checkpoint}\nprecision=int8\nstrength=0.5\n"
    loaded = _read_ini(tmp_path / "old.ini", text)
    assert loaded.engine == FommChoice(checkpoint=checkpoint, precision="int8")
    assert loaded.engine_options.strength == 0.5


def test_a_saved_choice_is_stored_per_engine_and_replaces_the_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    checkpoint = tmp_path / "vox.pth.tar"
    checkpoint.write_bytes(b"weights")
    path.write_text(f"[engine]\nname=fomm\ncheckpoint={checkpoint}\n", encoding="utf-8")
    store = SettingsStore(QSettings(str(path), QSettings.Format.IniFormat))
    store.save(LiveSettings(engine=FommChoice(checkpoint=checkpoint, backend="openvino")))
    text = path.read_text(encoding="utf-8")
    assert "fomm\\checkpoint=" in text
    assert "fomm\\backend=openvino" in text
    assert "\ncheckpoint=" not in text, "the previous version's key is gone"
    again = SettingsStore(QSettings(str(path), QSettings.Format.IniFormat)).load()
    assert again.engine == FommChoice(checkpoint=checkpoint, backend="openvino")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("name=fomm\nfomm\\checkpoint=/nowhere/vox.pth.tar", "/nowhere/vox.pth.tar no longer exists"),
        ("name=fomm\nfomm\\precision=fp64", "'fp64' is not one of auto, fp32"),
        ("name=no-such-engine", "unknown engine 'no-such-engine'"),
    ],
)
def test_a_saved_engine_that_cannot_be_used_gives_the_default_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, why: str
) -> None:
    loaded = _read_ini(tmp_path / "bad.ini", f"[engine]\n{text}\n")
    assert loaded.engine == MeshChoice()
    lines = [r.getMessage() for r in caplog.records if "saved engine" in r.getMessage()]
    assert len(lines) == 1
    assert why in lines[0]
    assert "using the mesh engine" in lines[0]
