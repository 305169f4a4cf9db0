"""The camera preview and the avatar output, side by side."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.images import blend_over, draw_face_overlay, qimage_from_rgb
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import AvatarChanged, CameraPreview, FramesReady, PipelineState

MIN_ZOOM, MAX_ZOOM, ZOOM_STEP = 1.0, 3.0, 0.25


class ImagePane(QLabel):
    """Shows one image scaled to fit (aspect kept, centred), a caption, and a hint while empty.

    The picture is composed into a pixmap when something changes (a new image, the hint, the zoom, the
    size) and the QLabel paints it in C++. No Python ``paintEvent``: an override that C++ calls 30
    times a second per pane is the path on which PySide6 6.12.0 leaked references to None/True/False
    until the interpreter aborted (docs/gui.md). Resizes still call ``resizeEvent``, rarely.
    """

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.placeholder = "Starting…"
        self._image: QImage | None = None
        self._zoom = 1.0
        self.mirrored = False  # drawn flipped left-right (the camera, as a mirror shows a face)
        self._canvas: QPixmap | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)  # not the pixmap's size: the window must be free to shrink

    @property
    def zoom(self) -> float:
        return self._zoom

    @zoom.setter
    def zoom(self, value: float) -> None:
        self._zoom = value
        self._compose()

    def image(self) -> QImage | None:
        """The image shown now (None before the first one)."""
        return self._image

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self._compose()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self._compose()

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt's name; asked by layouts, not per frame)
        return QSize(480, 480)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802  (Qt's name; not per frame)
        super().resizeEvent(event)
        self._compose()

    def source_rect(self) -> QRectF:
        """The part of the image shown: all of it, or its centre when ``zoom`` > 1."""
        if self._image is None or self._image.isNull():
            return QRectF()
        w, h = self._image.width(), self._image.height()
        sw, sh = w / self._zoom, h / self._zoom
        return QRectF((w - sw) / 2, (h - sh) / 2, sw, sh)

    def image_rect(self) -> QRectF:
        """Where the image is drawn, in widget pixels (empty when there is no image)."""
        source = self.source_rect()
        if source.isEmpty():
            return QRectF()
        k = min(self.width() / source.width(), self.height() / source.height())
        iw, ih = source.width() * k, source.height() * k
        return QRectF((self.width() - iw) / 2, (self.height() - ih) / 2, iw, ih)

    def _compose(self) -> None:
        """Draw the picture for the pane's current size into the label's pixmap.

        One pixmap is painted over again for every frame and made anew only when the size changes:
        PySide6 6.11.3 keeps a reference to None for every painter opened on a new paint device.
        """
        ratio = self.devicePixelRatioF()
        size = QSize(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
        if self._canvas is None or self._canvas.size() != size:
            self._canvas = QPixmap(size)
            self._canvas.setDevicePixelRatio(ratio)
        pixmap = self._canvas
        rect = QRectF(0, 0, self.width(), self.height()).toRect()
        painter = QPainter(pixmap)
        painter.fillRect(rect, QColor(24, 24, 28))
        if self._image is not None and not self._image.isNull():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            target = self.image_rect()
            if self.mirrored:  # mirrored by the painter: one flip, no copy of the frame
                painter.save()
                painter.translate(target.center().x() * 2, 0)
                painter.scale(-1, 1)
            painter.drawImage(target, self._image, self.source_rect())
            if self.mirrored:
                painter.restore()
        else:
            painter.setPen(QColor(170, 170, 180))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.placeholder)
        # The caption on a dark tag, readable over a light picture.
        metrics = painter.fontMetrics()
        tag = QRectF(8, 6, metrics.horizontalAdvance(self.caption) + 12, metrics.height() + 4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(tag, 4, 4)
        painter.setPen(QColor(240, 240, 244))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, self.caption)
        painter.end()
        self.setPixmap(pixmap)


class PreviewPanel(QWidget):
    """Camera (left) and avatar output (right), fed by ``frames_ready``.

    What it draws over the camera follows the controller's settings: ``show_landmarks`` (face box
    and landmark contours) and ``preview_overlay`` (0-1: the avatar's face, as the pipeline cut it
    out, blended over the camera to line the face up with it). ``zoom`` (1-3: the centre of the
    camera image, magnified) is this panel's own.
    """

    def __init__(
        self, controller: Controller, bridge: ControllerBridge, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self.camera_pane = ImagePane("Camera")
        self.output_pane = ImagePane("Avatar")
        self.frames_shown = 0
        self._avatar_face: np.ndarray | None = None  # the avatar at rest, square around its face
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.camera_pane)
        layout.addWidget(self.output_pane)
        bridge.frames_ready.connect(self._on_frames_ready)
        bridge.camera_preview.connect(self._on_camera_preview)
        bridge.avatar_changed.connect(self._on_avatar_changed)
        bridge.state_changed.connect(self._on_state_changed)
        bridge.settings_changed.connect(self._on_settings_changed)
        self._on_settings_changed()

    @property
    def zoom(self) -> float:
        return self.camera_pane.zoom

    def zoom_by(self, steps: int) -> None:
        """Magnify the camera preview by ``steps`` x 0.25 (negative: less), within 1-3."""
        self.camera_pane.zoom = min(max(self.zoom + steps * ZOOM_STEP, MIN_ZOOM), MAX_ZOOM)

    def _on_settings_changed(self, *_: object) -> None:
        settings = self._controller.settings
        self.camera_pane.mirrored = settings.mirror_preview
        self.output_pane.mirrored = settings.mirror_output  # as the output stage sends it
        # Passthrough sends the camera itself out: the right pane says so.
        self.output_pane.caption = "Output: the camera (passthrough)" if settings.passthrough else "Avatar"

    def _on_avatar_changed(self, event: AvatarChanged) -> None:
        self._avatar_face = event.face

    def _on_state_changed(self, state: PipelineState) -> None:
        if state is PipelineState.STOPPED:
            self.camera_pane.set_placeholder("Stopped")
            self.output_pane.set_placeholder("Stopped")

    def _on_camera_preview(self, event: CameraPreview) -> None:
        """The camera works while the engine still loads: show it, and say what the avatar waits for."""
        self.camera_pane.set_image(qimage_from_rgb(event.camera))
        if self.output_pane.image() is None:
            self.output_pane.set_placeholder("Loading the engine…")

    def _on_frames_ready(self, event: FramesReady) -> None:
        self.camera_pane.set_image(self._camera_image(event))
        self.output_pane.set_image(qimage_from_rgb(event.output))
        self.frames_shown += 1

    def _camera_image(self, event: FramesReady) -> QImage:
        camera = event.camera
        settings = self._controller.settings
        if settings.preview_overlay > 0.0 and self._avatar_face is not None:
            # Blended as captured and mirrored with the camera as it is drawn: lining the face up in
            # the preview lines it up for the engine too.
            camera = _blend_centered(camera, self._avatar_face, settings.preview_overlay)
        image = qimage_from_rgb(camera)
        if settings.show_landmarks:
            draw_face_overlay(image, event.track)
        return image


def _blend_centered(camera: np.ndarray, avatar: np.ndarray, alpha: float) -> np.ndarray:
    """``avatar`` blended over the centred square of ``camera`` (the part a face crop comes from)."""
    h, w = camera.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    out = camera.copy()
    out[y0 : y0 + side, x0 : x0 + side] = blend_over(camera[y0 : y0 + side, x0 : x0 + side], avatar, alpha)
    return out
