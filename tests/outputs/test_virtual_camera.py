from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam import camera as pyvirtualcam_camera

from avatarify_app.config import VirtualCameraSettings
from avatarify_app.outputs.framing import letterbox
from avatarify_app.outputs.virtual_camera import (
    LINUX_FIX,
    OBS_FIX,
    VirtualCameraError,
    VirtualCameraSink,
    virtual_camera_fix,
)
from tests.fakes import VirtualCameraLog, memory_backend

BACKEND = "avatarify-test-outputs-memory"


@pytest.fixture
def vcam_log() -> Iterator[VirtualCameraLog]:
    log = VirtualCameraLog()
    pyvirtualcam.register_backend(BACKEND, memory_backend(log))
    yield log
    pyvirtualcam_camera.BACKENDS.pop(BACKEND, None)


def test_letterbox_centres_a_portrait_on_black() -> None:
    image = np.full((100, 50, 3), 200, np.uint8)
    out = letterbox(image, (160, 90))
    assert out.shape == (90, 160, 3)
    assert (out[:, 58:102] == 200).all()  # 45 px wide, centred
    assert (out[:, :55] == 0).all()
    assert (out[:, 105:] == 0).all()


def test_letterbox_of_the_same_size_is_a_copy() -> None:
    image = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    np.testing.assert_array_equal(letterbox(image, (160, 90)), image)


def test_sink_sends_letterboxed_frames_to_the_camera(vcam_log: VirtualCameraLog) -> None:
    sink = VirtualCameraSink(VirtualCameraSettings(width=320, height=180, fps=30.0, backend=BACKEND))
    sink.open((64, 64), 30.0)
    assert sink.device == "memory-camera"
    sink.write(np.full((64, 64, 3), 255, np.uint8), t=0.0)
    sink.write(np.full((32, 64, 3), 128, np.uint8), t=0.033)  # another size: old bars must not show
    sink.close()
    sink.close()

    assert vcam_log.opened == [(320, 180, 30.0)]
    assert vcam_log.closed == 1
    first, second = vcam_log.frames
    assert (first[:, 70:250] == 255).all()
    assert (first[:, :69] == 0).all()
    assert (second[10:170] == 128).all()  # 320 x 160, centred
    assert (second[:10] == 0).all()
    assert (second[170:] == 0).all()


def test_unknown_backend_raises_with_the_fix() -> None:
    sink = VirtualCameraSink(VirtualCameraSettings(backend="no-such-backend"))
    with pytest.raises(VirtualCameraError, match="'no-such-backend' is not available") as caught:
        sink.open((64, 64), 30.0)
    assert caught.value.fix == virtual_camera_fix()


def test_failing_backend_lists_its_reason() -> None:
    class Broken:
        def __init__(self, **kw):
            raise RuntimeError("device busy.")

    pyvirtualcam.register_backend("avatarify-test-broken", Broken)
    try:
        sink = VirtualCameraSink(VirtualCameraSettings(backend="avatarify-test-broken"))
        with pytest.raises(VirtualCameraError) as caught:
            sink.open((64, 64), 30.0)
    finally:
        pyvirtualcam_camera.BACKENDS.pop("avatarify-test-broken", None)
    assert str(caught.value) == "no virtual camera found ('avatarify-test-broken' backend: device busy)"


@pytest.mark.parametrize(("system", "fix"), [("Linux", LINUX_FIX), ("Windows", OBS_FIX), ("Darwin", OBS_FIX)])
def test_fix_names_the_step_for_each_os(system: str, fix: str) -> None:
    assert virtual_camera_fix(system) == fix


def test_linux_fix_loads_v4l2loopback_with_the_avatarify_label() -> None:
    assert 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="Avatarify"' in LINUX_FIX
    assert "OBS Studio" in OBS_FIX
    assert "Start Virtual Camera" in OBS_FIX
