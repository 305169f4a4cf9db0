"""Head pose from FaceMesh landmarks."""

from __future__ import annotations

import math

import numpy as np

from avatarify_app.frames import HeadPose
from avatarify_app.tracking import landmarks as lm


def estimate_pose(landmarks: np.ndarray) -> HeadPose:
    """Estimate yaw, pitch and roll (degrees) from 478 landmarks (x, y, z in pixels).

    The face's own axes are built from 3D landmarks: x from the subject's right eye corner to the left
    one, y from the chin to the forehead (made orthogonal to x), z their cross product. Accurate to a
    few degrees, which is what pose matching and UI hints need.

    Convention: image axes x right, y down, z away from the camera (MediaPipe's).
    """
    p = landmarks.astype(np.float64)
    x_axis = p[lm.LEFT_EYE_OUTER] - p[lm.RIGHT_EYE_OUTER]
    x_axis /= np.linalg.norm(x_axis) + 1e-9
    up = p[lm.FOREHEAD_TOP] - p[lm.CHIN]
    y_axis = up - x_axis * np.dot(up, x_axis)
    y_axis /= np.linalg.norm(y_axis) + 1e-9
    z_axis = np.cross(x_axis, y_axis)  # points towards the camera for a frontal face
    roll = math.degrees(math.atan2(x_axis[1], x_axis[0]))
    yaw = math.degrees(math.asin(float(np.clip(-z_axis[0], -1.0, 1.0))))
    pitch = math.degrees(math.asin(float(np.clip(z_axis[1], -1.0, 1.0))))
    return HeadPose(yaw=yaw, pitch=-pitch, roll=roll)
