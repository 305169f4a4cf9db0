"""The cameras and microphones the pickers offer (the device seam of the window).

Everything here is best effort: a missing library or driver gives a shorter list, never an error.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

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
    """Lists cameras and microphones: Qt Multimedia's (the names the OS gives), else the pipeline's.

    Tests may subclass it to stand in for devices that do not exist on the test machine.
    """

    def cameras(self) -> list[Choice]:
        """Cameras as ``Choice(name, index)``: Qt Multimedia's names, each with the number the capture
        opens it by (``opencv_index``); else the pipeline's list. Empty when there is none."""
        qt_cameras = _qt_inputs("video")
        if qt_cameras is None:
            return [Choice(c.name, c.index) for c in devices.cameras()]
        choices = []
        for position, (device_id, name) in enumerate(qt_cameras):
            index = opencv_index(device_id, position)
            if index is None:
                logger.info("camera %r (%s) has no OpenCV number; not offered", name, device_id)
                continue
            choices.append(Choice(name or f"Camera {index}", index))
        return choices

    def microphones(self) -> list[Choice]:
        """Microphones, the default first (``value`` None): Qt Multimedia's names, else sounddevice's.

        Recordings open the microphone with sounddevice, so each Qt entry carries the sounddevice
        name it matches (``sounddevice_name_for``); one without a match keeps its Qt name, which
        sounddevice may not know (the recording then warns and goes without sound).
        """
        default = Choice("Default microphone", None)
        portaudio_names = devices.microphones()
        qt_inputs = _qt_inputs("audio")
        if qt_inputs is None:
            return [default, *(Choice(name, name) for name in portaudio_names)]
        return [
            default,
            *(Choice(name, sounddevice_name_for(name, portaudio_names) or name) for _, name in qt_inputs),
        ]


_V4L2_NODE = re.compile(r"/dev/video(\d+)$")


def opencv_index(device_id: str, position: int, system: str = sys.platform) -> int | None:
    """The number ``cv2.VideoCapture`` opens the camera by that Qt lists ``position``-th with ``device_id``
    (``QCameraDevice.id()``), or None when there is none.

    Linux: the N of ``/dev/videoN``, which Qt's V4L2 backends use as the id (a link such as
    ``/dev/v4l/by-id/...`` is followed). Windows and macOS: the position. Qt lists cameras in the order
    the OS enumerates them (Media Foundation, AVFoundation), and OpenCV's DirectShow and AVFoundation
    backends number them in that order too; with several cameras, check the picture if the order looks
    wrong (not verifiable on the machines the tests run on).
    """
    if not system.startswith("linux"):
        return position
    for candidate in (device_id, os.path.realpath(device_id) if device_id else ""):
        match = _V4L2_NODE.search(candidate)
        if match:
            return int(match.group(1))
    return None


def _qt_inputs(kind: Literal["audio", "video"]) -> list[tuple[str, str]] | None:
    """``(id, description)`` of each input ``QMediaDevices`` lists, or None when PySide6-Addons (Qt
    Multimedia) is not installed."""
    with _qt_messages_to_log():
        try:
            multimedia = importlib.import_module("PySide6.QtMultimedia")
        except ImportError:
            logger.info("PySide6.QtMultimedia is not available; listing %s inputs without Qt", kind)
            return None
        media = multimedia.QMediaDevices
        found = media.audioInputs() if kind == "audio" else media.videoInputs()
        return [
            (bytes(device.id().data()).decode("utf-8", "replace"), device.description()) for device in found
        ]


@contextlib.contextmanager
def _qt_messages_to_log() -> Iterator[None]:
    """Send Qt's messages to our log for a moment: QtMultimedia reports every optional backend it
    cannot load (PipeWire, a PulseAudio server) and the FFmpeg it uses, which is no concern of the
    user's."""

    def to_log(mode: QtCore.QtMsgType, context: QtCore.QMessageLogContext, message: str) -> None:
        logger.info("Qt (%s): %s", context.category, message)

    previous = QtCore.qInstallMessageHandler(to_log)
    try:
        yield
    finally:
        QtCore.qInstallMessageHandler(previous)
