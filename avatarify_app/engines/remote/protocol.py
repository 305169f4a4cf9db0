"""What the remote engine's client and worker say to each other: message layouts, checked on arrival.

Two data channels on one WebRTC peer connection (``docs/remote.md`` says why no video track):

- ``frames``: unordered, no retransmission (a late frame is worth nothing). Up: the driver's face
  window (``FrameMessage``); down: results (``ResultMessage``). Binary, each message one frame.
- ``control``: reliable and ordered. JSON text for commands and replies (``controls``, ``ping``/``pong``,
  ``avatar_ok``, ``error``...), binary for the avatar image (``AvatarChunk``, in pieces) and the
  calibration frame (a ``FrameMessage`` with kind ``C``).

Binary layout: one kind byte, a 4-byte little-endian header length, a JSON header, then the payload.
Everything that arrives is checked (``ProtocolError`` for anything malformed): the worker must survive
a hostile client, so nothing is decoded before its declared sizes were checked against the limits.

Geometry: the client cuts a square ``size`` window from its camera frame scaled by ``scale``
(virtual pixels per camera pixel) at integer offset (``x``, ``y``) in that scaled frame. The scale stays
the same for a session unless the face's size changes a lot, and the window moves only when the face
nears its edge, so the worker can paste each window into a canvas of the scaled frame without
resampling and the engines see head motion as it is (``WindowPlacer``).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from avatarify_app.frames import FaceTrack

PROTOCOL_VERSION = 1
FRAMES_LABEL, CONTROL_LABEL = "frames", "control"
KIND_FRAME, KIND_CALIBRATE, KIND_RESULT, KIND_AVATAR, KIND_REST = b"F", b"C", b"R", b"A", b"S"

NUM_LANDMARKS = 478
LANDMARK_STEPS = 32  # landmarks travel as int16 in 1/32 of a window pixel
MAX_HEADER = 4096  # bytes of JSON header in a binary message
MAX_FRAME_BYTES = 240_000  # a binary frame message (aiortc's peers accept 256 KiB)
MAX_AVATAR_BYTES = 16 * 1024 * 1024  # the avatar image, all chunks together
MAX_AVATAR_SIDE = 4096  # pixels, either side, checked in the JPEG header before decoding
AVATAR_CHUNK = 200_000
MAX_TEXT = 4096  # a JSON control message
WINDOW_SIZES = (128, 160, 192, 224, 256, 288, 320, 384, 448, 512)
MAX_SCALE = 8.0
MAX_CANVAS_SIDE = 8192


class ProtocolError(ValueError):
    """A message that does not follow the protocol (a bug or a hostile peer)."""


# -- binary framing ---------------------------------------------------------------------------------


def pack(kind: bytes, header: dict[str, Any], *payload: bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((kind, struct.pack("<I", len(head)), head, *payload))


def unpack(data: bytes, limit: int = MAX_FRAME_BYTES) -> tuple[bytes, dict[str, Any], memoryview]:
    """(kind, header, payload) of a binary message. Raises ``ProtocolError``."""
    if not isinstance(data, bytes | bytearray) or len(data) < 5:
        raise ProtocolError("binary message too short")
    if len(data) > limit:
        raise ProtocolError(f"binary message of {len(data)} bytes (at most {limit})")
    (length,) = struct.unpack_from("<I", data, 1)
    if length > MAX_HEADER or 5 + length > len(data):
        raise ProtocolError("bad header length")
    try:
        header = json.loads(bytes(data[5 : 5 + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("header is not JSON") from exc
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    return bytes(data[:1]), header, memoryview(data)[5 + length :]


def parse_text(data: str) -> dict[str, Any]:
    """A JSON control message with a string ``type``. Raises ``ProtocolError``."""
    if not isinstance(data, str) or len(data) > MAX_TEXT:
        raise ProtocolError("control message too long")
    try:
        message = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ProtocolError("control message is not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("control message without a type")
    return message


def text(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def number(header: dict[str, Any], key: str, lo: float, hi: float) -> float:
    """``header[key]`` as a finite float within [lo, hi]. Raises ``ProtocolError``."""
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{key}: not a number")
    if not lo <= value <= hi:
        raise ProtocolError(f"{key}: {value} outside {lo}..{hi}")
    return float(value)


def integer(header: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError(f"{key}: not an integer within {lo}..{hi}")
    return value


# -- JPEG -------------------------------------------------------------------------------------------


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """RGB uint8 (H, W, 3) to JPEG bytes."""
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def jpeg_size(data: bytes | memoryview) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, read without decoding. Raises ``ProtocolError``."""
    view = bytes(data[: 1 << 16]) if len(data) > 1 << 16 else bytes(data)
    if view[:2] != b"\xff\xd8":
        raise ProtocolError("not a JPEG image")
    pos = 2
    while pos + 4 <= len(view):
        if view[pos] != 0xFF:
            raise ProtocolError("damaged JPEG header")
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack_from(">H", view, pos + 2)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            if pos + 9 > len(view):
                break
            height, width = struct.unpack_from(">HH", view, pos + 5)
            return width, height
        pos += 2 + length
    raise ProtocolError("JPEG without a frame header")


def decode_jpeg(data: bytes | memoryview, max_side: int) -> np.ndarray:
    """JPEG bytes to RGB uint8, after checking the declared size. Raises ``ProtocolError``."""
    width, height = jpeg_size(data)
    if not (0 < width <= max_side and 0 < height <= max_side):
        raise ProtocolError(f"image of {width}x{height} pixels (at most {max_side} a side)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (height, width):
        raise ProtocolError("undecodable JPEG image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# -- the driver's window ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """A ``size`` square at (``x``, ``y``) of the camera frame scaled by ``scale``; ``frame``: the camera
    frame's (width, height)."""

    scale: float
    x: int
    y: int
    size: int
    frame: tuple[int, int]

    @property
    def crop_from_frame(self) -> np.ndarray:
        k = self.scale
        return np.array([[k, 0.0, -self.x], [0.0, k, -self.y]])

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(width, height) of the scaled camera frame."""
        return max(1, round(self.frame[0] * self.scale)), max(1, round(self.frame[1] * self.scale))

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The window's pixels (RGB uint8 (size, size, 3)). Parts past the picture are black: the worker
        pastes only what lies inside the picture into its canvas."""
        m = self.crop_from_frame
        flags = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
        return cv2.warpAffine(image, m, (self.size, self.size), flags=flags, borderMode=cv2.BORDER_CONSTANT)


class WindowPlacer:
    """Where the window goes for each frame: the scale is set by the first face (the face's box fills
    1 / ``margin`` of the window) and kept until the face's size is off by ``rescale`` times; the window
    is re-centred only when the face's box comes within ``edge`` of its side."""

    def __init__(
        self, size: int = 256, margin: float = 2.4, edge: float = 0.08, rescale: float = 1.6
    ) -> None:
        if size not in WINDOW_SIZES:
            raise ValueError(f"window size {size}: choose one of {WINDOW_SIZES}")
        self.size, self.margin, self.edge, self.rescale = size, margin, edge, rescale
        self.window: Window | None = None

    def place(self, track: FaceTrack, frame: tuple[int, int]) -> Window:
        assert track.box is not None
        x0, y0, x1, y1 = track.box
        side = max(x1 - x0, y1 - y0, 1.0)
        w = self.window
        wanted = float(np.clip(self.size / (self.margin * side), 1 / 16, MAX_SCALE))
        if w is None or w.frame != frame or not 1 / self.rescale < wanted / w.scale < self.rescale:
            scale = round(wanted * 64) / 64 or 1 / 64  # a few distinct scales, exactly representable
            w = self._centred(scale, track.box, frame)
        else:
            k, lim = w.scale, self.edge * self.size
            bx0, by0, bx1, by1 = x0 * k - w.x, y0 * k - w.y, x1 * k - w.x, y1 * k - w.y
            if min(bx0, by0) < lim or max(bx1, by1) > self.size - lim:
                w = self._centred(k, track.box, frame)
        self.window = w
        return w

    def _centred(
        self, scale: float, box: tuple[float, float, float, float], frame: tuple[int, int]
    ) -> Window:
        cx, cy = (box[0] + box[2]) / 2 * scale, (box[1] + box[3]) / 2 * scale
        half = self.size / 2
        return Window(scale, round(cx - half), round(cy - half), self.size, frame)


def frame_header(seq: int, t: float, window: Window | None) -> dict[str, Any]:
    header: dict[str, Any] = {"seq": seq, "t": t, "found": window is not None}
    if window is not None:
        header.update(
            scale=window.scale,
            x=window.x,
            y=window.y,
            size=window.size,
            fw=window.frame[0],
            fh=window.frame[1],
        )
    return header


def encode_frame(
    kind: bytes, seq: int, t: float, image: np.ndarray, track: FaceTrack, placer: WindowPlacer, quality: int
) -> bytes:
    """A ``FrameMessage`` for one camera frame (RGB uint8) and its track; only metadata without a face."""
    if not track.found or track.landmarks is None or track.box is None:
        return pack(kind, frame_header(seq, t, None))
    h, w = image.shape[:2]
    window = placer.place(track, (w, h))
    points = track.landmarks.astype(np.float64) * window.scale - np.array([window.x, window.y, 0.0])
    points[:, 2] = track.landmarks[:, 2] * window.scale
    # Fixed point, 1/32 of a window pixel (int16: +-1024 pixels): half the bytes of float32.
    landmarks = np.clip(np.rint(points * LANDMARK_STEPS), -32768, 32767).astype("<i2").tobytes()
    jpeg = encode_jpeg(window.cut(image), quality)
    header = frame_header(seq, t, window)
    header["lm"] = len(landmarks)
    return pack(kind, header, landmarks, jpeg)


@dataclass(frozen=True, slots=True)
class FrameMessage:
    """A driving frame as the worker sees it: ``landmarks`` (478, 3) float32 in window pixels (sent as
    int16 fixed point, ``LANDMARK_STEPS``) and the
    window's JPEG, both None when no face was found."""

    seq: int
    t: float
    window: Window | None
    landmarks: np.ndarray | None
    jpeg: bytes | None

    @classmethod
    def parse(cls, header: dict[str, Any], payload: memoryview) -> FrameMessage:
        seq = integer(header, "seq", 0, 2**53)
        t = number(header, "t", -1e12, 1e12)
        if header.get("found") is not True:
            return cls(seq, t, None, None, None)
        size = integer(header, "size", 1, 4096)
        if size not in WINDOW_SIZES:
            raise ProtocolError(f"window size {size}")
        scale = number(header, "scale", 1 / 64, MAX_SCALE)
        frame = (integer(header, "fw", 16, 16384), integer(header, "fh", 16, 16384))
        window = Window(
            scale, integer(header, "x", -65536, 65536), integer(header, "y", -65536, 65536), size, frame
        )
        width, height = window.canvas_size
        if max(width, height) > MAX_CANVAS_SIDE:
            raise ProtocolError(f"canvas of {width}x{height}")
        n = integer(header, "lm", 0, 1 << 20)
        if n != NUM_LANDMARKS * 3 * 2 or len(payload) < n:
            raise ProtocolError("landmarks of the wrong size")
        raw = np.frombuffer(payload[:n], "<i2").reshape(NUM_LANDMARKS, 3)
        landmarks = raw.astype(np.float32) / LANDMARK_STEPS
        if np.abs(landmarks).max() > 4 * size:
            raise ProtocolError("landmarks out of range")
        return cls(seq, t, window, landmarks, bytes(payload[n:]))


def result_header(seq: int, t: float, work_ms: float, shape: tuple[int, int]) -> dict[str, Any]:
    return {"seq": seq, "t": t, "ms": round(work_ms, 2), "h": shape[0], "w": shape[1]}


# -- the video downlink's frame numbers -------------------------------------------------------------
# A VP8 track carries no metadata of ours, and aiortc offsets RTP timestamps at random, so each video
# frame carries the sequence number it answers in a strip below the picture: 24 bits and an 8-bit check,
# one black or white cell each, big enough to survive the codec. The client cuts the strip off.
STRIP = 16  # pixels
_BITS = 32


def _check(seq: int) -> int:
    return (seq * 2654435761 >> 7) & 0xFF


def stamp_seq(image: np.ndarray, seq: int) -> np.ndarray:
    """``image`` (RGB uint8 (H, W, 3), W >= 64) with a ``STRIP``-pixel strip below holding ``seq``."""
    h, w = image.shape[:2]
    value = ((seq & 0xFFFFFF) << 8) | _check(seq & 0xFFFFFF)
    bits = np.array([(value >> (_BITS - 1 - i)) & 1 for i in range(_BITS)], np.uint8) * 255
    cell = w // _BITS
    strip = np.zeros((STRIP, w, 3), np.uint8)
    strip[:, : cell * _BITS] = np.repeat(bits, cell)[None, :, None]
    return np.ascontiguousarray(np.concatenate([image, strip], axis=0))


def read_seq(frame: np.ndarray) -> tuple[int | None, np.ndarray]:
    """(the sequence number, or None when the strip does not check out; the picture above the strip)."""
    picture, strip = frame[:-STRIP], frame[-STRIP:]
    w = frame.shape[1]
    cell = w // _BITS
    if cell < 2:
        return None, picture
    middle = strip[STRIP // 4 : -STRIP // 4, : cell * _BITS].mean(axis=(0, 2))
    cells = middle.reshape(_BITS, cell)[:, cell // 4 : cell - cell // 4].mean(axis=1)
    value = 0
    for level in cells:
        value = (value << 1) | int(level > 127)
    seq, check = value >> 8, value & 0xFF
    return (seq if _check(seq) == check else None), picture
