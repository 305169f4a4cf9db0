"""``avatarify render`` end to end: real MediaPipe, real mp4 files written and read back."""

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from avatarify_app.capture.demo_source import DemoSource
from avatarify_app.engines import EngineOptions, OutputFraming
from avatarify_app.engines.mesh import MeshEngine
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.pipeline.avatars import default_avatar, load_image
from avatarify_app.rendering import Driving, render_clip
from avatarify_app.tracking import detect_face
from avatarify_app.tracking.landmarks import mouth_opening
from tests.mp4check import assert_regular_mp4


def _avatarify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "avatarify_app", *args], capture_output=True, text=True, timeout=300
    )


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, media_dir, driving_video) -> Path:
    out = tmp_path_factory.mktemp("render") / "mona.mp4"
    result = _avatarify(
        "render", "--avatar", str(media_dir / "avatar_mona_lisa.jpg"), "--driving", str(driving_video),
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    return out


def test_output_keeps_the_drivers_frame_count_fps_and_sound(rendered, driving_video):
    with av.open(str(driving_video)) as source, av.open(str(rendered)) as out:
        src_video, out_video = source.streams.video[0], out.streams.video[0]
        assert out_video.guessed_rate == src_video.guessed_rate == 30
        assert (out_video.width, out_video.height) == (512, 512)
        assert len(out.streams.audio) == 1
        audio_s = float(out.streams.audio[0].duration * out.streams.audio[0].time_base)
        assert audio_s == pytest.approx(216 / 30, abs=0.2)
    assert len(_frames(rendered)) == 216


def test_neutral_frame_matches_the_avatar(rendered, media_dir):
    engine = MeshEngine()
    engine.set_avatar(load_image(media_dir / "avatar_mona_lisa.jpg"))
    assert _psnr(_frames(rendered)[0], engine.avatar_canvas) >= 35


def test_mouth_follows_the_driver(rendered, driving_frames):
    frames = _frames(rendered)
    driver_open = mouth_opening(detect_face(driving_frames[138]).landmarks)
    assert mouth_opening(detect_face(frames[138]).landmarks) >= 0.5 * driver_open
    assert mouth_opening(detect_face(frames[0]).landmarks) < 0.03


def test_neutral_frame_option_and_size(tmp_path, media_dir, driving_video):
    out = tmp_path / "n75.mp4"
    result = _avatarify(
        "render", "--avatar", str(media_dir / "avatar_raphael_la_velata.jpg"),
        "--driving", str(driving_video), "--out", str(out),
        "--neutral-frame", "75", "--size", "256", "--strength", "1.2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frames = _frames(out)
    from avatarify_app.engines import EngineOptions

    engine = MeshEngine(EngineOptions(size=256))
    engine.set_avatar(load_image(media_dir / "avatar_raphael_la_velata.jpg"))
    assert frames[75].shape == (256, 256, 3)
    assert _psnr(frames[75], engine.avatar_canvas) >= 35
    assert _psnr(frames[0], engine.avatar_canvas) < _psnr(frames[75], engine.avatar_canvas)


def test_demo_motion_with_the_default_avatar(tmp_path):
    out = tmp_path / "demo.mp4"
    result = _avatarify("render", "--demo", "--out", str(out), "--size", "256")
    assert result.returncode == 0, result.stderr
    frames = _frames(out)
    assert len(frames) == 375
    engine = MeshEngine()
    engine.set_avatar(load_image(default_avatar()))
    assert detect_face(frames[0]).found
    # The demo talks: somewhere in the clip the avatar's mouth is open.
    assert max(mouth_opening(detect_face(f).landmarks) for f in frames[190:260:10]) > 0.05


@pytest.fixture
def faceless_video(tmp_path) -> Path:
    path = tmp_path / "wall.mp4"
    with Mp4Writer(path, size=(128, 128), fps=10) as writer:
        for i in range(10):
            writer.write_video(np.full((128, 128, 3), 100 + i, np.uint8))
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_avatar", "no such file"),
        ("unreadable_avatar", "not a readable image"),
        ("faceless_avatar", "no face found in the avatar image"),
        ("faceless_video", "no face in any frame"),
        ("missing_video", "no such video file"),
        ("unwritable_out", "does not exist"),
    ],
)
def test_bad_input_gives_one_line_and_no_traceback(
    case, expected, tmp_path, media_dir, driving_video, request
):
    avatar = media_dir / "avatar_mona_lisa.jpg"
    driving = driving_video
    out = tmp_path / "out.mp4"
    if case == "missing_avatar":
        avatar = tmp_path / "nobody.png"
    elif case == "unreadable_avatar":
        avatar = tmp_path / "broken.jpg"
        avatar.write_bytes(b"\xff\xd8 this is not really a jpeg")
    elif case == "faceless_avatar":
        avatar = tmp_path / "gray.png"
        cv2.imwrite(str(avatar), np.full((200, 200, 3), 128, np.uint8))
    elif case == "faceless_video":
        driving = request.getfixturevalue("faceless_video")
    elif case == "missing_video":
        driving = tmp_path / "nothing.mp4"
    elif case == "unwritable_out":
        out = tmp_path / "no" / "such" / "dir" / "out.mp4"
    result = _avatarify("render", "--avatar", str(avatar), "--driving", str(driving), "--out", str(out))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("avatarify:")]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    if case == "faceless_video":
        assert not list(tmp_path.glob("out*")), "nothing is left: no output, no partial file"


@pytest.mark.parametrize("crop", [(1, 0), (0, 1), (1, 1)])
def test_full_framing_of_an_odd_sized_avatar_renders(tmp_path, media_dir, crop):
    """H.264 needs even sizes: the writer pads the odd ones by an edge pixel, in every framing."""
    image = load_image(media_dir / "avatar_mona_lisa.jpg")
    image = image[: image.shape[0] - crop[1], : image.shape[1] - crop[0]]
    engine = MeshEngine(EngineOptions(framing=OutputFraming.FULL))
    engine.set_avatar(image)
    driving = Driving("ten demo frames", lambda: DemoSource(size=256), length=10, fps=30.0, stop_after=10)
    out = tmp_path / "odd.mp4"
    report = render_clip(engine, driving, out)
    engine.close()

    assert report.frames == 10
    height, width = image.shape[:2]
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (width + width % 2, height + height % 2)
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert _psnr(first[:height, :width], image) > 25  # the avatar's picture, nothing cut
    assert_regular_mp4(out, fps=30)
