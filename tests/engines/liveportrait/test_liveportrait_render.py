"""``avatarify render --engine liveportrait --checkpoint FOLDER``: a 512x512 clip with the driver's frame
times and sound, through the command line and the engine catalog (random weights in the released
folder form, the small sizes: 256 in, 512 out)."""

from __future__ import annotations

from pathlib import Path

import av

from avatarify_app.cli import main
from avatarify_app.engines.liveportrait.checkpoint import layout_of
from avatarify_app.engines.liveportrait.config import LivePortraitConfig
from tests.clips import BEEP_FRAME, beep_time, frame_times, vfr_driver
from tests.mp4check import assert_regular_mp4


def test_the_engine_tells_the_sizes_from_the_files(small_folder: Path) -> None:
    assert layout_of(small_folder) == LivePortraitConfig.small()


def test_render_writes_512_frames_with_the_drivers_timing_and_sound(
    small_folder: Path, tmp_path: Path, media_dir: Path, driving_video: Path, capsys
) -> None:
    driver = tmp_path / "driver.mp4"
    vfr_driver(driver, driving_video)
    out = tmp_path / "liveportrait.mp4"
    status = main(
        ["render", "--engine", "liveportrait", "--checkpoint", str(small_folder), "--backend", "torch",
         "--avatar", str(media_dir / "avatar_mona_lisa.jpg"), "--driving", str(driver), "--out", str(out)]
    )  # fmt: skip
    assert status == 0
    assert "(liveportrait on CPU, torch fp32)" in capsys.readouterr().out
    assert_regular_mp4(out, fps=30)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (512, 512)
    driver_times, out_times = frame_times(driver), frame_times(out)
    assert len(out_times) == len(driver_times)
    assert max(abs(a - b) for a, b in zip(driver_times, out_times, strict=True)) < 0.002
    driver_lag = beep_time(driver) - driver_times[BEEP_FRAME]
    assert abs((beep_time(out) - out_times[BEEP_FRAME]) - driver_lag) < 1 / 60


def test_a_folder_that_is_not_liveportrait_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "weights").mkdir()
    out = tmp_path / "x.mp4"
    status = main(["render", "--engine", "liveportrait", "--checkpoint", str(tmp_path / "weights"), "--demo",
                   "--out", str(out)])  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert not out.exists()
