"""Face crops: kept inside the picture where it allows, and never smeared where it does not."""

import numpy as np
import pytest

from avatarify_app.tracking import crop_face, detect_face
from avatarify_app.tracking.crop import face_crop_transform, fill_outside, transform_points


def streak_lines(image: np.ndarray, depth: int = 32) -> int:
    """How many of the outer ``depth`` rows/columns on each side exactly repeat their inner neighbour
    without being flat: what border replication leaves."""
    count = 0
    for view in (image, image[::-1], image.transpose(1, 0, 2), image.transpose(1, 0, 2)[::-1]):
        for k in range(depth):
            line = view[k].astype(np.int16)
            if np.array_equal(line, view[k + 1]) and int(line.max()) - int(line.min()) > 8:
                count += 1
    return count


@pytest.fixture(scope="module")
def tight_portrait(avatar_mona_lisa):
    """An official-photo framing: the face and a sixth of it around (the chin almost at the edge)."""
    x0, y0, x1, y1 = detect_face(avatar_mona_lisa).box
    mx, my = (x1 - x0) / 6, (y1 - y0) / 6
    return avatar_mona_lisa[int(y0 - 2 * my) : int(y1 + my), int(x0 - mx) : int(x1 + mx)].copy()


def test_a_crop_past_the_picture_is_filled_without_streaks(tight_portrait):
    box = detect_face(tight_portrait).box
    crop = crop_face(tight_portrait, box, 256, scale=2.0)
    assert streak_lines(crop.image) == 0
    # The filled part is a continuation of the picture, not a flat colour or a seam: its colours
    # stay close to the picture's edge next to it.
    left_edge = int(np.ceil(transform_points(crop.crop_from_frame, np.array([[0.0, 0.0]]))[0, 0]))
    assert left_edge > 20  # the picture does end inside the crop
    rows = slice(100, 156)
    inside = crop.image[rows, left_edge + 2].astype(float)
    outside = crop.image[rows, left_edge - 3].astype(float)
    assert np.abs(inside - outside).mean() < 12


def test_an_avatar_crop_stays_inside_the_picture_and_keeps_the_face(tight_portrait):
    h, w = tight_portrait.shape[:2]
    box = detect_face(tight_portrait).box
    matrix = face_crop_transform(box, 256, scale=2.0, inside=(w, h))
    frame_from_crop = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    corners = transform_points(frame_from_crop, np.array([[-0.5, -0.5], [255.5, 255.5]]))
    side = corners[1] - corners[0]
    longest = max(box[2] - box[0], box[3] - box[1])
    # The picture is narrower than the face and its margin: the square shrinks from twice the face
    # down to the face's own margin (1.3 times), no further...
    assert w < 1.3 * longest < 2.0 * longest
    assert side[0] == pytest.approx(1.3 * longest, rel=1e-6)
    # ...and is shifted to stay inside the picture from top to bottom, but for what the face's
    # margin below the chin needs (the chin is close to the picture's edge).
    assert corners[0, 1] >= -0.5 - 1e-6
    assert corners[1, 1] <= max(h - 0.5, box[3] + 0.15 * longest) + 1e-6
    assert corners[1, 1] - (h - 0.5) < 2.0
    # The whole face is in it, with a margin.
    face = transform_points(matrix, np.array([[box[0], box[1]], [box[2], box[3]]]))
    assert face.min() >= 0.1 * 256 * 0.3 / 1.3
    assert face.max() <= 256 - 0.1 * 256 * 0.3 / 1.3


def test_a_crop_inside_the_picture_is_a_plain_cut(avatar_mona_lisa):
    box = detect_face(avatar_mona_lisa).box
    crop = crop_face(avatar_mona_lisa, box, 256, keep_inside=True)
    image = crop.image.copy()
    assert np.array_equal(fill_outside(image, (-0.5, -0.5, 255.5, 255.5)), crop.image)
    assert streak_lines(crop.image) == 0


def test_the_fill_keeps_a_gray_picture_gray(tight_portrait):
    gray = np.repeat(tight_portrait.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    crop = crop_face(gray, detect_face(gray).box, 256, scale=2.2)
    assert (crop.image.max(axis=2) == crop.image.min(axis=2)).all()
