"""The driver's sound in a rendered clip: copied packet for packet when an MP4 can hold its codec,
encoded to AAC otherwise, in time with the picture. Real files written with PyAV and read back."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avatarify_app.outputs.driver_sound import SoundCopier, SoundEncoder, open_driver_sound
from avatarify_app.outputs.mp4 import Mp4Writer
from avatarify_app.outputs.repair import repair_abandoned
from tests.mp4check import assert_regular_mp4

FPS = 30
RATE = 48000
BEEP_S = 1.0  # on the driver's picture clock: the beep starts with the frame shown at 1 s


def _driver(
    path: Path,
    audio_codec: str | None,
    *,
    fmt: str | None = None,
    video_s: float = 2.0,
    audio_s: float = 2.0,
    video_start: float = 0.0,
    audio_start: float = 0.0,
    channels: int = 1,
) -> None:
    """A driving clip: ``video_s`` of gray frames from ``video_start`` and ``audio_s`` of silence
    from ``audio_start`` with a 1 kHz beep from ``video_start + BEEP_S`` (seconds on the file's clock)."""
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, FPS)
        if audio_codec is not None:
            audio = out.add_stream(audio_codec, rate=RATE, options={"strict": "experimental"})
            audio.layout = layout
        first_frame = round(video_start * FPS)
        for i in range(round(video_s * FPS)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 100, np.uint8), format="rgb24")
            frame.pts, frame.time_base = first_frame + i, Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio_codec is None:
            return
        sound = np.zeros(round(audio_s * RATE), np.float32)
        beep = round((video_start + BEEP_S - audio_start) * RATE)
        if beep < len(sound):
            sound[beep : beep + 4800] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(4800) / RATE)
        convert = av.AudioResampler(format=audio.codec_context.format, layout=layout, rate=RATE)
        block = audio.codec_context.frame_size or 1024
        first_sample = round(audio_start * RATE)
        for start in range(0, len(sound), block):
            samples = np.repeat(sound[start : start + block][None], channels, axis=0)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=layout)
            frame.sample_rate, frame.time_base = RATE, Fraction(1, RATE)
            frame.pts = first_sample + start
            for converted in convert.resample(frame):
                for packet in audio.encode(converted):
                    out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)


def _render(driver: Path, out: Path, frames: int | None = None) -> type | None:
    """What ``render`` does with the driver's sound, around gray frames at the driver's times.
    Returns the kind of sound used (None: no sound)."""
    sound = open_driver_sound(driver)
    with av.open(str(driver)) as source:
        times = [float(f.time) for f in source.decode(video=0)]
    times = [t - times[0] for t in times][:frames]
    audio = sound.writer_audio if sound is not None else {}
    with Mp4Writer(out, (64, 48), FPS, **audio) as writer:
        for t in times:
            writer.write_video(np.full((48, 64, 3), 100, np.uint8), t=t)
            if sound is not None:
                sound.write_until(writer, t)
        if sound is not None:
            sound.write_rest(writer)
            sound.close()
    return type(sound) if sound is not None else None


def _beep_lag(path: Path) -> float:
    """When the beep starts after the frame shown at ``BEEP_S`` (seconds on the file's clocks)."""
    with av.open(str(path)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            loud = np.flatnonzero(np.abs(frame.to_ndarray()[0]) > 0.2)
            if len(loud):
                return float(frame.time) + loud[0] / frame.sample_rate - times[round(BEEP_S * FPS)]
    raise AssertionError(f"no beep in {path}")


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def _audio_stream(path: Path) -> tuple[str, int, int]:
    with av.open(str(path)) as container:
        context = container.streams.audio[0].codec_context
        return context.codec.canonical_name, context.sample_rate, context.channels


@pytest.mark.parametrize(
    ("codec", "fmt", "name"),
    [
        ("aac", "mp4", "aac"),
        ("libopus", "matroska", "opus"),
        ("flac", "matroska", "flac"),
        ("libmp3lame", "matroska", "mp3"),
        ("alac", "mov", "alac"),
        ("ac3", "matroska", "ac3"),
        ("ac3", "mpegts", "ac3"),
        ("libmp3lame", "avi", "mp3"),
    ],
)
def test_a_sound_an_mp4_holds_is_copied_packet_for_packet(tmp_path, codec, fmt, name):
    driver, out = tmp_path / "driver.mkv", tmp_path / "out.mp4"
    _driver(driver, codec, fmt=fmt, channels=2)

    assert _render(driver, out) is SoundCopier
    assert _audio_stream(out) == _audio_stream(driver) == (name, RATE, 2)
    assert _audio_packets(out) == _audio_packets(driver)
    assert abs(_beep_lag(out) - _beep_lag(driver)) < 1 / 60
    assert_regular_mp4(out, fps=FPS)


@pytest.mark.parametrize(
    ("codec", "fmt", "name", "why"),
    [
        ("pcm_s16le", "mov", "pcm_s16le", "few MP4 players read it"),
        ("pcm_s16le", "avi", "pcm_s16le", "few MP4 players read it"),
        ("vorbis", "matroska", "vorbis", "few MP4 players read it"),
        ("aac", "mpegts", "aac", "an MP4 cannot take its packets as they are"),  # (ADTS headers)
    ],
)
def test_a_sound_an_mp4_cannot_hold_is_encoded_to_aac(tmp_path, caplog, codec, fmt, name, why):
    driver, out = tmp_path / "driver.bin", tmp_path / "out.mp4"
    _driver(driver, codec, fmt=fmt, channels=2 if codec == "vorbis" else 1)

    with caplog.at_level(logging.INFO, logger="avatarify_app.outputs.driver_sound"):
        assert _render(driver, out) is SoundEncoder
    assert f"({name}, {RATE} Hz) is encoded to AAC ({why}" in caplog.text
    assert _audio_stream(out)[:2] == ("aac", RATE)
    assert abs(_beep_lag(out) - _beep_lag(driver)) < 1 / 60
    assert_regular_mp4(out, fps=FPS)


@pytest.mark.parametrize("codec", ["aac", "pcm_s16le"])
@pytest.mark.parametrize(
    ("video_start", "audio_start"),
    [(0.0, 0.5), (0.5, 0.0)],
    ids=["sound_starts_later", "sound_starts_earlier"],
)
def test_sound_keeps_its_offset_from_the_picture(tmp_path, codec, video_start, audio_start):
    driver, out = tmp_path / "driver.mov", tmp_path / "out.mp4"
    _driver(driver, codec, fmt="mov", video_start=video_start, audio_start=audio_start)

    _render(driver, out)
    assert abs(_beep_lag(out) - _beep_lag(driver)) < 1 / 60


@pytest.mark.parametrize("codec", ["aac", "pcm_s16le"])
def test_sound_longer_than_the_picture_is_kept_whole(tmp_path, codec):
    driver, out = tmp_path / "driver.mov", tmp_path / "out.mp4"
    _driver(driver, codec, fmt="mov", video_s=1.5, audio_s=3.0)

    _render(driver, out)
    with av.open(str(out)) as container:
        end = max(float(f.time) + f.samples / f.sample_rate for f in container.decode(audio=0))
    assert end == pytest.approx(3.0, abs=0.05)


def test_a_clip_without_sound_gives_none(tmp_path):
    driver, out = tmp_path / "driver.mp4", tmp_path / "out.mp4"
    _driver(driver, None)
    assert open_driver_sound(driver) is None
    assert _render(driver, out) is None
    with av.open(str(out)) as container:
        assert not container.streams.audio


def test_an_audio_stream_with_no_packets_gives_none(tmp_path):
    driver = tmp_path / "driver.mkv"
    _driver(driver, "aac", fmt="matroska", audio_s=0.0)  # (an MP4 drops a stream with no packets)
    assert open_driver_sound(driver) is None


def test_packets_without_timestamps_follow_the_one_before(tmp_path):
    """Some demuxers give packets with no pts (or no pts and no dts): each goes right after the one
    before it, so the copy is whole and in order."""
    driver, out = tmp_path / "driver.mp4", tmp_path / "out.mp4"
    _driver(driver, "aac")
    with av.open(str(driver)) as source:
        packets = [p for p in source.demux(audio=0) if p.size]
    for i, packet in enumerate(packets):
        if i % 3 == 1:
            packet.pts = None  # dts kept
        elif i % 3 == 2:
            packet.pts = packet.dts = None
    sound = open_driver_sound(driver)
    assert isinstance(sound, SoundCopier)
    sound._packets = sound._timed_packets(iter(packets))  # the packets above, not the file's
    sound._next = next(sound._packets)
    with Mp4Writer(out, (64, 48), FPS, **sound.writer_audio) as writer:
        writer.write_video(np.zeros((48, 64, 3), np.uint8), t=0.0)
        sound.write_rest(writer)
    sound.close()

    assert _audio_packets(out) == _audio_packets(driver)
    with av.open(str(out)) as container:
        pts = [p.pts for p in container.demux(audio=0) if p.size]
    assert pts == sorted(pts)
    assert np.all(np.diff(pts) == 1024)


def test_a_render_stopped_mid_way_with_copied_sound_leaves_a_playable_file(tmp_path):
    driver, out = tmp_path / "driver.mp4", tmp_path / "out.mp4"
    _driver(driver, "aac", video_s=4.0, audio_s=4.0)
    sound = open_driver_sound(driver)
    assert sound is not None
    with (  # noqa: PT012
        pytest.raises(KeyboardInterrupt),
        sound,
        Mp4Writer(out, (64, 48), FPS, **sound.writer_audio) as writer,
    ):
        for i in range(3 * FPS):
            writer.write_video(np.full((48, 64, 3), 100, np.uint8), t=i / FPS)
            sound.write_until(writer, i / FPS)
        raise KeyboardInterrupt  # Ctrl+C, or a signal turned into an exception by the CLI

    assert not out.exists()
    assert writer.kept_path is not None
    with av.open(str(writer.kept_path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(writer.kept_path)) as container:
        sound_s = sum(f.samples for f in container.decode(audio=0)) / RATE
    assert frames >= 2 * FPS
    assert sound_s >= 2.0


def test_damaged_packets_of_a_decoded_sound_are_left_silent(tmp_path, caplog):
    """Vorbis packets that cannot be decoded: the rest of the sound is kept, one warning says so."""
    driver, out = tmp_path / "driver.mkv", tmp_path / "out.mp4"
    _driver(driver, "vorbis", fmt="matroska", channels=2)
    data = bytearray(driver.read_bytes())
    with av.open(str(driver)) as source:
        packets = [(p.pos, bytes(p)) for p in source.demux(audio=0) if p.size]
    for pos, payload in packets[3::7]:
        at = data.index(payload, pos)  # (``pos`` is where the packet's block starts)
        data[at] |= 1  # the first bit of an audio packet must be 0: the decoder refuses this one
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(bytes(data))

    with caplog.at_level(logging.INFO, logger="avatarify_app.outputs.driver_sound"):
        assert _render(damaged, out) is SoundEncoder
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "damaged audio packets" in warnings[0]
    with av.open(str(out)) as container:
        sound_s = sum(f.samples for f in container.decode(audio=0)) / RATE
    assert sound_s == pytest.approx(2.0, abs=0.1)


def test_a_stream_that_cannot_be_read_on_ends_the_sound_there(tmp_path, caplog):
    """The demuxer fails mid-way (damaged container data): the sound read so far is kept, the picture
    goes on, and one warning says where the sound stops."""
    driver, out = tmp_path / "driver.mp4", tmp_path / "out.mp4"
    _driver(driver, "aac")
    with av.open(str(driver)) as source:
        packets = [p for p in source.demux(audio=0) if p.size]

    def failing() -> Iterator[av.Packet]:
        yield from packets[:40]
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    sound = open_driver_sound(driver)
    assert sound is not None
    sound._packets = sound._timed_packets(failing())  # the packets above, not the file's
    sound._next = next(sound._packets)
    with caplog.at_level(logging.INFO), Mp4Writer(out, (64, 48), FPS, **sound.writer_audio) as writer:
        for i in range(2 * FPS):
            writer.write_video(np.full((48, 64, 3), 100, np.uint8), t=i / FPS)
            sound.write_until(writer, i / FPS)
        sound.write_rest(writer)
    sound.close()

    assert _audio_packets(out) == [bytes(p) for p in packets[:40]]
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 2 * FPS
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "is damaged after 0.8 s" in warning
    assert "the rest of it is left out" in warning


_RENDER_AND_HANG = """
import sys, time
from pathlib import Path
import numpy as np
from avatarify_app.outputs.driver_sound import open_driver_sound
from avatarify_app.outputs.mp4 import Mp4Writer

sound = open_driver_sound(Path(sys.argv[1]))
writer = Mp4Writer(sys.argv[2], (160, 120), 30, **sound.writer_audio)
rng = np.random.default_rng(0)
for i in range(90):
    writer.write_video(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), t=i / 30)
    sound.write_until(writer, i / 30)
print("written", flush=True)
time.sleep(60)
"""


def test_a_killed_render_with_copied_sound_leaves_a_playable_file(tmp_path, driving_video, monkeypatch):
    """SIGKILL after 3 s of the real driving clip: the fragments written so far play, sound included,
    and the repair at the next start makes a regular MP4 of them."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = tmp_path / "killed.mp4"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with subprocess.Popen(
        [sys.executable, "-c", _RENDER_AND_HANG, str(driving_video), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    (partial,) = tmp_path.glob("killed.*.partial.mp4")
    with av.open(str(partial)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(partial)) as container:
        sound_s = sum(f.samples for f in container.decode(audio=0)) / 44100
    assert frames >= 60, "at least the fragments finished before the kill must decode"
    assert sound_s >= 1.5
    assert _audio_packets(partial) == _audio_packets(driving_video)[: len(_audio_packets(partial))]

    (outcome,) = repair_abandoned()
    assert outcome.error is None
    assert outcome.repaired is not None
    assert_regular_mp4(outcome.repaired.path, fps=FPS)
