"""Numpy images to Qt images, and the small image operations the preview needs.

Convention: arrays are RGB uint8 (H, W, 3), as everywhere in the app.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from avatarify_app.frames import FaceTrack, check_rgb
from avatarify_app.pipeline.faces import FACE_CONTOURS


def qimage_from_rgb(image: np.ndarray) -> QImage:
    """A QImage that owns a copy of ``image`` (RGB uint8, (H, W, 3) or (H, W) grey).

    Raises ``InputError`` for any other dtype or shape.
    """
    check_rgb(image, "picture", grey=True)
    data = np.ascontiguousarray(image)
    h, w = data.shape[:2]
    fmt = QImage.Format.Format_RGB888 if data.ndim == 3 else QImage.Format.Format_Grayscale8
    # QImage wraps the buffer without copying; .copy() detaches it before ``data`` goes away.
    return QImage(data.data, w, h, data.strides[0], fmt).copy()


def blend_over(base: np.ndarray, top: np.ndarray, alpha: float) -> np.ndarray:
    """``top`` resized to ``base``'s size and blended over it with weight ``alpha`` in [0, 1].

    Used to line the camera face up with the avatar: both RGB uint8, any sizes.
    """
    alpha = min(max(alpha, 0.0), 1.0)
    if alpha <= 0.0:
        return base
    h, w = base.shape[:2]
    if top.shape[:2] != (h, w):
        top = cv2.resize(top, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(top, alpha, base, 1.0 - alpha, 0.0)


def draw_face_overlay(image: QImage, track: FaceTrack) -> None:
    """Draw the face box and the landmark contours (eyes, lips, face oval) onto ``image`` in place.

    ``track`` is in the pixel coordinates of ``image`` (as captured; the preview mirrors the whole
    picture as it draws it).
    """
    if not track.found or track.landmarks is None or track.box is None:
        return
    points = track.landmarks[:, :2].astype(np.float64)
    x0, y0, x1, y1 = track.box
    thickness = max(image.width(), image.height()) / 400.0
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(80, 220, 120), 2 * thickness))
    painter.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
    painter.setPen(QPen(QColor(255, 255, 255, 200), thickness, Qt.PenStyle.SolidLine))
    for ring in FACE_CONTOURS:
        contour = [QPointF(*points[i]) for i in ring]
        painter.drawPolygon(contour)
    painter.end()


def rgb_from_qimage(image: QImage) -> np.ndarray:
    """A copy of ``image`` as an RGB uint8 (H, W, 3) array (any QImage format)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return rows[:, : w * 3].reshape(h, w, 3).copy()
