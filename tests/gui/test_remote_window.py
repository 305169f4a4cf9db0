"""The remote engine in the window: picking it asks for the worker's address, token and fingerprint
(a real in-process worker on 127.0.0.1), and the token is kept in the OS's keyring, or, where there is
none (this machine), in the settings file with a warning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from avatarify_app.engines.catalog import RemoteChoice
from avatarify_app.engines.remote.transport import ICE_ADDRESSES_ENV
from avatarify_app.gui.engine_form import EngineForm
from avatarify_app.gui.secrets import KeyringSecrets
from avatarify_app.gui.settings import SettingsStore
from avatarify_app.pipeline.settings import LiveSettings
from avatarify_app.serve.certificate import load_or_make
from avatarify_app.serve.server import WorkerConfig, WorkerThread
from tests.gui.conftest import wait_for_frames

TOKEN = "window-token-0123456"


@pytest.fixture
def worker_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RemoteChoice]:
    from avatarify_app.engines import MeshChoice, create_engine

    monkeypatch.setenv(ICE_ADDRESSES_ENV, "127.0.0.1")  # nothing leaves the loopback
    certificate = load_or_make(tmp_path / "worker")
    config = WorkerConfig(certificate=certificate, host="127.0.0.1", port=0, token=TOKEN)
    with WorkerThread(config, lambda options: create_engine(MeshChoice(), options)) as worker:
        yield RemoteChoice(
            remote=f"127.0.0.1:{worker.port}", token=TOKEN, fingerprint=certificate.fingerprint_hex
        )


def test_picking_the_remote_engine_asks_for_the_worker(
    qtbot, make_window, worker_choice, monkeypatch
) -> None:
    asked: list[EngineForm] = []

    def fill(form: EngineForm) -> int:
        asked.append(form)
        for name in ("remote", "token", "fingerprint"):
            form.edits[name].setText(getattr(worker_choice, name))
        return EngineForm.DialogCode.Accepted

    monkeypatch.setattr(EngineForm, "exec", fill)
    window = make_window()
    panel = window.source_panel
    qtbot.waitUntil(lambda: not panel.loading, timeout=15_000)
    with qtbot.waitSignal(window.bridge.engine_changed, timeout=30_000) as changed:
        panel.engine_combo.setCurrentIndex(panel.engine_combo.findData("remote"))
        panel.engine_combo.activated.emit(panel.engine_combo.currentIndex())
    assert len(asked) == 1
    assert asked[0].edits["token"].echoMode() == asked[0].edits["token"].EchoMode.Password
    choice, device = changed.args
    assert choice == worker_choice
    assert device.startswith("remote: CPU at 127.0.0.1")
    assert panel.device_label.text().startswith("Remote engine on remote:")
    assert panel.checkpoint_button.text() == worker_choice.remote  # the button shows the worker
    wait_for_frames(qtbot, window, count=3)


class MemorySecrets(KeyringSecrets):
    """A keyring in memory (no keyring can exist on a test machine), behind the real interface."""

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}

    def available(self) -> bool:
        return True

    def get(self, key: str) -> str | None:
        return self.kept.get(key)

    def set(self, key: str, value: str) -> bool:
        self.kept[key] = value
        return True


def test_the_token_goes_to_the_keyring_and_never_to_the_file(settings_file: Path) -> None:
    secrets = MemorySecrets()
    store = SettingsStore(QSettings(str(settings_file), QSettings.Format.IniFormat), secrets)
    choice = RemoteChoice(remote="203.0.113.7:8443", token=TOKEN, fingerprint="ab" * 32)
    store.save(LiveSettings(engine=choice))
    assert TOKEN not in settings_file.read_text(encoding="utf-8")
    assert secrets.kept == {"remote/token": TOKEN, "remote/turn_password": ""}
    again = SettingsStore(QSettings(str(settings_file), QSettings.Format.IniFormat), secrets)
    assert again.load().engine == choice


def test_without_a_keyring_the_token_is_kept_in_the_file_with_a_warning(
    settings_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class NoKeyring(MemorySecrets):
        def available(self) -> bool:
            return False

        def set(self, key: str, value: str) -> bool:
            return False

    store = SettingsStore(QSettings(str(settings_file), QSettings.Format.IniFormat), NoKeyring())
    choice = RemoteChoice(remote="203.0.113.7:8443", token=TOKEN, fingerprint="ab" * 32)
    store.save(LiveSettings(engine=choice))
    assert TOKEN in settings_file.read_text(encoding="utf-8")
    warnings = [r.getMessage() for r in caplog.records if "no keyring" in r.getMessage()]
    assert len(warnings) == 1
    assert TOKEN not in warnings[0]
    assert SettingsStore(QSettings(str(settings_file), QSettings.Format.IniFormat)).load().engine == choice
