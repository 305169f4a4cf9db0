"""The devices live mode can use, listed for pickers: cameras (with the names the OS gives) and
microphones. Best effort: a missing library or driver gives a shorter list, never an error."""

from __future__ import annotations

import logging

from avatarify_app.capture import CameraInfo, list_cameras
from avatarify_app.outputs.microphone import list_microphones

logger = logging.getLogger(__name__)

__all__ = ["CameraInfo", "cameras", "microphones", "sounddevice_name_for"]


def cameras() -> list[CameraInfo]:
    """The cameras Linux lists in /sys/class/video4linux, with their names (nothing is opened); empty
    when there is none, and on other systems (the window lists cameras with Qt Multimedia)."""
    try:
        return list_cameras()
    except Exception:  # best effort: a broken listing must not keep the window from opening
        logger.info("could not list cameras", exc_info=True)
        return []


def microphones() -> list[str]:
    """The sounddevice (PortAudio) names of the microphones found."""
    try:
        return [name for _, name in list_microphones()]
    except Exception:
        logger.info("could not list microphones", exc_info=True)
        return []


def sounddevice_name_for(description: str, portaudio_names: list[str]) -> str | None:
    """The PortAudio device name that ``description`` (the OS's name for a microphone, e.g. Qt's)
    refers to, if any.

    Matches ignore case: the same name, or one a prefix of the other (Windows' MME API cuts names
    at 31 characters), or the PortAudio name containing the description (ALSA adds the card: "USB
    Mic: Audio (hw:2,0)").
    """
    wanted = description.strip().lower()
    if not wanted:
        return None
    lowered = [(name, name.strip().lower()) for name in portaudio_names]
    for checks in (
        lambda n: n == wanted,
        lambda n: wanted.startswith(n) or n.startswith(wanted),
        lambda n: wanted in n,
    ):
        for name, low in lowered:
            if low and checks(low):
                return name
    return None
