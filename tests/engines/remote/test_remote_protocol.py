"""The remote protocol's checks and the driver's window, without a network."""

from __future__ import annotations

import numpy as np
import pytest

from avatarify_app.engines.remote import protocol as p
from avatarify_app.engines.remote.transport import IceSettings, parse_address, parse_fingerprint
from avatarify_app.errors import InputError
from avatarify_app.tracking import detect_face


def test_the_window_keeps_still_while_the_face_moves_a_little(driving_frames) -> None:
    track = detect_face(driving_frames[0])
    placer = p.WindowPlacer(256)
    first = placer.place(track, (480, 480))
    assert first.size == 256
    box = np.array(track.box) * first.scale - [first.x, first.y, first.x, first.y]
    assert box.min() > 0.08 * 256
    assert box.max() < 0.92 * 256
    moved = p.FaceTrack(
        True, track.landmarks + [3, 2, 0], tuple(np.array(track.box) + [3, 2, 3, 2]), track.pose
    )
    assert placer.place(moved, (480, 480)) == first  # no resampling, no jump for small motion
    far = p.FaceTrack(
        True, track.landmarks + [150, 0, 0], tuple(np.array(track.box) + [150, 0, 150, 0]), track.pose
    )
    assert placer.place(far, (480, 480)).scale == first.scale  # re-centred, same scale


def test_a_frame_message_round_trips_and_lands_where_the_face_is(driving_frames) -> None:
    image = driving_frames[75]
    track = detect_face(image)
    data = p.encode_frame(p.KIND_FRAME, 7, 1.5, image, track, p.WindowPlacer(192), 90)
    kind, header, payload = p.unpack(data)
    frame = p.FrameMessage.parse(header, payload)
    assert (kind, frame.seq, frame.t) == (p.KIND_FRAME, 7, 1.5)
    assert frame.window is not None
    assert frame.landmarks is not None
    assert frame.jpeg is not None
    crop = p.decode_jpeg(frame.jpeg, 192)
    k = frame.window.scale
    # Window pixels are the camera's, scaled: compare with the camera frame resized by the same scale.
    import cv2

    scaled = cv2.resize(image, frame.window.canvas_size, interpolation=cv2.INTER_AREA)
    x, y = frame.window.x, frame.window.y
    inside = scaled[max(y, 0) : y + 192, max(x, 0) : x + 192]
    part = crop[max(-y, 0) : max(-y, 0) + inside.shape[0], max(-x, 0) : max(-x, 0) + inside.shape[1]]
    assert np.abs(part.astype(int) - inside.astype(int)).mean() < 6
    back = (frame.landmarks[:, :2] + [x, y]) / k
    assert np.abs(back - track.landmarks[:, :2]).max() < 0.5 / p.LANDMARK_STEPS / k
    assert len(data) < 40_000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"F",
        b"F\x00\x00\x00\x10{}",
        b"F\x02\x00\x00\x00[]",
        b"F\xff\xff\xff\x7f{}",
        b"F" + bytes(300_000),
    ],
)
def test_malformed_binary_messages_are_refused(data: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        _parse(data)


def _parse(data: bytes) -> p.FrameMessage:
    _, header, payload = p.unpack(data)
    return p.FrameMessage.parse(header, payload)


def test_images_are_checked_before_decoding() -> None:
    bomb = b"\xff\xd8\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03" + bytes(50)
    assert p.jpeg_size(bomb) == (60000, 60000)
    with pytest.raises(p.ProtocolError, match="at most"):
        p.decode_jpeg(bomb, 4096)
    for junk in (b"", b"PNG", b"\xff\xd8\x00\x00", b"\xff\xd8\xff\xd9"):
        with pytest.raises(p.ProtocolError):
            p.decode_jpeg(junk, 4096)
    image = np.zeros((20, 30, 3), np.uint8)
    assert p.decode_jpeg(p.encode_jpeg(image, 80), 64).shape == (20, 30, 3)


def test_addresses_fingerprints_and_ice_settings_are_checked() -> None:
    assert parse_address("203.0.113.7:9000") == ("203.0.113.7", 9000)
    assert parse_address("[2001:db8::1]:9000") == ("2001:db8::1", 9000)
    assert parse_address("gpu.example") == ("gpu.example", 8443)
    with pytest.raises(InputError):
        parse_address("host:99999")
    digest = bytes(range(32))
    assert parse_fingerprint(digest.hex()) == digest
    assert parse_fingerprint(":".join(f"{b:02X}" for b in digest)) == digest
    with pytest.raises(InputError):
        parse_fingerprint("abc")
    with pytest.raises(InputError, match="--turn-user"):
        IceSettings(turn=("turn:127.0.0.1:3478",))
    with pytest.raises(InputError, match="TURN"):
        IceSettings(relay_only=True)
    with pytest.raises(InputError):
        IceSettings(stun=("127.0.0.1:3478",))
    assert IceSettings().configuration().iceServers == []  # never aiortc's public default
