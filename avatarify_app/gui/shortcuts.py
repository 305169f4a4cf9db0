"""The keyboard shortcuts (Avatarify's, where it had one), as data: the window binds them and Help lists
them from the same table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shortcut:
    """``key``: a Qt key sequence; ``action``: the ``MainWindow`` method it calls, with ``args``;
    ``description``: what it does, for Help ("" for keys Help lists as a group)."""

    key: str
    action: str
    description: str
    args: tuple[int | str, ...] = ()


SHORTCUTS: tuple[Shortcut, ...] = (
    *(Shortcut(str(n), "choose_avatar", "", args=(n - 1,)) for n in range(1, 10)),
    Shortcut("A", "step_avatar", "Previous avatar", args=(-1,)),
    Shortcut("D", "step_avatar", "Next avatar", args=(1,)),
    Shortcut("X", "calibrate", "Calibrate: your face now is the neutral pose"),
    Shortcut("W", "zoom_preview", "Zoom the camera preview in", args=(1,)),
    Shortcut("S", "zoom_preview", "Zoom the camera preview out", args=(-1,)),
    Shortcut("Z", "step_overlay", "Less avatar over the camera", args=(-1,)),
    Shortcut("C", "step_overlay", "More avatar over the camera", args=(1,)),
    Shortcut("R", "toggle_mirror_preview", "Mirror the preview on / off"),
    Shortcut("T", "toggle_mirror_output", "Mirror the output on / off"),
    Shortcut("I", "toggle_stats", "Show / hide the FPS and latency figures"),
    Shortcut("0", "toggle_passthrough", "Show the camera itself instead of the avatar"),
    Shortcut("E", "toggle_region", "Eyes off / on: the avatar's eyes stay as they are", args=("eyes",)),
    Shortcut("M", "toggle_region", "Mouth off / on: the avatar's mouth stays as it is", args=("mouth",)),
    Shortcut("P", "toggle_region", "Head (pose) off / on: the avatar's head keeps its place", args=("head",)),
)

# How Help lists them: the nine avatar keys as one line.
HELP_ROWS: tuple[tuple[str, str], ...] = (
    ("1 – 9", "Use avatar 1 to 9 of the gallery"),
    *((s.key, s.description) for s in SHORTCUTS if s.description),
)
