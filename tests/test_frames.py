"""The one check of the image convention (RGB uint8, (H, W, 3)) and its expected/got message."""

from __future__ import annotations

import numpy as np
import pytest

from avatarify_app.errors import InputError
from avatarify_app.frames import check_rgb


def test_a_conforming_image_passes() -> None:
    check_rgb(np.zeros((4, 5, 3), np.uint8), "avatar")
    check_rgb(np.zeros((4, 5, 3), np.uint8), "video frame", (4, 5))
    check_rgb(np.zeros((4, 5), np.uint8), "picture", grey=True)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            np.zeros((4, 4)),
            "the avatar must be an RGB image of shape (H, W, 3) and type uint8; got shape (4, 4) and float64",
        ),
        (
            np.zeros((4, 4, 4), np.uint8),
            "the avatar must be an RGB image of shape (H, W, 3) and type uint8; "
            "got shape (4, 4, 4) and uint8",
        ),
        (
            np.zeros((4, 4, 3), np.float32),
            "the avatar must be an RGB image of shape (H, W, 3) and type uint8; "
            "got shape (4, 4, 3) and float32",
        ),
        (
            [[0, 0, 0]],
            "the avatar must be an RGB image of shape (H, W, 3) and type uint8; got a list, not an array",
        ),
        (
            None,
            "the avatar must be an RGB image of shape (H, W, 3) and type uint8; got a NoneType, not an array",
        ),
    ],
)
def test_other_images_are_refused_saying_what_was_expected_and_found(image: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        check_rgb(image, "avatar")
    assert str(caught.value) == message


def test_a_required_size_is_checked() -> None:
    with pytest.raises(InputError) as caught:
        check_rgb(np.zeros((5, 4, 3), np.uint8), "video frame", (4, 5))
    assert str(caught.value) == (
        "the video frame must be an RGB image of shape (4, 5, 3) and type uint8; "
        "got shape (5, 4, 3) and uint8"
    )


def test_grey_is_refused_unless_accepted() -> None:
    with pytest.raises(InputError, match="got shape"):
        check_rgb(np.zeros((4, 5), np.uint8), "avatar")
    with pytest.raises(InputError) as caught:
        check_rgb(np.zeros((4, 5), np.float64), "picture", grey=True)
    assert str(caught.value) == (
        "the picture must be an RGB image of shape (H, W, 3) or a grey one of shape (H, W), and type uint8; "
        "got shape (4, 5) and float64"
    )
