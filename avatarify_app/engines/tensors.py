"""Tensor helpers the torch engines share (an engine never imports another engine)."""

from __future__ import annotations

import numpy as np
import torch


def to_image(prediction: torch.Tensor) -> np.ndarray:
    """(1, 3, S, S) in [0, 1], any float type or device -> RGB uint8 (S, S, 3) on the CPU."""
    image = (prediction[0].float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return image.permute(1, 2, 0).contiguous().cpu().numpy()
