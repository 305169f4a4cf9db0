"""The preview panes: mirroring as they draw, a readable caption."""

import numpy as np

from avatarify_app.gui.images import qimage_from_rgb, rgb_from_qimage
from avatarify_app.gui.panels.preview import ImagePane


def _shown(pane: ImagePane) -> np.ndarray:
    return rgb_from_qimage(pane.pixmap().toImage())


def test_a_mirrored_pane_flips_the_picture_as_it_draws(qtbot) -> None:
    picture = np.zeros((100, 100, 3), np.uint8)
    picture[:, :50] = 255  # white on the left
    pane = ImagePane("")
    qtbot.addWidget(pane)
    pane.resize(200, 200)
    pane.set_image(qimage_from_rgb(picture))
    plain = _shown(pane)
    assert plain[150, 50].mean() > 200
    assert plain[150, 150].mean() < 50
    pane.mirrored = True
    pane.set_image(qimage_from_rgb(picture))
    flipped = _shown(pane)
    assert flipped[150, 50].mean() < 50, "white is on the right now"
    assert flipped[150, 150].mean() > 200
    assert np.array_equal(rgb_from_qimage(pane.image()), picture), "the frame itself is not copied or changed"


def test_the_caption_sits_on_a_dark_tag(qtbot) -> None:
    pane = ImagePane("Camera")
    qtbot.addWidget(pane)
    pane.resize(200, 200)
    pane.set_image(qimage_from_rgb(np.full((100, 100, 3), 250, np.uint8)))  # a light picture
    corner = _shown(pane)[8:20, 10:40]
    assert corner.mean() < 180, "the caption's background is darker than the picture"
