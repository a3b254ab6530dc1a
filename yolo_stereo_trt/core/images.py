"""ROS image payloads to NumPy, without cv_bridge (ROS-free: takes the message's fields).

Frames come out HxWx3 uint8 with their channel order ("bgr" or "rgb"), as views of the
message buffer where possible: the letterbox reads them once, so no copy is made here.

Input that costs without limit is refused before any work: a compressed image's declared size
is read from its JPEG/PNG header (``declared_size``) and checked against ``max_pixels`` before
decoding, so a 1 MB PNG declaring 20000x20000 never allocates its 1.2 GB. Conditions that do
not stop a frame (data longer than height x step) go to the optional ``warn(kind, message)``
callback, so the caller counts them (the node passes its throttled, counted ``_report``).
"""
from __future__ import annotations

import struct
from typing import Callable

import cv2
import numpy as np

Warn = Callable[[str, str], None]

# channels, OpenCV conversion to BGR (None: use as is), resulting channel order
_ENCODINGS: dict[str, tuple[int, int | None, str]] = {
    "bgr8": (3, None, "bgr"),
    "rgb8": (3, None, "rgb"),
    "bgra8": (4, cv2.COLOR_BGRA2BGR, "bgr"),
    "rgba8": (4, cv2.COLOR_RGBA2RGB, "rgb"),
    "mono8": (1, cv2.COLOR_GRAY2BGR, "bgr"),
    "8UC1": (1, cv2.COLOR_GRAY2BGR, "bgr"),
    "8UC3": (3, None, "bgr"),
    # ROS names the Bayer pattern from the top-left pixel; OpenCV from the second row (as cv_bridge maps them)
    "bayer_rggb8": (1, cv2.COLOR_BayerBG2BGR, "bgr"),
    "bayer_bggr8": (1, cv2.COLOR_BayerRG2BGR, "bgr"),
    "bayer_gbrg8": (1, cv2.COLOR_BayerGR2BGR, "bgr"),
    "bayer_grbg8": (1, cv2.COLOR_BayerGB2BGR, "bgr"),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


class ImageDecodeError(ValueError):
    """An image message that cannot be turned into a frame; ``kind`` names the error counter."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _check_pixels(width: int, height: int, max_pixels: int | None, what: str) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError("too_large", f"{what} declares {width}x{height} = "
                               f"{width * height} pixels > max_image_pixels {max_pixels}: refused "
                               f"before decoding")


def image_to_array(encoding: str, height: int, width: int, step: int, data,
                   max_pixels: int | None = None, warn: Warn | None = None
                   ) -> tuple[np.ndarray, str]:
    """sensor_msgs/Image fields -> (HxWx3 uint8 frame, channel order). Honours ``step`` padding.

    Raises ImageDecodeError (kind bad_encoding, bad_size, too_large); data longer than
    height x step is used (the rows it declares) and reported as ``warn("long_data", ...)``.
    """
    spec = _ENCODINGS.get(encoding)
    if spec is None:
        raise ImageDecodeError("bad_encoding", f"unsupported encoding {encoding!r} "
                               f"(supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, conversion, order = spec
    if height <= 0 or width <= 0:
        raise ImageDecodeError("bad_size", f"empty image {width}x{height}")
    _check_pixels(width, height, max_pixels, "image")
    if step < width * channels:
        raise ImageDecodeError("bad_size", f"step {step} < width {width} x {channels} channels")
    buffer = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buffer.size < height * step:
        raise ImageDecodeError("bad_size", f"{buffer.size} bytes of data < height {height} x "
                               f"step {step}")
    if buffer.size > height * step and warn is not None:
        warn("long_data", f"{buffer.size} bytes of data > height {height} x step {step}: "
             f"{buffer.size - height * step} trailing bytes ignored")
    rows = buffer[:height * step].reshape(height, step)[:, :width * channels]
    frame = rows.reshape(height, width, channels)
    if conversion is not None:
        frame = cv2.cvtColor(np.ascontiguousarray(frame) if channels == 1 else frame, conversion)
    return frame, order


# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def declared_size(data) -> tuple[int, int] | None:
    """(width, height) a JPEG or PNG declares in its header, read without decoding (a walk over
    the JPEG marker segments, no copy); None when the data is neither or is cut short before
    the size."""
    buf = memoryview(data).cast("B")
    n = len(buf)
    if bytes(buf[:8]) == _PNG_SIGNATURE:
        if n < 24 or bytes(buf[12:16]) != b"IHDR":
            return None
        width, height = struct.unpack_from(">II", buf, 16)
        return width, height
    if bytes(buf[:2]) != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= n:  # marker segments up to the frame header
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before a frame header
            return None
        (length,) = struct.unpack_from(">H", buf, i + 2)
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            height, width = struct.unpack_from(">HH", buf, i + 5)
            return width, height
        if length < 2:
            return None
        i += 2 + length
    return None


def compressed_to_array(fmt: str, data, max_pixels: int | None = None
                        ) -> tuple[np.ndarray, str]:
    """sensor_msgs/CompressedImage (JPEG/PNG) -> (HxWx3 uint8 BGR frame, "bgr").

    With ``max_pixels`` the size declared in the JPEG/PNG header is checked first and a larger
    image refused (kind too_large) without decoding; data without a readable JPEG/PNG size is
    refused then too (kind corrupt_compressed). Raises ImageDecodeError.
    """
    buffer = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buffer.size == 0:
        raise ImageDecodeError("corrupt_compressed", f"empty compressed image (format {fmt!r})")
    if max_pixels is not None:
        size = declared_size(buffer)
        if size is None:
            raise ImageDecodeError("corrupt_compressed", f"no JPEG/PNG header with a size "
                                   f"(format {fmt!r}, {buffer.size} bytes)")
        if size[0] == 0 or size[1] == 0:
            raise ImageDecodeError("bad_size", f"compressed image declares {size[0]}x{size[1]}")
        _check_pixels(size[0], size[1], max_pixels, "compressed image")
    frame = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if frame is None:
        raise ImageDecodeError("corrupt_compressed", f"cannot decode compressed image "
                               f"(format {fmt!r}, {buffer.size} bytes)")
    return frame, "bgr"


def array_to_image_fields(frame: np.ndarray) -> dict:
    """BGR frame -> the fields of a bgr8 sensor_msgs/Image (for debug images and tools)."""
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    return {"height": h, "width": w, "encoding": "bgr8", "is_bigendian": 0, "step": w * 3,
            "data": frame.tobytes()}
