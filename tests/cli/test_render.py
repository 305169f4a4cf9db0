"""``avatarify render`` end to end: real MediaPipe, real mp4 files written and read back."""

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from avatarify_app.avatars import default_avatar, load_image
from avatarify_app.capture.demo_source import DemoSource
from avatarify_app.engines import EngineOptions, OutputFraming
from avatarify_app.engines.mesh import MeshEngine
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.pipeline.rendering import Driving, render_clip
from avatarify_app.tracking import detect_face
from avatarify_app.tracking.landmarks import mouth_opening
from tests.clips import BEEP_FRAME, beep_time, frame_times, vfr_driver
from tests.fakes import StillEngine
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
        src_audio, out_audio = source.streams.audio[0].codec_context, out.streams.audio[0].codec_context
        assert (out_audio.name, out_audio.sample_rate, out_audio.channels) == ("aac", 44100, 2)
        assert (src_audio.name, src_audio.sample_rate, src_audio.channels) == ("aac", 44100, 2)
        # The sound is copied, not decoded and encoded again: the same packets, byte for byte.
        copied = [bytes(p) for p in out.demux(out.streams.audio[0]) if p.size]
        assert copied == [bytes(p) for p in source.demux(source.streams.audio[0]) if p.size]
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


def test_frames_are_scaled_once_to_the_asked_size(tmp_path):
    """An engine with its own frame size (fomm's model) gives files of ``--size``: render scales."""
    engine = StillEngine(EngineOptions(size=96), native=48)
    avatar = load_image(default_avatar())
    engine.set_avatar(avatar)
    driving = Driving("ten demo frames", lambda: DemoSource(size=256), length=10, fps=30.0, stop_after=10)
    out = tmp_path / "scaled.mp4"
    render_clip(engine, driving, out)

    expected = cv2.resize(cv2.resize(avatar, (48, 48), interpolation=cv2.INTER_AREA), (96, 96))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (96, 96)
        last = list(container.decode(video=0))[-1].to_ndarray(format="rgb24")
    assert _psnr(last[4:, 4:], expected[4:, 4:]) > 25  # the whole picture, scaled up (stamp aside)


def _main(*args: str) -> int:
    from avatarify_app.cli import main

    return main(list(args))


@pytest.mark.parametrize(
    ("audio_codec", "fmt"), [("aac", "mp4"), ("pcm_s16le", "mov")], ids=["sound_copied", "sound_encoded"]
)
def test_variable_frame_rate_driver_keeps_its_frame_times_and_sound(
    tmp_path, media_dir, driving_video, audio_codec, fmt
):
    driver = tmp_path / f"vfr.{fmt}"
    vfr_driver(driver, driving_video, audio_codec, fmt)
    driver_times = frame_times(driver)  # as a player reads them back
    out = tmp_path / "out.mp4"
    result = _avatarify(
        "render", "--avatar", str(media_dir / "avatar_mona_lisa.jpg"), "--driving", str(driver),
        "--out", str(out), "--size", "256",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    assert ", with sound" in result.stdout
    out_times = frame_times(out)
    assert len(out_times) == len(driver_times) == 40
    # Every frame within a frame of the driver's time (re-timing to the average rate put some 0.4 s
    # off), and the steps between frames kept to the millisecond. (The writer's MP4 shifts all but the
    # first frame, and the sound, by the AAC encoder's 21 ms priming.)
    assert max(abs(a - b) for a, b in zip(out_times, driver_times, strict=True)) < 1 / 30
    assert np.abs(np.diff(out_times[1:]) - np.diff(driver_times[1:])).max() < 0.002
    # The sound stays where it was relative to the pictures: the beep starts at frame BEEP_FRAME.
    driver_lag = beep_time(driver) - driver_times[BEEP_FRAME]
    out_lag = beep_time(out) - out_times[BEEP_FRAME]
    assert abs(out_lag - driver_lag) < 1 / 60


def test_a_driver_without_sound_gives_a_clip_without_sound(tmp_path, media_dir, driving_video):
    driver = tmp_path / "mute.mp4"
    vfr_driver(driver, driving_video, audio_codec=None)
    out = tmp_path / "out.mp4"
    result = _avatarify(
        "render", "--avatar", str(media_dir / "avatar_mona_lisa.jpg"), "--driving", str(driver),
        "--out", str(out), "--size", "256",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ", no sound" in result.stdout
    with av.open(str(out)) as container:
        assert not container.streams.audio
        assert container.streams.video[0].frames == 40


def test_render_ends_with_the_frame_loop_figures(tmp_path):
    out = tmp_path / "demo.mp4"
    result = _avatarify("render", "--demo", "--out", str(out), "--size", "256")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"wrote {out}: 375 frames at 30 fps")
    assert lines[-1].startswith("frame loop: 375 frames in ")
    assert lines[-1].endswith(" frames/s (mesh on CPU)")
    assert result.stdout.count("wrote") == 1


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--strength", "nan", "nan is outside 0 to 2"),
        ("--strength", "inf", "inf is outside 0 to 2"),
        ("--strength", "1e9", "1e9 is outside 0 to 2"),
        ("--strength", "-0.5", "-0.5 is outside 0 to 2"),
        ("--strength", "lots", "'lots' is not a number"),
        ("--neutral-frame", "-1", "-1 must be 0 or more"),
        ("--neutral-frame", "1.5", "'1.5' is not a whole number"),
    ],
)
def test_numeric_options_are_checked_before_anything_starts(option, value, expected, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    with pytest.raises(SystemExit) as stopped:
        _main("render", "--demo", "--out", str(out), option, value)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert option in err[0]
    assert expected in err[0]
    assert not out.exists()


@pytest.mark.parametrize("case", ["driving", "driving_by_other_name", "avatar_hard_link", "avatar_symlink"])
def test_out_never_overwrites_an_input(case, tmp_path, media_dir, driving_video, capsys):
    driving = tmp_path / "driving.mp4"
    driving.write_bytes(driving_video.read_bytes())
    avatar = tmp_path / "me.jpg"
    avatar.write_bytes((media_dir / "avatar_mona_lisa.jpg").read_bytes())
    out = {
        "driving": driving,
        "driving_by_other_name": tmp_path / "sub" / ".." / "driving.mp4",
        "avatar_hard_link": tmp_path / "me.mp4",
        "avatar_symlink": tmp_path / "link.mp4",
    }[case]
    (tmp_path / "sub").mkdir()
    if case == "avatar_hard_link":
        os.link(avatar, out)
    elif case == "avatar_symlink":
        out.symlink_to(avatar)
    before = {p: p.read_bytes() for p in (driving, avatar)}

    assert _main("render", "--avatar", str(avatar), "--driving", str(driving), "--out", str(out)) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "names the same file as --" in err[0]
    assert "choose another output name" in err[0]
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"driving.mp4", "me.jpg", "sub", *([out.name] if case.startswith("avatar") else [])}
    )


@pytest.mark.parametrize(
    ("name", "expected"), [("out.avi", "out.mp4"), ("out", "out.mp4"), ("clip.gif", "clip.mp4")]
)
def test_out_must_be_named_mp4(name, expected, tmp_path, capsys):
    assert _main("render", "--demo", "--out", str(tmp_path / name)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"avatarify: {tmp_path / name}: --out writes an MP4 video; give a name ending in .mp4, "
        f"e.g. {tmp_path / expected}"
    ]
    assert not list(tmp_path.iterdir())


def test_a_signal_stops_the_render_and_says_what_was_kept(tmp_path):
    out = tmp_path / "demo.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "avatarify_app", "render", "--demo", "--out", str(out), "--size", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # Frames are being written once the output (or the writer's temporary file) holds a fragment.
        while not any(p.stat().st_size > 20_000 for p in tmp_path.iterdir()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    lines = [line for line in err.splitlines() if line.startswith("avatarify")]
    assert len(lines) == 1, err
    assert lines[0].startswith("avatarify: render stopped by SIGTERM after ")
    assert " of 375 frames; " in lines[0]
    assert "Traceback" not in err
    if "(incomplete)" in lines[0]:  # the partial file it names plays
        kept = Path(lines[0].split(" are in ")[1].removesuffix(" (incomplete)"))
        assert _frames(kept)


@pytest.mark.parametrize("sound", [None, "aac", "pcm_s16le"])
def test_a_damaged_driver_puts_no_ffmpeg_lines_on_the_console(tmp_path, driving_video, sound):
    """Damaged packets in the driver (its picture, and its sound copied or decoded): the decoders'
    complaints stay off the console, and a damaged sound gives at most one line."""
    if sound is None:
        clip = tmp_path / "video_only.mp4"
        with av.open(str(driving_video)) as source, Mp4Writer(clip, (480, 480), 30) as writer:
            for frame in source.decode(video=0):
                writer.write_video(frame.to_ndarray(format="rgb24"))
    else:
        clip = tmp_path / "with_sound.mov"
        vfr_driver(clip, driving_video, sound, "mov")
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(3)
    for at in rng.integers(len(data) // 5, len(data) * 3 // 4, 40):  # the middle of the picture data
        data[at : at + 30] = rng.integers(0, 256, 30, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    result = _avatarify("render", "--driving", str(damaged), "--out", str(out), "--size", "256")
    console = result.stdout + result.stderr
    assert "[h264 @" not in console
    assert "error while decoding" not in console
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        assert result.stdout.startswith(f"wrote {out}")
    else:
        assert result.returncode == 2
        assert len([line for line in result.stderr.splitlines() if line.startswith("avatarify")]) == 1


def _no_room_for_files_over(limit: int) -> None:
    """In the child: writes past ``limit`` bytes fail with EFBIG, as on a disk that is full."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_mid_render_is_said_truthfully(tmp_path):
    """(The writer's own tests cover a disk full before the first frame; here the log file must fit.)"""
    limit = 300_000
    out = tmp_path / "out.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "avatarify_app", "render", "--demo", "--out", str(out), "--size", "256"],
        capture_output=True, text=True, timeout=300, preexec_fn=lambda: _no_room_for_files_over(limit),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("avatarify")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"avatarify: {out}: no room left for the output (the file reached the size limit); "
        "the render stopped after "
    )
    assert "Traceback" not in result.stderr
    assert not out.exists()
    (partial,) = tmp_path.glob("out.*.partial.mp4")
    assert str(partial) in lines[0]
    assert _frames(partial)
