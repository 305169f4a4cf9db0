"""Capture sources behind the one ``Source`` contract: real OpenCV on the shared clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatarify_app.capture import VideoFileSource, WebcamSource, create_source, list_cameras
from avatarify_app.capture.webcam import MAX_FAILED_READS
from avatarify_app.config import DEMO_CLIP, SourceSpec
from avatarify_app.errors import DeviceError, InputError
from tests.fakes import FakeWebcam

CLIP_FRAMES = 216


def test_video_file_gives_rgb_frames_at_its_own_rate(driving_video: Path, driving_frames) -> None:
    with VideoFileSource(driving_video) as source:
        first = source.read()
        assert source.fps == pytest.approx(30.0)
        assert not source.paced
        assert source.name == "driving_mouth_open.mp4"
    assert first is not None
    assert first.dtype == np.uint8
    assert first.shape == (480, 480, 3)
    # RGB, not BGR: the same pixels as the frame ffmpeg extracted (up to decoder rounding).
    assert np.abs(first.astype(int) - driving_frames[0].astype(int)).mean() < 3


def test_video_file_loops(driving_video: Path) -> None:
    source = VideoFileSource(driving_video, loop=True)
    source.open()
    frames = [source.read() for _ in range(CLIP_FRAMES + 1)]
    source.close()
    source.close()
    assert all(frame is not None for frame in frames)
    np.testing.assert_array_equal(frames[0], frames[CLIP_FRAMES])


def test_video_file_without_loop_ends_with_none(driving_video: Path) -> None:
    with VideoFileSource(driving_video, loop=False) as source:
        for _ in range(CLIP_FRAMES):
            assert source.read() is not None
        assert source.read() is None


def test_missing_video_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such video file"):
        VideoFileSource(tmp_path / "nothing.mp4").open()


def test_unreadable_video_file_raises_input_error(tmp_path: Path) -> None:
    path = tmp_path / "not_a_video.mp4"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a readable video"):
        VideoFileSource(path).open()


def test_absent_camera_raises_device_error() -> None:
    with pytest.raises(DeviceError, match="camera 97 could not be opened"):
        WebcamSource(97).open()


def test_read_before_open_raises_device_error() -> None:
    with pytest.raises(DeviceError, match="not open"):
        WebcamSource(0).read()


def test_unplugged_camera_raises_device_error_then_reopens(driving_video: Path) -> None:
    camera = FakeWebcam(driving_video, unplug_after=3)
    camera.open()
    assert all(camera.read() is not None for _ in range(3))
    with pytest.raises(DeviceError, match="stopped sending pictures"):
        camera.read()
    assert camera.frames_read == 3
    camera.open()  # plugged back in
    assert camera.read() is not None
    camera.close()
    assert MAX_FAILED_READS > 1


def test_list_cameras_reads_linux_sysfs_names(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("avatarify_app.capture.webcam.platform.system", lambda: "Linux")
    for index, name, node_index in ((0, "HD Webcam", "0"), (1, "HD Webcam", "1"), (2, "Avatarify", "0")):
        node = tmp_path / f"video{index}"
        node.mkdir()
        (node / "name").write_text(name + "\n")
        (node / "index").write_text(node_index + "\n")
    cameras = list_cameras(sysfs=tmp_path)
    assert [(c.index, c.name) for c in cameras] == [(0, "HD Webcam"), (2, "Avatarify")]


def test_list_cameras_without_any_camera_is_empty(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("avatarify_app.capture.webcam.platform.system", lambda: "Linux")
    assert list_cameras(sysfs=tmp_path / "none") == []


@pytest.mark.parametrize("system", ["Windows", "Darwin"])
def test_list_cameras_never_opens_a_camera(system: str, monkeypatch) -> None:
    """Elsewhere than Linux nothing lists cameras without opening them: the list is empty (the window
    names cameras with Qt; the doctor opens them on purpose)."""

    def no_opening(index: int) -> None:
        raise AssertionError(f"camera {index} was opened")

    monkeypatch.setattr("avatarify_app.capture.webcam.platform.system", lambda: system)
    monkeypatch.setattr("avatarify_app.capture.webcam.open_camera", no_opening)
    assert list_cameras() == []


def test_create_source_builds_each_kind(driving_video: Path) -> None:
    assert isinstance(create_source(SourceSpec(kind="camera", camera=2)), WebcamSource)
    video = create_source(SourceSpec(kind="video", path=driving_video, loop=False))
    assert isinstance(video, VideoFileSource)
    assert not video.loop
    with pytest.raises(InputError, match="choose a video file"):
        create_source(SourceSpec(kind="video"))


@pytest.mark.skipif(not DEMO_CLIP.is_file(), reason="the demo motion clip is not built")
def test_demo_source_gives_frames_of_the_scripted_motion() -> None:
    with create_source(SourceSpec(kind="demo")) as source:
        frames = [source.read() for _ in range(3)]
        assert not source.paced
        assert source.fps == 30.0
    assert all(f is not None and f.shape == (480, 480, 3) and f.dtype == np.uint8 for f in frames)
