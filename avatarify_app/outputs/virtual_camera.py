"""Virtual camera sink through pyvirtualcam: video apps see the avatar as a webcam."""

from __future__ import annotations

import logging
import platform
from typing import TYPE_CHECKING

import numpy as np

from avatarify_app.config import VirtualCameraSettings
from avatarify_app.errors import DeviceError
from avatarify_app.outputs.framing import letterbox

if TYPE_CHECKING:
    import pyvirtualcam

logger = logging.getLogger(__name__)

LINUX_FIX = (
    "install v4l2loopback (Debian/Ubuntu: sudo apt install v4l2loopback-dkms), then run: "
    'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="Avatarify"'
)
OBS_FIX = 'install OBS Studio (obsproject.com), open it, click "Start Virtual Camera" once, then close OBS'


def virtual_camera_fix(system: str | None = None) -> str:
    """What the user can do to get a virtual camera on ``system`` (``platform.system()`` by default)."""
    system = system or platform.system()
    if system == "Linux":
        return LINUX_FIX
    if system in ("Windows", "Darwin"):
        return OBS_FIX
    return "this system has no virtual camera that avatarify supports"


class VirtualCameraError(DeviceError):
    """No virtual camera could be opened. ``fix`` tells the user what to do on this OS."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class VirtualCameraSink:
    """Sends frames to a virtual camera of ``settings.width`` x ``settings.height`` at
    ``settings.fps``, each frame scaled to fit and centred on black (letterbox).

    ``backend`` overrides ``settings.backend`` (tests register an in-memory backend). Mirroring is
    done upstream (``LiveSettings.mirror_output``): this sink shows frames as they come.
    """

    name = "virtual camera"

    def __init__(self, settings: VirtualCameraSettings, backend: str | None = None) -> None:
        self.settings = settings
        self.backend = backend or settings.backend
        self._camera: pyvirtualcam.Camera | None = None
        self._buffer: np.ndarray | None = None
        self._last_size: tuple[int, int] | None = None

    @property
    def device(self) -> str | None:
        """The device name the video apps show (``/dev/video2``, ``OBS Virtual Camera``), once open."""
        return self._camera.device if self._camera is not None else None

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Open the virtual camera. Raises ``VirtualCameraError`` listing what each backend said."""
        import pyvirtualcam

        width, height = self.settings.width, self.settings.height
        if self.backend is not None and self.backend not in pyvirtualcam.camera.BACKENDS:
            # Checked here: pyvirtualcam's Camera raises KeyError half-built, and its __del__ then fails.
            raise VirtualCameraError(
                f"virtual camera backend {self.backend!r} is not available on this system",
                virtual_camera_fix(),
            )
        try:
            self._camera = pyvirtualcam.Camera(
                width, height, self.settings.fps, fmt=pyvirtualcam.PixelFormat.RGB, backend=self.backend
            )
        except KeyError:
            raise VirtualCameraError(
                f"virtual camera backend {self.backend!r} is not available on this system",
                virtual_camera_fix(),
            ) from None
        except RuntimeError as exc:
            # pyvirtualcam lists one line per backend tried: keep each, as one clause.
            reasons = "; ".join(line.strip().rstrip(".") for line in str(exc).splitlines() if line.strip())
            raise VirtualCameraError(
                f"no virtual camera found ({reasons or 'no backend for this OS'})", virtual_camera_fix()
            ) from exc
        self._buffer = np.zeros((height, width, 3), np.uint8)
        logger.info(
            "virtual camera %s open (%s backend) at %dx%d, %.3g fps",
            self._camera.device,
            self._camera.backend,
            width,
            height,
            self.settings.fps,
        )

    def write(self, image: np.ndarray, t: float) -> None:
        if self._camera is None or self._buffer is None:
            raise DeviceError("the virtual camera is not open")
        size = (image.shape[1], image.shape[0])
        if size != self._last_size:
            self._buffer[:] = 0  # the bars of a differently sized image would show otherwise
            self._last_size = size
        frame = letterbox(image, (self.settings.width, self.settings.height), out=self._buffer)
        try:
            self._camera.send(frame)
        except (RuntimeError, OSError) as exc:  # what the native backends raise when the device goes away
            raise DeviceError(f"the virtual camera stopped taking frames ({exc})") from exc

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
            logger.info("virtual camera closed")
