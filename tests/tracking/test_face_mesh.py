import numpy as np
import pytest

from avatarify_app.errors import InputError
from avatarify_app.tracking import FaceTracker, TrackerOptions, crop_face, detect_face, paste_back
from avatarify_app.tracking.crop import feather_mask, invert_affine, transform_points
from avatarify_app.tracking.landmarks import mouth_opening


def test_portrait_gives_478_landmarks_box_and_pose(avatar_mona_lisa):
    track = detect_face(avatar_mona_lisa)
    assert track.found
    assert track.landmarks.shape == (478, 3)
    x0, y0, x1, y1 = track.box
    assert 0 <= x0 < x1 <= avatar_mona_lisa.shape[1]
    assert 0 <= y0 < y1 <= avatar_mona_lisa.shape[0]
    assert abs(track.pose.roll) < 15
    assert abs(track.pose.yaw) < 30


def test_no_face_is_a_result_not_an_exception():
    assert not detect_face(np.full((240, 320, 3), 128, np.uint8)).found
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert not detect_face(noise).found


def test_wrong_image_type_is_refused():
    with pytest.raises(InputError, match="the image to track must be an RGB image"):
        detect_face(np.zeros((10, 10), np.float32))


def test_mouth_opening_follows_the_driver(driving_frames):
    closed = mouth_opening(detect_face(driving_frames[0]).landmarks)
    wide = mouth_opening(detect_face(driving_frames[138]).landmarks)
    assert closed < 0.02
    assert wide > 0.15


def test_roll_follows_image_rotation(driving_frames):
    import cv2

    image = driving_frames[0]
    h, w = image.shape[:2]
    rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), -15, 1.0), (w, h))
    before = detect_face(image).pose.roll
    after = detect_face(rotated).pose.roll
    assert after - before == pytest.approx(15, abs=4)


def test_largest_face_wins(avatar_mona_lisa, driving_frames):
    import cv2

    small = cv2.resize(driving_frames[0], (160, 160))
    canvas = avatar_mona_lisa.copy()
    canvas[-170:-10, 10:170] = small
    track = detect_face(canvas)
    assert track.found
    assert track.box[2] - track.box[0] > 150  # the painting's face, not the small inset


def test_stream_tracker_smooths_and_follows(driving_frames):
    with FaceTracker(TrackerOptions(static=False)) as tracker:
        tracks = [tracker.track(driving_frames[0], t=i / 30) for i in range(5)]
    assert all(t.found for t in tracks)
    jitter = np.abs(tracks[-1].landmarks - tracks[-2].landmarks).max()
    assert jitter < 1.0


def test_crop_and_reverse_transform_round_trip(avatar_mona_lisa):
    track = detect_face(avatar_mona_lisa)
    crop = crop_face(avatar_mona_lisa, track.box, 256)
    assert crop.image.shape == (256, 256, 3)
    pts = track.landmarks[:10]
    back = transform_points(crop.frame_from_crop, transform_points(crop.crop_from_frame, pts))
    np.testing.assert_allclose(back[:, :2], pts[:, :2], atol=1e-3)
    np.testing.assert_allclose(invert_affine(crop.frame_from_crop), crop.crop_from_frame, atol=1e-9)
    # Pasting the unchanged crop back leaves the face close to what it was and far pixels untouched.
    pasted = paste_back(avatar_mona_lisa, crop.image, crop.frame_from_crop, feather_mask(256))
    assert np.array_equal(pasted[:20, :20], avatar_mona_lisa[:20, :20])
    face = slice(int(track.box[1]), int(track.box[3])), slice(int(track.box[0]), int(track.box[2]))
    # The crop was resampled once down and once up: close, not equal.
    assert np.abs(pasted[face].astype(int) - avatar_mona_lisa[face].astype(int)).mean() < 8


def test_mediapipe_start_up_chatter_stays_off_the_console() -> None:
    """MediaPipe's graph threads print TFLite/absl lines as they open their models: a tracker meets a
    blank image while fd 2 is silenced, so they are printed (and hidden) before it returns."""
    import os
    import subprocess
    import sys

    child = (
        "import time, numpy as np\n"
        "from avatarify_app.tracking import FaceTracker, TrackerOptions\n"
        "trackers = [FaceTracker(TrackerOptions()) for _ in range(2)]\n"
        "time.sleep(0.5)\n"  # the graph threads' output, had it come after the constructor
        "trackers[0].track(np.zeros((96, 96, 3), np.uint8), 0.0)\n"
        "print('done')\n"
    )
    from avatarify_app.config import app_root

    env = dict(os.environ, PYTHONPATH=str(app_root()))
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    assert result.stdout.strip() == "done"
    assert "XNNPACK" not in result.stderr
    assert "inference_feedback_manager" not in result.stderr
    assert "absl::InitializeLog" not in result.stderr
