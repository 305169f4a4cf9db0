"""The ``mesh`` engine: FaceMesh landmarks drive a piecewise-affine warp of the avatar. No weights."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from avatarify_app.engines.base import Engine, EngineOptions, OutputFraming
from avatarify_app.engines.mesh.features import (
    MouthTones,
    keep_irises_in_eyes,
    paint_closed_eyelids,
    paint_mouth_cavity,
    upper_lip_cover,
)
from avatarify_app.engines.mesh.folds import FoldGuard, relax_rest
from avatarify_app.engines.mesh.motion import MotionTransfer
from avatarify_app.engines.mesh.topology import MOUTH_CENTRE, Mesh, build_mesh
from avatarify_app.engines.mesh.warp import warp_mesh
from avatarify_app.errors import NoFaceError
from avatarify_app.frames import FaceTrack
from avatarify_app.tracking import crop_face, detect_face
from avatarify_app.tracking import landmarks as lm
from avatarify_app.tracking.crop import transform_points

logger = logging.getLogger(__name__)

# The square output shows the face at about half its width, with hair and shoulders around it.
SQUARE_CROP_SCALE = 2.0


class MeshEngine(Engine):
    """Animates the avatar by moving its FaceMesh landmarks as the driver's move (``motion.py``).

    Per avatar (``set_avatar``): the face is found once, the canvas is cut (a square crop kept inside
    the picture where it can be, for ``OutputFraming.SQUARE``; the whole image for ``FULL``), the mesh
    with its anchor ring is built, and the landmarks FaceMesh left folded at rest (crossed lips) are
    opened; how much a moustache hides the upper lip is measured (``features.upper_lip_cover``). Per
    frame: landmark transfer in the faces' own 3D frames (``motion.py``), fold correction
    (``folds.py``), a piecewise-affine warp inside the anchor ring (everything outside is copied
    untouched), and a mouth cavity where the mouth opened, in the avatar's own tones.

    ``debug_stats`` (after each ``animate`` with a face): ``folded_triangles``, how many triangles the
    landmark transfer folded before correction, and ``inverted_triangles``, how many are still turned
    over in the warp (0 unless the head moved past the anchor ring).
    """

    name = "mesh"
    device_name = "CPU"

    def __init__(self, options: EngineOptions | None = None) -> None:
        super().__init__(options or EngineOptions())
        self._canvas: np.ndarray | None = None
        self._avatar_points: np.ndarray | None = None  # (478, 3) landmarks on the canvas
        self._avatar_track = FaceTrack.missing()
        self._mesh: Mesh | None = None
        self._src_vertices: np.ndarray | None = None
        self._avatar_opening = 0.0
        self._upper_lip_hidden = 0.0  # features.upper_lip_cover: a moustache
        self._mouth_tones: MouthTones | None = None
        self._guard: FoldGuard | None = None
        self.debug_stats: dict[str, int] = {"folded_triangles": 0, "inverted_triangles": 0}
        self._neutral: np.ndarray | None = None  # the driver's landmarks at calibration
        self._motion: MotionTransfer | None = None  # for this avatar and this neutral pose
        self._last_output: np.ndarray | None = None
        self._output_points: np.ndarray | None = None

    def set_avatar(self, image: np.ndarray) -> None:
        track = detect_face(image)
        if not track.found or track.landmarks is None or track.box is None:
            raise NoFaceError(
                "no face found in the avatar image: choose a photo or painting with one clearly visible, "
                "roughly frontal face"
            )
        if self.options.framing is OutputFraming.SQUARE:
            crop = crop_face(image, track.box, self.options.size, scale=SQUARE_CROP_SCALE, keep_inside=True)
            canvas = _grain_outside(crop.image, crop.crop_from_frame, image.shape[:2])
            points = transform_points(crop.crop_from_frame, track.landmarks)
        else:
            canvas = np.ascontiguousarray(image)
            points = track.landmarks.copy()
        mesh = build_mesh(points, (canvas.shape[1], canvas.shape[0]))
        points = points.astype(np.float64)
        relaxed = relax_rest(mesh.vertices(points), mesh.triangles[: mesh.num_face], lm.NUM_LANDMARKS)
        points[:, :2] = relaxed[: lm.NUM_LANDMARKS]
        self._canvas = canvas
        self._avatar_points = points
        self._avatar_track = track
        self._mesh = mesh
        self._src_vertices = mesh.vertices(points)
        self._guard = FoldGuard.build(
            mesh.triangles,
            self._src_vertices,
            num_fixed=len(mesh.anchors),
            fan_centres=(lm.RIGHT_IRIS_CENTER, lm.LEFT_IRIS_CENTER, MOUTH_CENTRE),
            mouth=MOUTH_CENTRE,
        )
        self._avatar_opening = lm.mouth_opening(points)
        self._mouth_tones = MouthTones.of(canvas, points)
        self._upper_lip_hidden = upper_lip_cover(canvas, points)
        self._last_output = canvas
        self._output_points = None
        if self._neutral is not None:
            self._motion = MotionTransfer(points, self._neutral, self._upper_lip_hidden, self._canvas_size())
        logger.info(
            "mesh avatar ready: canvas %dx%d, %d triangles, warp area %s, upper lip hidden %.2f",
            canvas.shape[1], canvas.shape[0], len(self._mesh.triangles), self._mesh.roi,
            self._upper_lip_hidden,
        )  # fmt: skip

    def calibrate(self, image: np.ndarray, track: FaceTrack) -> None:
        if not track.found or track.landmarks is None:
            raise NoFaceError("no face in the camera picture: look into the camera, then calibrate again")
        self._neutral = track.landmarks.copy()
        if self._avatar_points is not None:
            self._motion = MotionTransfer(
                self._avatar_points, self._neutral, self._upper_lip_hidden, self._canvas_size()
            )
        logger.info("calibrated: neutral pose %s", track.pose)

    def animate(self, image: np.ndarray, track: FaceTrack) -> np.ndarray:
        canvas, mesh, avatar = self._require_avatar()
        if not track.found or track.landmarks is None:
            return self._last_output if self._last_output is not None else canvas
        if self._motion is None:
            self.calibrate(image, track)
        assert self._motion is not None
        assert self._guard is not None
        assert self._mouth_tones is not None
        assert self._src_vertices is not None
        moved = self._motion(track.landmarks, self.strength, self.eyes, self.mouth, self.head)
        dst = keep_irises_in_eyes(mesh.vertices(moved.landmarks))
        head_only = mesh.vertices(transform_points(moved.head, avatar))
        dst, folded = self._guard.unfold(dst, head_only)
        self.debug_stats = {"folded_triangles": folded, "inverted_triangles": self._guard.inverted(dst)}
        out = warp_mesh(canvas, self._src_vertices, dst, mesh.triangles, mesh.roi)
        paint_mouth_cavity(out, dst, self._mouth_tones, self._avatar_opening, self._upper_lip_hidden)
        paint_closed_eyelids(out, dst, head_only)
        self._last_output = out
        self._output_points = dst[: lm.NUM_LANDMARKS]
        return out

    @property
    def output_shape(self) -> tuple[int, int]:
        canvas, _, _ = self._require_avatar()
        return canvas.shape[0], canvas.shape[1]

    @property
    def avatar_track(self) -> FaceTrack:
        return self._avatar_track

    @property
    def avatar_canvas(self) -> np.ndarray:
        """The avatar at rest as ``animate`` frames it (RGB uint8): what the output shows at neutral."""
        canvas, _, _ = self._require_avatar()
        return canvas

    @property
    def output_landmarks(self) -> np.ndarray:
        """(478, 2) float64: where the avatar's landmarks are in the last output (at rest before any)."""
        if self._output_points is not None:
            return self._output_points
        _, _, avatar = self._require_avatar()
        return avatar[:, :2]

    @property
    def is_calibrated(self) -> bool:
        return self._neutral is not None

    def _canvas_size(self) -> tuple[int, int]:
        canvas, _, _ = self._require_avatar()
        return canvas.shape[1], canvas.shape[0]

    def _require_avatar(self) -> tuple[np.ndarray, Mesh, np.ndarray]:
        if self._canvas is None or self._mesh is None or self._avatar_points is None:
            raise RuntimeError("set_avatar must be called before animate")
        return self._canvas, self._mesh, self._avatar_points


def _grain_outside(
    canvas: np.ndarray, crop_from_frame: np.ndarray, picture_hw: tuple[int, ...]
) -> np.ndarray:
    """The square canvas with a faint grain where it lies past the picture (a tight crop's fill).

    ``crop_face`` fills what lies past the picture with its blurred continuation; blurred that much, and
    upsampled at the edge, neighbouring rows round to the same values: a streak at the border. A grain
    as fine as the picture's own (its pixel-to-pixel noise, 0.5 to 3 levels; the same on all channels, so
    a gray picture stays gray) makes it read as the photo's background and breaks the repeats. The
    picture itself is left exactly as it is (the face is not touched). ``canvas``: RGB uint8 (S, S, 3).
    """
    h, w = picture_hw
    corners = transform_points(crop_from_frame, np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]]))
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    size_y, size_x = canvas.shape[:2]
    xs, ys = np.arange(size_x), np.arange(size_y)
    outside = ((xs < x0) | (xs > x1))[None, :] | ((ys < y0) | (ys > y1))[:, None]
    if not outside.any():
        return canvas
    gray = canvas.astype(np.float32).mean(axis=2)
    detail = np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 1.0))[~outside]
    level = float(np.clip(1.25 * np.median(detail) if len(detail) else 1.0, 0.5, 3.0))
    grain = np.random.default_rng(0).normal(0.0, level, (size_y, size_x)).astype(np.float32) * outside
    out = canvas.astype(np.float32) + grain[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
