"""Webcam source through OpenCV, and the cameras Linux lists without opening them."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.capture.base import Source
from avatarify_app.errors import DeviceError

logger = logging.getLogger(__name__)

# A camera that fails this many reads in a row is taken as gone (unplugged or taken by another app).
MAX_FAILED_READS = 10


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A camera: ``index`` for ``cv2.VideoCapture``, ``name`` as the OS calls it.

    ``delivers`` and ``size`` (width, height of the first frame) are known only for a camera that was
    opened and read (``diagnostics.devices.probe_cameras``); a camera merely listed leaves them None.
    """

    index: int
    name: str
    delivers: bool | None = None
    size: tuple[int, int] | None = None


def capture_api() -> int:
    """The OpenCV capture backend that opens cameras fastest on this OS."""
    system = platform.system()
    if system == "Windows":
        return cv2.CAP_DSHOW  # MSMF takes seconds to open some webcams
    if system == "Darwin":
        return cv2.CAP_AVFOUNDATION
    if system == "Linux":
        return cv2.CAP_V4L2
    return cv2.CAP_ANY


def open_camera(index: int) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` for camera ``index`` with the backend of ``capture_api()``."""
    return cv2.VideoCapture(index, capture_api())


def camera_name(index: int, sysfs: Path = Path("/sys/class/video4linux")) -> str:
    """The OS's name of camera ``index`` (Linux sysfs), else "Camera N"."""
    try:
        name = (sysfs / f"video{index}" / "name").read_text(encoding="utf-8").strip()
    except OSError:
        name = ""
    return name or f"Camera {index}"


def list_cameras(sysfs: Path = Path("/sys/class/video4linux")) -> list[CameraInfo]:
    """The cameras Linux lists in sysfs, with their names; no device is opened.

    Empty elsewhere: OpenCV can neither list nor name cameras without opening each one. The window
    lists cameras with Qt Multimedia (``gui.devices``) and uses this only without it; ``avatarify
    doctor`` opens each camera on purpose (``diagnostics.devices.probe_cameras``).
    """
    if platform.system() != "Linux":
        return []
    cameras = []
    for node in sorted(sysfs.glob("video*")):
        try:
            index = int(node.name.removeprefix("video"))
            name = (node / "name").read_text(encoding="utf-8").strip()
        except (ValueError, OSError):
            continue
        # v4l2 exposes a metadata node per camera too; index 0 of each device is the picture.
        if (node / "index").is_file() and (node / "index").read_text().strip() not in ("", "0"):
            continue
        cameras.append(CameraInfo(index, name or f"Camera {index}"))
    return cameras


class WebcamSource(Source):
    """A webcam through ``cv2.VideoCapture``. Asks for ``width`` x ``height`` at ``fps``; the camera
    may give something else, which is logged and used as is.

    Convention: frames are converted once from the camera's BGR to RGB uint8 (H, W, 3).
    """

    paced = True

    def __init__(self, index: int = 0, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        self.index = index
        self.requested = (width, height, fps)
        self._capture: cv2.VideoCapture | None = None
        self._fps = fps
        self._failed_reads = 0
        self._label = f"camera {index}"

    @property
    def name(self) -> str:
        return self._label

    @property
    def fps(self) -> float:
        return self._fps

    def _open_capture(self) -> cv2.VideoCapture:
        """The OpenCV capture for this camera (the seam a fake webcam overrides)."""
        return open_camera(self.index)

    def open(self) -> None:
        self.close()
        capture = self._open_capture()
        if not capture.isOpened():
            capture.release()
            raise DeviceError(
                f"{self._label} could not be opened: it is missing, unplugged or used by another app"
            )
        width, height, fps = self.requested
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency low where the backend allows it
        got_fps = capture.get(cv2.CAP_PROP_FPS)
        self._fps = got_fps if 1.0 <= got_fps <= 240.0 else fps
        self._capture = capture
        self._failed_reads = 0
        logger.info(
            "opened %s at %dx%d, %.3g fps (asked %dx%d, %.3g fps)",
            self._label,
            capture.get(cv2.CAP_PROP_FRAME_WIDTH),
            capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
            self._fps,
            width,
            height,
            fps,
        )

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            raise DeviceError(f"{self._label} is not open")
        while True:
            ok, image_bgr = self._capture.read()
            if ok and image_bgr is not None and image_bgr.size:
                self._failed_reads = 0
                return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
            self._failed_reads += 1
            if self._failed_reads >= MAX_FAILED_READS:
                raise DeviceError(f"{self._label} stopped sending pictures: was it unplugged?")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
