"""OpenCV and MediaPipe FaceMesh: the parts without which no engine can follow a face."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from avatarify_app.diagnostics.check import Check, Status

logger = logging.getLogger(__name__)

MEDIAPIPE_PIN = "0.10.21"
# Inside the mediapipe package: each entry is satisfied by any one of its files.
FACE_MESH_MODELS: tuple[tuple[str, ...], ...] = (
    (
        "modules/face_landmark/face_landmark_with_attention.tflite",
        "modules/face_landmark/face_landmark.tflite",
    ),
    ("modules/face_detection/face_detection_short_range.tflite",),
)


def check_opencv() -> Check:
    try:
        import cv2
    except ImportError as exc:
        return Check(
            "opencv",
            Status.FAIL,
            f"cv2 cannot be imported ({exc}): cameras, video files and images cannot be read",
            "pip install opencv-contrib-python==4.11.0.86 (and not opencv-python beside it)",
        )
    return Check("opencv", Status.OK, f"{cv2.__version__}")


def mediapipe_root() -> Path | None:
    """The installed mediapipe package folder, or None when mediapipe cannot be imported."""
    try:
        import mediapipe
    except ImportError as exc:
        logger.info("mediapipe not importable: %s", exc)
        return None
    return Path(mediapipe.__file__).resolve().parent


def missing_face_mesh_models(root: Path, required: Sequence[tuple[str, ...]] = FACE_MESH_MODELS) -> list[str]:
    """The required model files absent under ``root`` (for alternatives: "a or b")."""
    return [
        " or ".join(Path(p).name for p in options)
        for options in required
        if not any((root / p).is_file() for p in options)
    ]


def check_face_mesh_models(root: Path | None = None) -> Check:
    """MediaPipe's bundled FaceMesh models (mediapipe 0.10.21 ships them; later releases do not)."""
    root = root if root is not None else mediapipe_root()
    fix = f"pip install --force-reinstall mediapipe=={MEDIAPIPE_PIN}"
    if root is None:
        return Check("face tracking models", Status.FAIL, "mediapipe cannot be imported", fix)
    missing = missing_face_mesh_models(root)
    if missing:
        return Check(
            "face tracking models",
            Status.FAIL,
            f"missing in {root}: {', '.join(missing)} (mediapipe {MEDIAPIPE_PIN} bundles them)",
            fix,
        )
    found = [Path(p).name for options in FACE_MESH_MODELS for p in options if (root / p).is_file()]
    return Check("face tracking models", Status.OK, f"{', '.join(found)} in {root}")


def check_face_mesh_run() -> Check:
    """Run FaceMesh for real on the bundled default avatar: it must find one face."""
    from avatarify_app.avatars import default_avatar, load_image
    from avatarify_app.errors import AvatarifyError

    fix = f"pip install --force-reinstall mediapipe=={MEDIAPIPE_PIN}"
    try:
        avatar = default_avatar()
        image = load_image(avatar)
        from avatarify_app.tracking import detect_face

        t0 = time.monotonic()
        track = detect_face(image)
        elapsed_ms = (time.monotonic() - t0) * 1000.0
    except AvatarifyError as exc:
        return Check(
            "face tracking run", Status.FAIL, str(exc), "reinstall the app: a bundled file is missing"
        )
    except (ImportError, AttributeError, RuntimeError) as exc:
        # AttributeError: a mediapipe without mp.solutions (0.10.22 and later); RuntimeError: its graph
        # failed to start (a model file missing or unreadable).
        return Check("face tracking run", Status.FAIL, f"FaceMesh did not run: {exc}", fix)
    if not track.found or track.landmarks is None:
        return Check(
            "face tracking run",
            Status.FAIL,
            f"FaceMesh ran but found no face in the bundled avatar {avatar.name}",
            fix,
        )
    return Check(
        "face tracking run",
        Status.OK,
        f"FaceMesh found {len(track.landmarks)} landmarks on {avatar.name} in {elapsed_ms:.0f} ms",
    )
