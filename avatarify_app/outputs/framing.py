"""Fit an image into a fixed frame size: scaled to fit, centred, with black bars (letterbox)."""

from __future__ import annotations

import cv2
import numpy as np


def letterbox(image: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """``image`` (RGB uint8 (h, w, 3)) scaled to fit inside ``size`` = (width, height), centred.

    ``out``: an RGB uint8 (height, width, 3) buffer to draw into (reused across frames to avoid an
    allocation per frame); its bars must already be black, as they are after a previous call with the
    same image size. Returns the frame (``out`` when given).
    """
    width, height = size
    if out is None:
        out = np.zeros((height, width, 3), np.uint8)
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        out[:] = image
        return out
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    x0, y0 = (width - new_w) // 2, (height - new_h) // 2
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out[y0 : y0 + new_h, x0 : x0 + new_w] = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    return out


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` itself when it is already ``size`` = (width, height), else ``letterbox``-ed into it."""
    h, w = image.shape[:2]
    return image if (w, h) == tuple(size) else letterbox(image, size)
