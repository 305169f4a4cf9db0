"""Cameras, the virtual camera and microphones: found by opening them briefly."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from avatarify_app.capture.webcam import CameraInfo, camera_name, open_camera
from avatarify_app.diagnostics.check import Check, Status
from avatarify_app.outputs.virtual_camera import virtual_camera_fix

logger = logging.getLogger(__name__)

CAMERA_INDICES = range(5)


def probe_cameras(
    indices: Iterable[int] = CAMERA_INDICES, open_capture: Callable[[int], Any] | None = None
) -> list[CameraInfo]:
    """Open each camera index briefly with OpenCV and read one frame.

    ``open_capture(index)`` returns a ``cv2.VideoCapture``-like object, or None for an index with no
    device (default: ``capture.webcam.open_camera``, the backend the app opens cameras with; on Linux an
    index without ``/dev/videoN`` is skipped without opening anything).
    """
    import cv2

    if open_capture is None:
        open_capture = _default_opener
    found = []
    previous_level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # silent: OpenCV prints a warning for every index that does not open
    try:
        for index in indices:
            capture = open_capture(index)
            if capture is None:
                continue
            try:
                if not capture.isOpened():
                    continue
                ok, frame = capture.read()
                size = (int(frame.shape[1]), int(frame.shape[0])) if ok and frame is not None else None
                found.append(CameraInfo(index, camera_name(index), delivers=bool(ok), size=size))
            finally:
                capture.release()
    finally:
        cv2.setLogLevel(previous_level)
    return found


def _default_opener(index: int) -> Any:
    # On Linux an index without /dev/videoN is skipped without opening anything.
    if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
        return None
    return open_camera(index)


def check_cameras(cameras: list[CameraInfo] | None = None) -> Check:
    """``cameras``: what ``probe_cameras()`` found (it is asked when None)."""
    cameras = probe_cameras() if cameras is None else cameras
    working = [c for c in cameras if c.delivers]
    if not working:
        silent = f" ({', '.join(f'{c.index}: {c.name}' for c in cameras)} opened but gave no picture)"
        return Check(
            "cameras",
            Status.WARN,
            "no working camera found"
            + (silent if cameras else "")
            + ": the demo motion will drive the avatar",
            "plug in a webcam and close other apps that use it"
            + (
                "; on Linux your user must be in the 'video' group"
                if sys.platform.startswith("linux")
                else ""
            ),
        )
    listed = ", ".join(
        f"{c.index}: {c.name}" + (f" {c.size[0]}x{c.size[1]}" if c.size else "") for c in working
    )
    return Check("cameras", Status.OK, listed)


def check_virtual_camera() -> Check:
    """Open a 64x64 virtual camera for a moment with pyvirtualcam's default backend."""
    # The same words the app uses when the virtual camera cannot open.
    system = {"linux": "Linux", "darwin": "Darwin"}.get(sys.platform.rstrip("0123456789"), "Windows")
    fix = virtual_camera_fix(system)
    try:
        import pyvirtualcam
    except ImportError as exc:
        return Check(
            "virtual camera",
            Status.WARN,
            f"pyvirtualcam cannot be imported ({exc}): video calls cannot see the avatar",
            "pip install pyvirtualcam==0.15.0",
        )
    try:
        with pyvirtualcam.Camera(width=64, height=64, fps=30) as camera:
            backend, device = camera.backend, camera.device
    except RuntimeError as exc:
        return Check(
            "virtual camera",
            Status.WARN,
            f"no virtual camera: {str(exc).rstrip('. ')}; the app runs, but video calls cannot see the "
            "avatar",
            fix,
        )
    return Check("virtual camera", Status.OK, f"{device} (pyvirtualcam backend {backend})")


def check_microphones() -> Check:
    """Microphones through PortAudio (sounddevice); recordings take their sound from the default one."""
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio shared library is missing
        fix = (
            "sudo apt install libportaudio2"
            if sys.platform.startswith("linux")
            else "pip install --force-reinstall sounddevice==0.5.6"
        )
        return Check(
            "microphones", Status.WARN, f"PortAudio is missing ({exc}): recordings have no sound", fix
        )
    except ImportError as exc:
        return Check(
            "microphones",
            Status.WARN,
            f"sounddevice cannot be imported ({exc}): recordings have no sound",
            "pip install sounddevice==0.5.6",
        )
    try:
        devices = list(sounddevice.query_devices())
    except sounddevice.PortAudioError as exc:
        return Check(
            "microphones",
            Status.WARN,
            f"PortAudio cannot list devices: {exc}",
            "check that the sound system runs (PulseAudio or PipeWire on Linux)",
        )
    inputs = [d["name"] for d in devices if d.get("max_input_channels", 0) > 0]
    if not inputs:
        return Check(
            "microphones",
            Status.WARN,
            "no microphone found: recordings will have no sound",
            "plug in a microphone"
            + ("; check `pactl list sources short`" if sys.platform.startswith("linux") else ""),
        )
    try:
        default = sounddevice.query_devices(kind="input")["name"]
    except sounddevice.PortAudioError:
        default = None
    more = f" (default: {default})" if default else ""
    return Check("microphones", Status.OK, f"{len(inputs)} input(s): {', '.join(inputs[:4])}{more}")
