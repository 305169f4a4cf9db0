"""Avatar images: reading them with clear errors, and the bundled defaults."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from avatarify_app.config import IMAGE_SUFFIXES, RESOURCES_DIR
from avatarify_app.errors import InputError

logger = logging.getLogger(__name__)

BUNDLED_AVATARS_DIR = RESOURCES_DIR / "avatars"
# Images bigger than this are shrunk on load: a face needs no more, and the engines stay fast.
MAX_SIDE = 2048


def bundled_avatars() -> list[Path]:
    """The default avatars shipped with the app, the default one first."""
    found = sorted(p for p in BUNDLED_AVATARS_DIR.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    found.sort(key=lambda p: p.stem != "grace_hopper")
    return found


def avatar_files(folder: Path | None = None) -> list[Path]:
    """The bundled avatars (the default first), then the image files in ``folder`` by name."""
    found = bundled_avatars()
    if folder is not None and folder.is_dir():
        found += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return found


def default_avatar() -> Path:
    avatars = bundled_avatars()
    if not avatars:
        raise InputError(f"no bundled avatar found in {BUNDLED_AVATARS_DIR}: is the installation complete?")
    return avatars[0]


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); grey and RGBA images are converted.

    Raises ``InputError`` naming the file when it is missing, not a file or not a readable image.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    data = np.fromfile(str(path), dtype=np.uint8)  # cv2.imread cannot open non-ASCII paths on Windows
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image (expected JPEG, PNG, BMP, WebP or TIFF)")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    longest = max(image.shape[:2])
    if longest > MAX_SIDE:
        k = MAX_SIDE / longest
        image = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        logger.info("shrank %s to %dx%d", path, image.shape[1], image.shape[0])
    return image
