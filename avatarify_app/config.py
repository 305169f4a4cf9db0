"""Settings every layer shares (engine options, sources, the virtual camera, user folders). Defaults
live here and nowhere else; live mode's whole set is ``pipeline.settings.LiveSettings``.

All settings are frozen dataclasses: change one with ``dataclasses.replace`` and hand the new value to
the controller, which applies it between frames.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import platformdirs

SourceKind = Literal["camera", "video", "demo"]

APP_NAME = "avatarify"
# The fomm engine's runtimes and precisions (``engines.fomm.runtime.choose_runtime``), here so that its
# catalog entry (command lines, settings) can name them without importing torch, and the engine itself
# without importing the catalog (engines never import a module that names every engine).
FOMM_BACKENDS = ("auto", "torch", "openvino")
FOMM_PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
# One range for expression and region strengths, everywhere (sliders, controller, CLI):
# 0 = the avatar's neutral state, 1 = as the driver, 2 = double.
STRENGTH_RANGE = (0.0, 2.0)


@dataclass(frozen=True, slots=True)
class Region:
    """A part of the face whose motion has its own strength: ``name`` is its ``EngineOptions`` field,
    ``parts`` what it covers, ``key`` the window's shortcut that turns it off and on again."""

    name: str
    parts: str
    key: str


# The region strengths, in the order the window and the command line show them (engines/regions.py).
REGIONS = (
    Region("eyes", "lids, brows, gaze", "E"),
    Region("mouth", "lips, jaw, cheeks", "M"),
    Region("head", "position, size, roll", "P"),
)
# Every strength an engine has: the expression's, then the regions'.
STRENGTHS = ("strength", *(region.name for region in REGIONS))


def app_root() -> Path:
    """The folder holding the ``avatarify_app`` package and ``models``: a source checkout, or a
    PyInstaller bundle's data folder (``sys._MEIPASS``, where frozen modules' ``__file__`` points)."""
    return Path(__file__).resolve().parents[1]


def _package_folder(name: str) -> Path:
    """A folder of data shipped inside the ``avatarify_app`` package (``importlib.resources``): the
    package's folder in a checkout, a wheel install or a PyInstaller bundle. The app hands these paths
    to OpenCV, PyAV and Qt, so the package must be on a file system, not in a zip file."""
    folder = resources.files("avatarify_app") / name
    if not isinstance(folder, Path):
        raise RuntimeError(f"avatarify_app must be installed as files, not a zip archive ({folder})")
    return folder


RESOURCES_DIR = _package_folder("resources")  # icons, bundled avatars, the demo motion clip
# The image files taken as avatars (file dialogs, drops, the gallery's folder).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEMO_CLIP = RESOURCES_DIR / "demo" / "demo_motion.mp4"

# The per-user folders (``platformdirs``; on Linux they follow $XDG_DATA_HOME, $XDG_CACHE_HOME and
# $XDG_STATE_HOME). Functions, not constants: they read the environment when called.
CACHE_DIR_ENV = "AVATARIFY_CACHE_DIR"


def user_data_dir() -> Path:
    """Models and the recordings journal: ~/.local/share/avatarify on Linux, %LOCALAPPDATA%\\avatarify
    on Windows, ~/Library/Application Support/avatarify on macOS."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def user_cache_dir() -> Path:
    """Files the app can make again (models converted for this computer): $AVATARIFY_CACHE_DIR, else
    ~/.cache/avatarify on Linux, %LOCALAPPDATA%\\avatarify\\Cache on Windows, ~/Library/Caches/avatarify
    on macOS."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def user_log_dir() -> Path:
    """One log file per run: ~/.local/state/avatarify/log on Linux, %LOCALAPPDATA%\\avatarify\\Logs on
    Windows, ~/Library/Logs/avatarify on macOS."""
    return platformdirs.user_log_path(APP_NAME, appauthor=False)


class OutputFraming(enum.Enum):
    """How the animated avatar is framed in the engine's output image."""

    SQUARE = "square"  # a square crop around the avatar's face; files get ``size`` x ``size`` pixels
    FULL = "full"  # the avatar's whole image, face animated in place, background untouched


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Settings every engine understands. Engine-specific settings go to the engine's constructor.

    Strengths are within ``STRENGTH_RANGE``.

    ``size``: the side of square output files (renders, recordings). An engine returns images at its
    native size (fomm: its model's frame size; mesh: it warps at ``size`` itself) and each sink
    scales them once to what it needs (``frame_size``, the virtual camera's size, the preview pane).
    """

    size: int = 512
    framing: OutputFraming = OutputFraming.SQUARE
    strength: float = 1.0  # expression strength: scales the non-rigid motion, 1.0 = as the driver
    # Region strengths (engines/regions.py), 0 = the avatar's neutral state, 1 = as the driver, 2 = double.
    eyes: float = 1.0  # lids, brows, gaze
    mouth: float = 1.0  # lips, jaw, cheeks
    head: float = 1.0  # position, size and roll relative to the neutral pose

    def frame_size(self, image_shape: tuple[int, ...]) -> tuple[int, int]:
        """(width, height) of the files written from engine images of ``image_shape`` (h, w, ...):
        ``size`` x ``size`` in square framing, the image's own size in full framing."""
        if self.framing is OutputFraming.SQUARE:
            return self.size, self.size
        return image_shape[1], image_shape[0]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where driving frames come from.

    ``kind``: ``"camera"`` (webcam number ``camera``), ``"video"`` (the file ``path``, paced at its own
    fps, looping when ``loop``) or ``"demo"`` (scripted motion, no camera needed). ``width``, ``height``
    and ``fps`` are what is asked of a camera; a camera may give something else, and files and the
    demo ignore them.
    """

    kind: SourceKind = "camera"
    camera: int = 0
    path: Path | None = None
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    loop: bool = True


@dataclass(frozen=True, slots=True)
class VirtualCameraSettings:
    """The virtual camera the output goes to: the avatar is centred (letterboxed) in width x height.

    ``backend``: a pyvirtualcam backend name (``"v4l2loopback"``, ``"obs"``, ``"unitycapture"``), or
    None to try those of the OS in turn.
    """

    enabled: bool = True
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    backend: str | None = None
