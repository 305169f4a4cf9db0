"""Microphone input through sounddevice (PortAudio), stamped on the ``time.monotonic()`` clock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from avatarify_app.errors import DeviceError

logger = logging.getLogger(__name__)

# Called with (samples float32 (n, channels), t of the first sample on the time.monotonic() clock).
AudioCallback = Callable[[np.ndarray, float], None]


class AudioInput(Protocol):
    """A running audio input. ``rate`` (Hz), ``channels`` and ``name`` are known once it is built.

    Contract: the callback given at construction is called on the audio driver's thread with blocks
    in order and never blocks; it must not log or take locks held for long. ``close()`` stops the
    stream; no callback runs after it returns; calling it twice is fine.
    """

    rate: int
    channels: int
    name: str

    def close(self) -> None: ...


# Builds and starts an input: (device name or number or None for the default, callback) -> AudioInput.
# Raises ``DeviceError`` when there is no such device, no audio library, or the device is busy.
AudioInputFactory = Callable[[str | int | None, AudioCallback], AudioInput]


class SoundDeviceInput:
    """A sounddevice ``InputStream`` (float32, mono) whose blocks are stamped with the monotonic
    time their first sample hit the ADC (``inputBufferAdcTime`` moved onto ``time.monotonic()``)."""

    def __init__(self, device: str | int | None, callback: AudioCallback, channels: int = 1) -> None:
        try:
            import sounddevice
        except (OSError, ImportError) as exc:  # OSError: the PortAudio library itself is missing
            raise DeviceError(
                "no audio library found, so no microphone can be recorded "
                "(on Debian/Ubuntu: sudo apt install libportaudio2)"
            ) from exc
        self._callback = callback
        which = "the default microphone" if device is None else f"microphone {device!r}"
        try:
            info = sounddevice.query_devices(device, "input")
        except (sounddevice.PortAudioError, ValueError) as exc:
            # PortAudio's words ("Error querying device -1") mean nothing to a user: they go to the log.
            logger.info("no input device %r: %s", device, exc)
            raise DeviceError(f"{which} was not found (connect one, or choose another microphone)") from exc
        try:
            self.rate = int(info["default_samplerate"])
            self.channels = max(1, min(channels, int(info["max_input_channels"])))
            self.name = str(info["name"])
            self._stream = sounddevice.InputStream(
                device=device,
                channels=self.channels,
                samplerate=self.rate,
                dtype="float32",
                callback=self._on_block,
            )
            self._stream.start()
        except (sounddevice.PortAudioError, ValueError) as exc:
            raise DeviceError(f"{which} could not be opened ({exc})") from exc
        logger.info("microphone %s open at %d Hz x%d", self.name, self.rate, self.channels)

    def _on_block(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        # PortAudio's thread: no logging here (logging would register a dummy Python thread).
        now = time.monotonic()
        adc, current = time_info.inputBufferAdcTime, time_info.currentTime
        if adc > 0 and current > 0 and 0 <= current - adc < 1.0:
            t_first = now - (current - adc)
        else:  # some host APIs give no stream times: the block ended about now
            t_first = now - frames / self.rate
        self._callback(indata.copy(), t_first)

    def close(self) -> None:
        stream, self._stream = getattr(self, "_stream", None), None
        if stream is not None:
            stream.stop()
            stream.close()
            logger.info("microphone %s closed", self.name)


def open_microphone(device: str | int | None, callback: AudioCallback) -> AudioInput:
    """The default ``AudioInputFactory``: a started sounddevice input. Raises ``DeviceError``."""
    return SoundDeviceInput(device, callback)


def list_microphones() -> list[tuple[int, str]]:
    """Input devices as (number, name), best effort: empty when PortAudio is missing or fails."""
    try:
        import sounddevice

        devices = sounddevice.query_devices()
    except Exception:  # best effort: PortAudio raises OSError or its own error types
        logger.info("could not list microphones", exc_info=True)
        return []
    return [(i, str(d["name"])) for i, d in enumerate(devices) if d["max_input_channels"] > 0]
