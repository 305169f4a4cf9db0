"""Fixtures for the live pipeline: an in-memory virtual camera and a fast test engine."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam import camera as pyvirtualcam_camera

from avatarify_app.config import SourceSpec, VirtualCameraSettings
from avatarify_app.engines.base import EngineOptions
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.settings import LiveSettings
from tests.fakes import EventLog, StillEngine, VirtualCameraLog, memory_backend

MEMORY_BACKEND = "avatarify-test-memory"
VCAM_SIZE = 128  # the StillEngine's output size too, so frames reach the camera pixel for pixel


def live_settings(driving_video: Path, media_dir: Path, **changes) -> LiveSettings:
    """Settings for tests: the shared clip as the camera, Mona Lisa, a small in-memory virtual camera."""
    base = LiveSettings(
        source=SourceSpec(kind="video", path=driving_video),
        avatar=media_dir / "avatar_mona_lisa.jpg",
        engine_options=EngineOptions(size=VCAM_SIZE),
        virtual_camera=VirtualCameraSettings(
            width=VCAM_SIZE, height=VCAM_SIZE, fps=30.0, backend=MEMORY_BACKEND
        ),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def controller_factory(events: EventLog, still_engine_factory) -> Iterator[Callable[..., Controller]]:
    """Builds controllers that report to ``events`` (StillEngine unless told) and stops them after."""
    built: list[Controller] = []

    def build(settings: LiveSettings, **seams) -> Controller:
        seams.setdefault("engine_factory", still_engine_factory)
        controller = Controller(settings, **seams)
        controller.subscribe(events.append)
        built.append(controller)
        return controller

    yield build
    for controller in built:
        controller.stop()


@pytest.fixture
def vcam_log() -> Iterator[VirtualCameraLog]:
    """What the in-memory virtual camera (pyvirtualcam backend ``MEMORY_BACKEND``) receives."""
    log = VirtualCameraLog()
    pyvirtualcam.register_backend(MEMORY_BACKEND, memory_backend(log))
    yield log
    pyvirtualcam_camera.BACKENDS.pop(MEMORY_BACKEND, None)


@pytest.fixture
def still_engines() -> list[StillEngine]:
    """Engines the ``still_engine_factory`` built, newest last."""
    return []


@pytest.fixture
def still_engine_factory(still_engines: list[StillEngine]):
    """An ``engine_factory`` seam that builds a ``StillEngine`` whatever the engine choice."""

    def build(choice, options):
        engine = StillEngine(options)
        still_engines.append(engine)
        return engine

    return build


@dataclass(frozen=True)
class PulseMicrophone:
    """A PulseAudio server with a null sink and a virtual microphone fed by that sink's monitor.

    ``play(wav)`` starts playing a WAV into the sink (so the microphone hears it) and returns the
    player process; ``device`` is the sounddevice name that records through PulseAudio.
    """

    runtime_dir: Path
    device: str = "pulse"

    def play(self, wav: Path) -> subprocess.Popen:
        return subprocess.Popen(
            ["paplay", "--device=avatarify_sink", str(wav)],
            env=_pulse_env(self.runtime_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def _pulse_env(runtime_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime_dir),
        "PULSE_SERVER": f"unix:{runtime_dir}/pulse/native",
    }


@pytest.fixture(scope="session")
def pulse_microphone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseMicrophone]:
    """A real PortAudio input device backed by PulseAudio (skips when PulseAudio cannot start)."""
    missing = [tool for tool in ("pulseaudio", "pactl", "paplay") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"PulseAudio is not installed ({', '.join(missing)} missing): "
            "apt install pulseaudio pulseaudio-utils"
        )
    try:
        import sounddevice
    except OSError as exc:
        pytest.skip(f"PortAudio is missing ({exc}): apt install libportaudio2")
    runtime_dir = tmp_path_factory.mktemp("pulse")
    runtime_dir.chmod(0o700)
    env = _pulse_env(runtime_dir)
    server = subprocess.Popen(
        [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
            "--use-pid-file=no", "--log-target=stderr",
            "-L", "module-native-protocol-unix",
            "-L", "module-null-sink sink_name=avatarify_sink",
            "-L", "module-virtual-source source_name=avatarify_mic master=avatarify_sink.monitor",
            "-L", "module-always-sink",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        ready = False
        for _ in range(50):  # up to 5 s for the server socket (pactl answers once it is up)
            if server.poll() is not None:
                break
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                ready = True
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=0.1)  # also notices a server that exits at once
        if not ready:
            server.kill()
            _, err = server.communicate(timeout=5)
            pytest.skip(f"PulseAudio could not start here: {err.decode(errors='replace').strip()[-300:]}")
        subprocess.run(["pactl", "set-default-source", "avatarify_mic"], env=env, check=True)
        saved = {key: os.environ.get(key) for key in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
        os.environ.update({key: env[key] for key in saved})
        # PortAudio lists devices when it starts: restart it so it sees this server.
        sounddevice._terminate()
        sounddevice._initialize()
        yield PulseMicrophone(runtime_dir)
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    sounddevice._terminate()
    sounddevice._initialize()


def write_tone_wav(path: Path, seconds: float, rate: int = 44100, hz: float = 440.0) -> Path:
    """A mono 16-bit WAV of a sine tone at half scale."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path
