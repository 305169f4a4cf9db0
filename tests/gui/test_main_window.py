"""The window over the real Controller: the shared clip as the camera, real tracking and mesh engine,
real recording; clicks and keys through qtbot, checks on the controller and on what the user reads."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFileDialog

from avatarify_app.avatars import bundled_avatars
from avatarify_app.config import SourceSpec, VirtualCameraSettings
from avatarify_app.engines import FommChoice, MeshChoice, create_engine
from avatarify_app.frames import HeadPose, MessageLevel, UserMessage
from avatarify_app.gui.images import rgb_from_qimage
from avatarify_app.gui.main_window import MINIMUM_SIZE
from avatarify_app.gui.panels.output import RECORDING_DOT
from avatarify_app.gui.panels.source import NO_CAMERA_LABEL
from avatarify_app.gui.settings import SettingsStore
from avatarify_app.outputs import journal
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.pipeline.controller import NO_CAMERA_TEXT
from avatarify_app.pipeline.events import Calibrated, FramesReady, Metrics
from avatarify_app.pipeline.settings import LiveSettings
from tests.fakes import VirtualCameraLog
from tests.gui.conftest import GUI_MEMORY_BACKEND, StubDevices, wait_for_frames
from tests.mp4check import assert_regular_mp4

# The offscreen platform says this about every top-level window with a layout: noise, not a fault.

FACELESS_TEXT = (
    "No face found in the avatar image: choose a photo or painting with one clearly visible, "
    "roughly frontal face."
)


def test_window_opens_and_frames_flow(qtbot, make_window) -> None:
    window = make_window()
    wait_for_frames(qtbot, window, count=3)
    camera, output = window.preview.camera_pane.image(), window.preview.output_pane.image()
    assert camera is not None
    assert output is not None
    assert (camera.width(), camera.height()) == (480, 480)  # the clip's frames
    assert rgb_from_qimage(output).std() > 10, "the avatar pane shows a picture, not a flat fill"
    qtbot.waitUntil(lambda: "fps" in window.stats_label.text(), timeout=10_000)
    qtbot.waitUntil(lambda: not window.source_panel.loading, timeout=10_000)
    assert window.source_panel.device_label.text() == "Mesh warp on CPU"
    assert window.banner.text == ""


def test_the_camera_pane_shows_frames_while_the_engine_loads(qtbot, make_window) -> None:
    loaded = threading.Event()

    def slow_engine(choice, options):  # as fomm: minutes of loading on a first run
        assert loaded.wait(60)
        return create_engine(choice, options)

    window = make_window(engine_factory=slow_engine)
    try:
        with qtbot.waitSignal(window.bridge.camera_preview, timeout=15_000):
            pass
        assert window.preview.camera_pane.image() is not None, "the camera pane shows the camera"
        assert window.preview.output_pane.image() is None
        assert window.preview.output_pane.placeholder == "Loading the engine…"
    finally:
        loaded.set()
    wait_for_frames(qtbot, window)
    assert window.preview.output_pane.image() is not None


def test_calibrate_button(qtbot, make_window) -> None:
    window = make_window()
    wait_for_frames(qtbot, window)
    with qtbot.waitSignal(window.bridge.calibrated, timeout=10_000) as calibrated:
        qtbot.mouseClick(window.calibration_panel.button, Qt.MouseButton.LeftButton)
    assert calibrated.args[0] is not None
    assert window.calibration_panel.status.text().startswith("Calibrated")
    qtbot.waitUntil(lambda: window.calibration_panel.match > 0.0)


def test_calibrating_at_a_low_pose_match_gives_a_hint(qtbot, make_window) -> None:
    panel = make_window(start=False).calibration_panel
    pose = HeadPose(yaw=3.0, pitch=-2.0, roll=0.0)
    panel.meter.setValue(32)
    panel._on_calibrated(pose)
    assert panel.status.text().startswith("Calibrated at a 32 % pose match, so the avatar may look off.")
    panel.meter.setValue(95)
    panel._on_calibrated(pose)
    assert (
        panel.status.text() == "Calibrated: this is your neutral face now. Press Calibrate again to redo it."
    )


def test_auto_calibration_when_the_pose_matches(qtbot, make_window, live_settings: LiveSettings) -> None:
    # The demo motion is a clip of the astronaut portrait, so its pose matches that avatar's at once.
    astronaut = next(p for p in bundled_avatars() if p.stem == "astronaut")
    window = make_window(dataclasses.replace(live_settings, source=SourceSpec(kind="demo"), avatar=astronaut))
    wait_for_frames(qtbot, window)
    # The pipeline decides: the frame that made it calibrate is the last one before Calibrated (both
    # come from the inference thread, in order).
    events: list = []
    window.controller.subscribe(
        lambda event: events.append(event) if isinstance(event, FramesReady | Calibrated) else None
    )
    with qtbot.waitSignal(window.bridge.calibrated, timeout=60_000):
        window.calibration_panel.auto_check.setChecked(True)
    assert window.controller.settings.auto_calibrate is True
    # The bridge is told first; this subscriber right after, on the inference thread.
    qtbot.waitUntil(lambda: any(isinstance(event, Calibrated) for event in list(events)))
    first = next(i for i, event in enumerate(events) if isinstance(event, Calibrated))
    trigger = events[first - 1]
    assert isinstance(trigger, FramesReady)
    assert trigger.pose_match >= 0.9


def test_switching_avatar_changes_the_output(qtbot, make_window) -> None:
    window = make_window()
    wait_for_frames(qtbot, window)
    before = rgb_from_qimage(window.preview.output_pane.image())
    second = window.gallery.paths()[1]
    with qtbot.waitSignal(window.bridge.avatar_changed, timeout=15_000) as changed:
        qtbot.mouseClick(
            window.gallery.list.viewport(),
            Qt.MouseButton.LeftButton,
            pos=window.gallery.list.visualItemRect(window.gallery.list.item(1)).center(),
        )
    assert changed.args[0].path == second
    wait_for_frames(qtbot, window, count=2)
    after = rgb_from_qimage(window.preview.output_pane.image())
    difference = np.abs(cv2.resize(after, before.shape[1::-1]).astype(int) - before.astype(int)).mean()
    assert difference > 20, f"the output still looks like the first avatar (mean difference {difference:.1f})"
    assert window.controller.settings.avatar == second
    assert window.gallery.current_path() == second


def test_record_writes_a_playable_file(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "videos" / "take"
    target.parent.mkdir()
    asked: list[str] = []

    def save_dialog(parent, caption, directory, filter):
        asked.append(directory)
        return str(target), "MP4 video (*.mp4)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    window = make_window()
    wait_for_frames(qtbot, window)
    panel = window.output_panel
    with qtbot.waitSignal(window.bridge.recording_changed, timeout=10_000) as started:
        qtbot.mouseClick(panel.record_button, Qt.MouseButton.LeftButton)
    recorded = target.with_name("take.mp4")  # the .mp4 suffix is added
    assert started.args[0] == recorded
    assert Path(asked[0]).name.startswith("avatarify-")
    assert asked[0].endswith(".mp4")
    assert panel.record_button.text() == "Stop recording"
    assert panel.elapsed_label.text().startswith(f"{RECORDING_DOT} 00:0"), "a red dot, the time"
    wait_for_frames(qtbot, window, count=10)
    saving: list[tuple] = []  # what the panel shows while the file is finished (connected after it)
    window.bridge.recording_saving.connect(
        lambda path: saving.append(
            (path, panel.record_button.text(), panel.record_button.isEnabled(), panel.elapsed_label.text())
        )
    )
    with qtbot.waitSignal(
        window.bridge.recording_changed, timeout=15_000, check_params_cb=lambda path, _s: path is None
    ):
        qtbot.mouseClick(panel.record_button, Qt.MouseButton.LeftButton)
    assert saving == [(recorded, "Saving…", False, "Saving take.mp4…")]
    assert panel.record_button.text() == "Record…"
    assert panel.record_button.isEnabled()
    assert_regular_mp4(recorded, fps=30)
    assert window.banner.text == "Recording without sound: no microphone on the test machine."
    with av.open(str(recorded)) as container:
        assert [s.type for s in container.streams] == ["video"]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) >= 5
    assert frames[-1].std() > 10


def test_keyboard_shortcuts(qtbot, make_window) -> None:
    window = make_window()
    wait_for_frames(qtbot, window)
    paths = window.gallery.paths()
    controller = window.controller

    def key(text: str) -> None:
        qtbot.keyClick(window, text)

    with qtbot.waitSignal(window.bridge.avatar_changed, timeout=15_000) as changed:
        key("D")
    assert changed.args[0].path == paths[1]
    with qtbot.waitSignal(window.bridge.avatar_changed, timeout=15_000) as changed:
        key("1")
    assert changed.args[0].path == paths[0]
    with qtbot.waitSignal(window.bridge.avatar_changed, timeout=15_000) as changed:
        key("A")  # wraps around to the last
    assert changed.args[0].path == paths[-1]
    with qtbot.waitSignal(window.bridge.calibrated, timeout=10_000):
        key("X")

    mirror_preview, mirror_output = controller.settings.mirror_preview, controller.settings.mirror_output
    key("R")
    key("T")
    assert controller.settings.mirror_preview is not mirror_preview
    assert controller.settings.mirror_output is not mirror_output
    # The switches show the settings (SettingsChanged), never set by the shortcut itself.
    qtbot.waitUntil(lambda: window.view_panel.mirror_preview_check.isChecked() is not mirror_preview)
    key("0")
    assert controller.settings.passthrough is True
    key("0")
    assert controller.settings.passthrough is False

    key("C")
    key("C")
    assert controller.settings.preview_overlay == pytest.approx(0.2)
    qtbot.waitUntil(lambda: window.view_panel.overlay_slider.value() == 20)
    key("Z")
    assert controller.settings.preview_overlay == pytest.approx(0.1)
    key("W")
    key("W")
    assert window.preview.zoom == pytest.approx(1.5)
    key("S")
    assert window.preview.zoom == pytest.approx(1.25)
    assert window.stats_label.isVisible()
    key("I")
    assert not window.stats_label.isVisible()


def test_help_lists_the_shortcuts(qtbot, make_window) -> None:
    window = make_window(start=False)
    dialog = window.show_shortcuts()
    qtbot.addWidget(dialog)
    text = dialog.label.text()
    for keys in ("1 – 9", "A", "D", "X", "W", "S", "Z", "C", "R", "T", "I", "0"):
        assert f"<b>{keys}</b>" in text
    assert "Calibrate" in text


def test_diagnostics_show_the_doctor_report(qtbot, make_window) -> None:
    window = make_window(start=False)
    dialog = window.show_diagnostics()
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.report_ready, timeout=60_000):
        pass
    assert dialog.join(timeout=5)
    text = dialog.label.text()
    assert "<b>opencv</b>" in text
    assert "<b>OK</b>" in text


def test_settings_survive_a_restart(qtbot, make_window, store: SettingsStore, media_dir: Path) -> None:
    window = make_window()
    wait_for_frames(qtbot, window)
    with qtbot.waitSignal(window.bridge.avatar_changed, timeout=15_000):
        window.gallery.choose(1)
    window.view_panel.mirror_output_check.setChecked(True)
    # The avatar pane shows the output as the sinks get it: mirrored as it is drawn.
    qtbot.waitUntil(lambda: window.preview.output_pane.mirrored, timeout=5_000)
    window.view_panel.strength_slider.setValue(150)
    window.resize(990, 690)
    window.close()
    assert window.controller.state.value == "stopped"

    saved = store.load()
    assert saved.avatar == window.gallery.paths()[1]
    assert saved.mirror_output is True
    assert saved.engine_options.strength == pytest.approx(1.5)
    assert saved.source == window.controller.settings.source
    assert saved.virtual_camera.enabled is False
    again = make_window(saved, start=False)
    assert again.view_panel.mirror_output_check.isChecked()
    assert again.view_panel.strength_slider.value() == 150
    # The offscreen screen is 800 x 800: restoring clamps the width to it, and the minimum size wins.
    assert (again.width(), again.height()) == (MINIMUM_SIZE[0], 690)


def test_faceless_avatar_is_refused_with_a_message(qtbot, make_window, tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.full((256, 256, 3), 128, np.uint8))
    window = make_window()
    wait_for_frames(qtbot, window)
    before = window.gallery.paths()
    with qtbot.waitSignal(
        window.bridge.message_posted,
        timeout=15_000,
        check_params_cb=lambda m: m.key == "avatar" and m.level is MessageLevel.ERROR,
    ) as posted:
        copy = window.gallery.add_file(gray)
    assert posted.args[0].text == FACELESS_TEXT
    assert window.banner.text == FACELESS_TEXT
    assert window.statusBar().currentMessage() == FACELESS_TEXT
    assert window.gallery.paths() == before, "the refused image is taken out of the gallery"
    assert copy is not None
    assert not copy.exists()
    assert window.controller.settings.avatar != copy
    wait_for_frames(qtbot, window)  # the old avatar keeps running


def test_added_avatar_is_copied_and_used(qtbot, make_window, tmp_path: Path, media_dir: Path) -> None:
    window = make_window()
    wait_for_frames(qtbot, window)
    with qtbot.waitSignal(window.bridge.avatar_changed, timeout=15_000) as changed:
        copy = window.gallery.add_file(media_dir / "avatar_mona_lisa.jpg")
    assert copy == tmp_path / "user-avatars" / "avatar_mona_lisa.jpg"
    assert copy.read_bytes() == (media_dir / "avatar_mona_lisa.jpg").read_bytes()
    assert changed.args[0].path == copy
    assert window.gallery.paths()[-1] == copy
    qtbot.waitUntil(lambda: window.gallery.thumbnails_pending == 0, timeout=15_000)


def test_a_camera_that_fails_makes_way_for_the_demo(qtbot, make_window, store: SettingsStore) -> None:
    # No camera is listed, and the webcam source cannot open camera 57: the controller lets the demo
    # motion stand in, says so once, and the camera stays the choice saved.
    window = make_window(
        LiveSettings(
            source=SourceSpec(kind="camera", camera=57), virtual_camera=VirtualCameraSettings(enabled=False)
        ),
        devices=StubDevices(cameras=[]),
    )
    combo = window.source_panel.camera_combo
    entries = [combo.itemText(i) for i in range(combo.count())]
    assert entries == ["Camera 57 (not found)", NO_CAMERA_LABEL, "Demo motion", "Video file…"]
    assert not combo.model().item(1).isEnabled(), "the note is not a choice"
    qtbot.waitUntil(lambda: window.banner.text == NO_CAMERA_TEXT, timeout=15_000)
    assert window.controller.settings.source.kind == "demo"
    qtbot.waitUntil(lambda: combo.currentText() == "Demo motion")
    wait_for_frames(qtbot, window, count=3)
    window.close()
    assert store.load().source == SourceSpec(kind="camera", camera=57), "the camera choice is kept"


def test_engine_load_failure_shows_progress_then_the_error(
    qtbot, make_window, tmp_path: Path, monkeypatch
) -> None:
    bad = tmp_path / "not-a-checkpoint.pth.tar"
    bad.write_bytes(b"\x00" * 64)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    window = make_window()
    panel = window.source_panel
    qtbot.waitUntil(lambda: not panel.loading, timeout=15_000)
    with qtbot.waitSignal(
        window.bridge.message_posted, timeout=30_000, check_params_cb=lambda m: m.key == "engine"
    ) as posted:
        panel.engine_combo.setCurrentIndex(panel.engine_combo.findData("fomm"))
        panel.engine_combo.activated.emit(panel.engine_combo.currentIndex())
        assert panel.loading, "a busy bar shows while the engine loads"
    assert posted.args[0].level is MessageLevel.ERROR
    assert window.banner.text == posted.args[0].text
    assert not panel.loading
    assert panel.engine_combo.currentData() == "mesh"
    assert window.controller.settings.engine == MeshChoice()
    wait_for_frames(qtbot, window)


def test_virtual_camera_switch_and_status(
    qtbot, make_window, live_settings: LiveSettings, vcam_log: VirtualCameraLog
) -> None:
    settings = dataclasses.replace(
        live_settings,
        virtual_camera=VirtualCameraSettings(
            enabled=False, width=128, height=128, backend=GUI_MEMORY_BACKEND
        ),
    )
    window = make_window(settings)
    panel = window.output_panel
    assert panel.vcam_status.text() == "Off"
    with qtbot.waitSignal(
        window.bridge.virtual_camera_changed, timeout=10_000, check_params_cb=lambda active, _d, _f: active
    ):
        panel.vcam_check.setChecked(True)
    assert panel.vcam_status.text() == "On: memory-camera"
    assert panel.vcam_fix.isHidden()
    assert vcam_log.wait_for(3)
    with qtbot.waitSignal(window.bridge.virtual_camera_changed, timeout=10_000):
        panel.vcam_check.setChecked(False)
    assert panel.vcam_status.text() == "Off"
    assert window.controller.settings.virtual_camera.enabled is False


def test_unexpected_errors_reach_the_window(qtbot, make_window) -> None:
    window = make_window(start=False)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        window.report_unexpected(type(exc), exc, exc.__traceback__)
    assert window.banner.text == "Something went wrong (ValueError: boom); details are in the log."
    window.show_message(UserMessage(MessageLevel.INFO, "All good.", key="app"))
    assert window.statusBar().currentMessage() == "All good."
    assert window.banner.text.startswith("Something went wrong"), "an INFO does not hide an error"
    qtbot.mouseClick(window.banner.close_button, Qt.MouseButton.LeftButton)
    assert window.banner.text == ""


def test_overlay_and_landmarks_draw_on_the_camera_preview(qtbot, make_window) -> None:
    window = make_window()
    events: list = []
    window.bridge.frames_ready.connect(events.append)
    wait_for_frames(qtbot, window, count=2)

    def shown_vs_camera() -> float:
        """Mean difference between the camera pane and the camera frame it was made from."""
        wait_for_frames(qtbot, window, count=1)
        shown = rgb_from_qimage(window.preview.camera_pane.image())
        return float(np.abs(shown.astype(int) - events[-1].camera.astype(int)).mean())

    assert shown_vs_camera() == 0.0
    window.view_panel.overlay_slider.setValue(60)
    assert shown_vs_camera() > 10, "the avatar is blended over the camera"
    window.view_panel.overlay_slider.setValue(0)
    window.view_panel.landmarks_check.setChecked(True)
    assert 0.0 < shown_vs_camera() < 10, "face box and contours are drawn, the rest is the camera"
    output_before = events[-1].output
    assert np.array_equal(rgb_from_qimage(window.preview.output_pane.image()), output_before)


def test_switching_to_fomm_with_a_checkpoint(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    """The real FOMM engine on OpenVINO, built from a tiny config with random weights (a vox checkpoint
    is 228 MB): the first use shows its preparation, the panel says what runs, and the speed / quality
    choice reloads it."""

    import yaml

    from avatarify_app.engines.fomm.config import FommConfig, build_models
    from avatarify_app.modelstore import fomm as fomm_store
    from tests.engines.fomm.fomm_helpers import save_original_layout, tiny_config_dict

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict()), encoding="utf-8")
    checkpoint = save_original_layout(
        tmp_path / "tiny-vox.pth.tar", *build_models(FommConfig.from_yaml(config))
    )
    monkeypatch.setattr(fomm_store, "fomm_files", lambda path, _config: (path, config))
    monkeypatch.setenv("AVATARIFY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(checkpoint), ""))
    window = make_window()
    messages: list[UserMessage] = []
    window.bridge.message_posted.connect(messages.append)
    panel = window.source_panel
    qtbot.waitUntil(lambda: not panel.loading, timeout=15_000)
    assert not panel.quality_combo.isEnabled(), "speed / quality is a fomm choice"
    assert not panel.checkpoint_button.isEnabled(), "the mesh engine needs no file"
    with qtbot.waitSignal(window.bridge.engine_changed, timeout=60_000) as changed:
        # Choosing fomm, which has no checkpoint yet, asks for one.
        panel.engine_combo.setCurrentIndex(panel.engine_combo.findData("fomm"))
        panel.engine_combo.activated.emit(panel.engine_combo.currentIndex())
        assert panel.loading
        assert not panel.engine_combo.isEnabled()
    choice, device = changed.args
    assert choice == FommChoice(checkpoint=checkpoint)
    assert device.startswith("CPU, OpenVINO "), "auto picks what this CPU does best: any precision"
    assert any("Preparing the model for this computer" in m.text for m in messages if m.key == "engine")
    assert panel.device_label.text() == f"FOMM on {device}"
    assert panel.engine_combo.currentData() == "fomm"
    assert panel.checkpoint_button.text() == "tiny-vox.pth.tar"
    assert window.controller.settings.engine == choice
    assert panel.quality_combo.isEnabled()
    assert panel.quality_combo.currentData() == "auto"
    wait_for_frames(qtbot, window, count=2)
    with qtbot.waitSignal(window.bridge.engine_changed, timeout=60_000) as changed:
        panel.quality_combo.setCurrentIndex(panel.quality_combo.findData("fp32"))
        panel.quality_combo.activated.emit(panel.quality_combo.currentIndex())
        assert panel.loading
    assert changed.args == [FommChoice(checkpoint=checkpoint, precision="fp32"), "CPU, OpenVINO fp32"]
    assert window.controller.settings.engine.precision == "fp32"
    assert not panel.loading
    assert panel.checkpoint_button.isEnabled()
    wait_for_frames(qtbot, window, count=2)


def test_camera_picker_switches_source(qtbot, make_window, driving_video: Path, monkeypatch) -> None:
    window = make_window()
    wait_for_frames(qtbot, window)
    combo = window.source_panel.camera_combo
    assert combo.currentText() == f"Video: {driving_video.name}"

    def pick(text: str) -> None:
        row = combo.findText(text)
        assert row >= 0, f"no {text!r} in the camera picker"
        combo.setCurrentIndex(row)
        combo.activated.emit(row)

    pick("Demo motion")
    assert window.controller.settings.source.kind == "demo"
    wait_for_frames(qtbot, window, count=3)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))  # cancelled
    pick("Video file…")
    assert window.controller.settings.source.kind == "demo"
    assert combo.currentText() == "Demo motion"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(driving_video), ""))
    pick("Video file…")
    assert window.controller.settings.source == SourceSpec(kind="video", path=driving_video)
    assert combo.currentText() == f"Video: {driving_video.name}"
    wait_for_frames(qtbot, window, count=3)


def test_a_recording_cut_short_is_repaired_at_start_and_the_user_told(
    qtbot, make_window, tmp_path: Path, monkeypatch
) -> None:
    """What ``avatarify`` does at start (app.py): the repair runs on a worker thread, the window
    stays live, and the banner says where the recording went."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    writer = Mp4Writer(tmp_path / "take.mp4", size=(64, 48), fps=30)
    for i in range(45):
        writer.write_video(np.zeros((48, 64, 3), np.uint8), t=i / 30)
    writer.abort()  # as a crash leaves it; and the note now says its process is gone
    (note,) = journal.journal_dir().glob("*.json")
    note.write_text(json.dumps({**json.loads(note.read_text()), "pid": 999_999_999, "run": "0" * 16}))

    window = make_window()
    with qtbot.waitSignal(
        window.bridge.message_posted, timeout=15_000, check_params_cb=lambda m: m.key == "recording"
    ):
        window.controller.repair_cut_short()
    repaired = tmp_path / "take (incomplete).mp4"
    assert window.banner.text == (
        f"{tmp_path / 'take.mp4'} was cut short; the 1.5 s written are saved beside it as "
        "“take (incomplete).mp4”."
    )
    assert_regular_mp4(repaired, fps=30)


def test_a_virtual_camera_that_cannot_open_is_told_once(qtbot, make_window, live_settings) -> None:
    # No such pyvirtualcam backend here: opening fails as it does on a machine without a driver.
    window = make_window(
        dataclasses.replace(live_settings, virtual_camera=VirtualCameraSettings(enabled=True)),
        vcam_backend="avatarify-test-no-such-backend",
    )
    panel = window.output_panel
    qtbot.waitUntil(lambda: not window.controller.settings.virtual_camera.enabled, timeout=15_000)
    qtbot.waitUntil(lambda: not panel.vcam_check.isChecked(), timeout=5_000)
    wait_for_frames(qtbot, window, count=2)
    assert panel.vcam_status.text() == "Not available on this computer."
    assert panel.vcam_fix.text().startswith("To get one, ")
    assert panel.vcam_fix.isVisibleTo(window)
    assert window.banner.text == "", "the panel says it; the banner does not repeat it"
    assert "virtual camera" not in window.statusBar().currentMessage().lower()


def test_live_figures_tell_new_frames_apart_from_the_output_rate(qtbot, make_window) -> None:
    window = make_window(start=False)
    window._on_metrics(Metrics(input_fps=30, output_fps=30, engine_fps=1.5, inference_ms=600))
    text = window.stats_label.text()
    assert "avatar 1.5 fps" in text
    assert "output 30 fps" in text


def test_gallery_renames_and_removes_added_avatars(
    qtbot, make_window, media_dir: Path, tmp_path: Path
) -> None:
    window = make_window(start=False)
    gallery = window.gallery
    bundled = gallery.paths()[0]
    added = gallery.add_file(media_dir / "avatar_mona_lisa.jpg")
    assert added is not None
    assert window.controller.settings.avatar == added
    assert not gallery.is_removable(bundled), "bundled avatars stay"
    assert gallery.rename(bundled, "x") is None
    assert bundled.exists()

    renamed = gallery.rename(added, "Lisa")
    assert renamed == tmp_path / "user-avatars" / "Lisa.jpg"
    assert renamed.exists()
    assert not added.exists()
    assert gallery.paths()[-1] == renamed
    assert gallery.list.item(gallery.list.count() - 1).text() == "Lisa"
    assert window.controller.settings.avatar == renamed, "the avatar in use follows its new name"
    assert gallery.rename(renamed, "a/b") is None, "no slashes"

    trashed: list[str] = []
    gallery.move_to_trash = lambda name: bool(trashed.append(name))  # no trash: the file is deleted
    assert gallery.remove(renamed)
    assert trashed == [str(renamed)]
    assert not renamed.exists()
    assert renamed not in gallery.paths()
    assert window.controller.settings.avatar == bundled, "the first avatar takes over"
    assert (media_dir / "avatar_mona_lisa.jpg").exists(), "the original is never touched"
    qtbot.waitUntil(lambda: gallery.thumbnails_pending == 0, timeout=15_000)


def test_gallery_shows_the_avatar_in_use_from_the_start(
    qtbot, make_window, live_settings: LiveSettings
) -> None:
    from avatarify_app.avatars import bundled_avatars

    second = bundled_avatars()[1]
    window = make_window(dataclasses.replace(live_settings, avatar=second), start=False)
    assert window.gallery.current_path() == second
    selected = window.gallery.list.currentItem().icon()
    normal = selected.pixmap(32, 32, QIcon.Mode.Normal).toImage()
    assert selected.pixmap(32, 32, QIcon.Mode.Selected).toImage() == normal, "no tint when selected"
    qtbot.waitUntil(lambda: window.gallery.thumbnails_pending == 0, timeout=15_000)
