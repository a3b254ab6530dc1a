"""ROS image payloads to NumPy, without cv_bridge (ROS-free: takes the message's fields).

Frames come out HxWx3 uint8 with their channel order ("bgr" or "rgb"), as views of the
message buffer where possible: the letterbox reads them once, so no copy is made here.
"""
from __future__ import annotations

import cv2
import numpy as np

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


def image_to_array(encoding: str, height: int, width: int, step: int, data) -> tuple[np.ndarray, str]:
    """sensor_msgs/Image fields -> (HxWx3 uint8 frame, channel order). Honours ``step`` padding."""
    spec = _ENCODINGS.get(encoding)
    if spec is None:
        raise ImageDecodeError("bad_encoding", f"unsupported encoding {encoding!r} "
                               f"(supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, conversion, order = spec
    if height <= 0 or width <= 0:
        raise ImageDecodeError("bad_size", f"empty image {width}x{height}")
    if step < width * channels:
        raise ImageDecodeError("bad_size", f"step {step} < width {width} x {channels} channels")
    buffer = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buffer.size < height * step:
        raise ImageDecodeError("bad_size", f"{buffer.size} bytes of data < height {height} x "
                               f"step {step}")
    rows = buffer[:height * step].reshape(height, step)[:, :width * channels]
    frame = rows.reshape(height, width, channels)
    if conversion is not None:
        frame = cv2.cvtColor(np.ascontiguousarray(frame) if channels == 1 else frame, conversion)
    return frame, order


def compressed_to_array(fmt: str, data) -> tuple[np.ndarray, str]:
    """sensor_msgs/CompressedImage (JPEG/PNG) -> (HxWx3 uint8 BGR frame, "bgr")."""
    buffer = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buffer.size == 0:
        raise ImageDecodeError("corrupt_compressed", f"empty compressed image (format {fmt!r})")
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
