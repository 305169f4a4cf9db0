"""The cameras and microphones the pickers offer (the device seam of the window).

Everything here is best effort: a missing library or driver gives a shorter list, never an error.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from PySide6 import QtCore

from avatarify_app.pipeline import devices
from avatarify_app.pipeline.devices import sounddevice_name_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Choice:
    """One entry of a picker: ``label`` for people, ``value`` for the controller (None = the default)."""

    label: str
    value: int | str | None


class DeviceCatalog:
    """Lists cameras and microphones (the pipeline's lists, with Qt's names for microphones).

    Tests may subclass it to stand in for devices that do not exist on the test machine.
    """

    def cameras(self) -> list[Choice]:
        """Cameras as ``Choice(name, index)``, named as the OS names them; empty when there is none."""
        return [Choice(c.name, c.index) for c in devices.cameras()]

    def microphones(self) -> list[Choice]:
        """Microphones, the default first (``value`` None): Qt Multimedia's names, else sounddevice's.

        Recordings open the microphone with sounddevice, so each Qt entry carries the sounddevice
        name it matches (``sounddevice_name_for``); one without a match keeps its Qt name, which
        sounddevice may not know (the recording then warns and goes without sound).
        """
        default = Choice("Default microphone", None)
        portaudio_names = devices.microphones()
        qt_names = _qt_audio_inputs()
        if qt_names is None:
            return [default, *(Choice(name, name) for name in portaudio_names)]
        return [
            default,
            *(Choice(name, sounddevice_name_for(name, portaudio_names) or name) for name in qt_names),
        ]


def _qt_audio_inputs() -> list[str] | None:
    """Input device names from ``QMediaDevices``, or None when PySide6-Addons is not installed."""
    with _qt_messages_to_log():
        try:
            multimedia = importlib.import_module("PySide6.QtMultimedia")
        except ImportError:
            logger.info("PySide6.QtMultimedia is not available; listing microphones with sounddevice")
            return None
        return [device.description() for device in multimedia.QMediaDevices.audioInputs()]


@contextlib.contextmanager
def _qt_messages_to_log() -> Iterator[None]:
    """Send Qt's messages to our log for a moment: QtMultimedia reports every optional audio backend it
    cannot load (PipeWire, a PulseAudio server), which is no concern of the user's."""

    def to_log(mode: QtCore.QtMsgType, context: QtCore.QMessageLogContext, message: str) -> None:
        logger.info("Qt (%s): %s", context.category, message)

    previous = QtCore.qInstallMessageHandler(to_log)
    try:
        yield
    finally:
        QtCore.qInstallMessageHandler(previous)
