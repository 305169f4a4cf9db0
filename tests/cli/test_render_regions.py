"""``--eyes/--mouth/--head`` of ``avatarify render`` (a real render of the shared clip's frames, read
back and tracked) and ``avatarify live``."""

import argparse
import subprocess
import sys
from pathlib import Path

import av
import pytest

from avatarify_app.cli import live
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.tracking import detect_face
from avatarify_app.tracking.landmarks import mouth_opening


def _avatarify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "avatarify_app", *args], capture_output=True, text=True, timeout=300
    )


def test_mouth_zero_keeps_the_avatars_mouth_shut(tmp_path: Path, media_dir: Path, driving_frames) -> None:
    clip = tmp_path / "talk.mp4"  # the shared clip's neutral, half open and wide open mouth
    with Mp4Writer(clip, size=(480, 480), fps=30.0) as writer:
        for n in (0, 75, 138):
            writer.write_video(driving_frames[n])
    out = tmp_path / "muted.mp4"
    result = _avatarify(
        "render", "--avatar", str(media_dir / "avatar_mona_lisa.jpg"), "--driving", str(clip),
        "--out", str(out), "--size", "256", "--mouth", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3
    rest = mouth_opening(detect_face(frames[0]).landmarks)
    for frame in frames[1:]:
        assert mouth_opening(detect_face(frame).landmarks) == pytest.approx(rest, abs=0.01)


@pytest.mark.parametrize(("option", "value"), [("--eyes", "3"), ("--mouth", "-0.5"), ("--head", "nan")])
def test_out_of_range_strength_is_one_line_and_exit_2(tmp_path: Path, option: str, value: str):
    result = _avatarify("render", "--demo", "--out", str(tmp_path / "x.mp4"), option, value)
    assert result.returncode == 2
    assert f"argument {option}: {value} is outside 0 to 2" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_live_takes_the_region_options_too():
    parser = argparse.ArgumentParser()
    live.register(parser.add_subparsers())
    args = parser.parse_args(["live", "--demo", "--eyes", "0.5", "--head", "0"])
    options = live.build_settings(args).engine_options
    assert (options.eyes, options.mouth, options.head) == (0.5, 1.0, 0.0)
    result = _avatarify("live", "--demo", "--no-virtual-camera", "--mouth", "2.5")
    assert result.returncode == 2
    assert "argument --mouth: 2.5 is outside 0 to 2" in result.stderr
