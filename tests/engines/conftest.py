"""Fixtures for every engine's tests: the contract's media (``contract.ContractMedia``)."""

from __future__ import annotations

import numpy as np
import pytest

from avatarify_app.tracking import detect_face
from tests.engines.contract import ContractMedia


@pytest.fixture(scope="session")
def contract_media(avatar_mona_lisa, driving_frames) -> ContractMedia:
    neutral, moved = driving_frames[0], driving_frames[138]
    return ContractMedia(
        avatar=avatar_mona_lisa,
        faceless=np.full((240, 320, 3), 128, np.uint8),
        neutral=(neutral, detect_face(neutral)),
        moved=(moved, detect_face(moved)),
    )
