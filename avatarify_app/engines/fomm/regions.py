"""Region strengths for FOMM: its keypoints are unsupervised, so each is given regions at calibration.

At calibration each keypoint of the neutral driver gets soft eye and mouth weights from where it sits
among the driver's FaceMesh landmarks (``engines/regions.py``). Per frame, each keypoint's move from the
avatar's keypoint, value and jacobian alike, is scaled by its blended gain. The head motion is scaled
before the keypoint detector sees it: the driving crop is turned, moved and zoomed so that the face's
rigid landmarks show only ``head`` of their similarity motion since calibration.

Convention: keypoint values (B, K, 2) are (x, y) in [-1, 1] across the crop, jacobians (B, K, 2, 2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from avatarify_app.engines.fomm.model.keypoints import Keypoints
from avatarify_app.engines.fomm.model.motion import scale_motion
from avatarify_app.engines.regions import expression_gains, partial_similarity, region_weights
from avatarify_app.tracking.crop import FaceCrop, fit_similarity, invert_affine, transform_points
from avatarify_app.tracking.landmarks import RIGID

logger = logging.getLogger(__name__)


def keypoints_to_pixels(values: np.ndarray, size: int) -> np.ndarray:
    """(K, 2) keypoint values in [-1, 1] -> crop pixels of a ``size`` x ``size`` crop."""
    return (np.asarray(values, np.float64) + 1.0) / 2.0 * (size - 1)


@dataclass(frozen=True, slots=True)
class KeypointRegions:
    """What calibration learns for the region strengths.

    Attributes:
        weights: (K, 2) each keypoint's [eyes, mouth] weight (the rest of it follows ``strength``).
        rigid: (R, 2) the neutral driver's rigid landmarks in crop pixels.
    """

    weights: np.ndarray
    rigid: np.ndarray

    @classmethod
    def calibrate(cls, kp_initial: Keypoints, crop: FaceCrop, landmarks: np.ndarray) -> KeypointRegions:
        """From the neutral driver's keypoints, its crop and its (478, 2+) frame-pixel landmarks."""
        size = crop.image.shape[0]
        in_crop = transform_points(crop.crop_from_frame, np.asarray(landmarks, np.float64)[:, :2])
        points = keypoints_to_pixels(kp_initial["value"][0].detach().float().cpu().numpy(), size)
        weights = region_weights(points, in_crop)
        logger.info("keypoint regions (eyes, mouth): %s", np.round(weights, 2).tolist())
        return cls(weights, in_crop[list(RIGID)])

    def gains(self, strength: float, eyes: float, mouth: float) -> np.ndarray:
        """(K,) gains of each keypoint's motion."""
        return expression_gains(self.weights, strength, eyes, mouth)

    def head_crop(self, image: np.ndarray, crop: FaceCrop, landmarks: np.ndarray, head: float) -> FaceCrop:
        """``crop`` of ``image`` re-cut so the face's head motion since calibration is scaled by ``head``.

        In the crop the rigid landmarks moved by a similarity ``H`` since calibration; the new crop
        undoes ``H`` and applies ``head`` of it instead. ``head == 1`` returns ``crop`` itself.
        """
        if head == 1.0:
            return crop
        now = transform_points(crop.crop_from_frame, np.asarray(landmarks, np.float64)[list(RIGID), :2])
        moved = fit_similarity(self.rigid, now)  # crop pixels, neutral -> now
        wanted = partial_similarity(moved, self.rigid.mean(axis=0), head)
        fix = _compose(wanted, invert_affine(moved))
        crop_from_frame = _compose(fix, crop.crop_from_frame)
        size = crop.image.shape[0]
        interpolation = cv2.INTER_AREA if abs(np.linalg.det(crop_from_frame[:, :2])) < 1 else cv2.INTER_LINEAR
        image = cv2.warpAffine(
            image, crop_from_frame, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
        )
        return FaceCrop(image, crop_from_frame, invert_affine(crop_from_frame))


def scale_regions(
    regions: KeypointRegions | None,
    kp_source: Keypoints,
    kp_target: Keypoints,
    strength: float,
    eyes: float,
    mouth: float,
) -> Keypoints:
    """Move each keypoint its gain of the way from ``kp_source`` to ``kp_target`` (values and jacobians).

    Without regions (no landmarks at calibration), or with ``eyes == mouth == 1``, this is
    ``scale_motion`` with ``strength``: the output is exactly what a single strength gives.
    """
    if regions is None or (eyes == 1.0 and mouth == 1.0):
        return scale_motion(kp_source, kp_target, strength)
    value = kp_source["value"]
    gains = torch.as_tensor(regions.gains(strength, eyes, mouth), dtype=value.dtype, device=value.device)
    return scale_motion(kp_source, kp_target, gains)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``outer ∘ inner``."""
    return np.concatenate(
        [outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]], axis=1
    )
