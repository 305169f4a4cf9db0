"""Face tracking shared by both engines: FaceMesh landmarks, smoothing, crops and head pose."""

from avatarify_app.tracking.crop import FaceCrop, crop_face, face_crop_transform, paste_back
from avatarify_app.tracking.face_mesh import FaceTracker, TrackerOptions, detect_face
from avatarify_app.tracking.one_euro import OneEuroFilter, OneEuroParams

__all__ = [
    "FaceCrop",
    "FaceTracker",
    "OneEuroFilter",
    "OneEuroParams",
    "TrackerOptions",
    "crop_face",
    "detect_face",
    "face_crop_transform",
    "paste_back",
]
