"""Named groups of MediaPipe FaceMesh landmark indices (478-point topology, with iris).

Convention: "right"/"left" are the subject's, as in MediaPipe: the subject's right eye appears on the
image's left in a non-mirrored photo. Rings are ordered around their contour.
"""

from __future__ import annotations

import numpy as np

from avatarify_app.frames import FaceTrack

NUM_LANDMARKS = 478

LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473
RIGHT_IRIS_RING = (469, 470, 471, 472)
LEFT_IRIS_RING = (474, 475, 476, 477)

UPPER_INNER_LIP = 13
LOWER_INNER_LIP = 14
FOREHEAD_TOP = 10
CHIN = 152
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_OUTER, LEFT_EYE_INNER = 263, 362
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145
LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 386, 374

# Points that move with the skull but hardly with expressions: eye corners, nose bridge and tip,
# forehead, temples. Head motion (a similarity transform) is fitted on these.
RIGID = (
    33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 8, 107, 336, 234, 454, 127, 356, 98, 327,
)  # fmt: skip


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap divided by face height (forehead top to chin): 0 for a closed mouth, about 0.3 wide.

    ``landmarks``: (478, 2+) pixel coordinates.
    """
    gap = np.linalg.norm(landmarks[LOWER_INNER_LIP, :2] - landmarks[UPPER_INNER_LIP, :2])
    height = float(np.linalg.norm(landmarks[CHIN, :2] - landmarks[FOREHEAD_TOP, :2]))
    return float(gap / max(height, 1e-6))


def eye_opening(landmarks: np.ndarray) -> float:
    """Mean lid gap of both eyes divided by the mean eye width: about 0.3 open, under 0.1 closed."""
    right = np.linalg.norm(landmarks[RIGHT_EYE_TOP, :2] - landmarks[RIGHT_EYE_BOTTOM, :2]) / max(
        float(np.linalg.norm(landmarks[RIGHT_EYE_OUTER, :2] - landmarks[RIGHT_EYE_INNER, :2])), 1e-6
    )
    left = np.linalg.norm(landmarks[LEFT_EYE_TOP, :2] - landmarks[LEFT_EYE_BOTTOM, :2]) / max(
        float(np.linalg.norm(landmarks[LEFT_EYE_OUTER, :2] - landmarks[LEFT_EYE_INNER, :2])), 1e-6
    )
    return float((right + left) / 2)


def rigid_frame(track: FaceTrack) -> tuple[np.ndarray, float] | None:
    """Centroid (2,) and RMS spread (pixels) of the rigid landmarks, None without landmarks."""
    landmarks = track.landmarks
    if landmarks is None or len(landmarks) <= max(RIGID):
        return None
    points = np.asarray(landmarks, dtype=np.float64)[list(RIGID), :2]
    centre = points.mean(axis=0)
    spread = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
    return (centre, spread) if spread > 0 else None
