"""What the window remembers: a round trip through an ini-file QSettings, and stale values."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from avatarify_app.config import LiveSettings, SourceSpec, VirtualCameraSettings
from avatarify_app.engines.base import EngineOptions
from avatarify_app.gui.settings import SettingsStore


def test_round_trip(store: SettingsStore, settings_file: Path, driving_video: Path, media_dir: Path) -> None:
    checkpoint = settings_file.parent / "vox.pth.tar"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(b"not really a checkpoint")
    saved = LiveSettings(
        source=SourceSpec(kind="video", path=driving_video),
        avatar=media_dir / "avatar_mona_lisa.jpg",
        engine="fomm",
        checkpoint=checkpoint,
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
