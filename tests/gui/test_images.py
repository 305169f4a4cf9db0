"""numpy RGB -> QImage, and the preview's blending."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from avatarify_app.errors import InputError
from avatarify_app.gui.images import blend_over, qimage_from_rgb, rgb_from_qimage


def test_qimage_keeps_size_and_colours() -> None:
    image = np.zeros((3, 5, 3), dtype=np.uint8)
    image[1, 4] = (255, 10, 20)
    qimage = qimage_from_rgb(image)
    assert (qimage.width(), qimage.height()) == (5, 3)
    assert qimage.pixelColor(4, 1) == QColor(255, 10, 20)
    assert qimage.pixelColor(0, 0) == QColor(0, 0, 0)


def test_qimage_owns_its_pixels() -> None:
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    qimage = qimage_from_rgb(image)
    image[:] = 0  # the array may be reused by the next frame
    assert qimage.pixelColor(2, 2) == QColor(100, 100, 100)


def test_qimage_from_a_non_contiguous_view() -> None:
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    view = image[::2, ::2]  # strided view
    qimage = qimage_from_rgb(view)
    assert (qimage.width(), qimage.height()) == (4, 3)
    assert qimage.pixelColor(1, 1) == QColor(*(int(v) for v in view[1, 1]))


def test_grey_images_are_accepted() -> None:
    assert qimage_from_rgb(np.zeros((2, 3), dtype=np.uint8)).format() == QImage.Format.Format_Grayscale8


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 4), np.uint8)])
def test_other_images_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(InputError, match="the picture must be an RGB image of shape"):
        qimage_from_rgb(bad)


def test_blend_over_resizes_and_mixes() -> None:
    base = np.zeros((10, 20, 3), np.uint8)
    top = np.full((5, 5, 3), 200, np.uint8)
    assert blend_over(base, top, 0.0) is base
    half = blend_over(base, top, 0.5)
    assert half.shape == base.shape
    assert np.all(half == 100)
    assert np.all(blend_over(base, top, 1.0) == 200)


def test_rgb_from_qimage_round_trip() -> None:
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert np.array_equal(rgb_from_qimage(qimage_from_rgb(image)), image)
