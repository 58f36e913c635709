"""sensor_msgs/Image <-> numpy, following cv_bridge's encoding rules (no cv_bridge needed).

The core functions work on the message *fields* (height, width, encoding, is_bigendian,
step, data), so they are usable and testable without ROS; ``image_msg_to_array`` and
``array_to_image_msg`` wrap them for real ``sensor_msgs.msg.Image`` objects.

Rules (as in cv_bridge ``imgmsg_to_cv2`` / ``cv2_to_imgmsg``):
- the encoding fixes dtype and channel count (table ``ENCODINGS``); 1-channel images
  come back as (H, W), multi-channel as (H, W, C);
- ``step`` is the row length in bytes and may exceed ``width * C * itemsize`` (row padding);
- multi-byte data is in the byte order ``is_bigendian`` says; arrays are returned in
  native order; messages are written in native order with ``is_bigendian`` set to match;
- encodings are not converted silently: use ``to_rgb8`` to get RGB for the model;
- bounded: a side above ``MAX_IMAGE_SIDE`` px or an aspect ratio above
  ``MAX_IMAGE_ASPECT`` raises ``ImageLimitError`` (a ValueError) before any decoding
  (a 1 x 65535 frame would ask the model's preprocessing for ~13 GB).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "rgb16": (np.dtype(np.uint16), 3),
    "bgr16": (np.dtype(np.uint16), 3),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "8UC4": (np.dtype(np.uint8), 4),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "32FC3": (np.dtype(np.float32), 3),
    "64FC1": (np.dtype(np.float64), 1),
}

NATIVE_BIGENDIAN = sys.byteorder == "big"
MAX_IMAGE_SIDE = 4096  # px
MAX_IMAGE_ASPECT = 4.0  # long side / short side


class ImageLimitError(ValueError):
    """An image's dimensions are outside the accepted bounds."""


def check_image_size(height: int, width: int, what: str = "image") -> None:
    """ImageLimitError naming ``what`` and its size unless it is within the bounds."""
    h, w = int(height), int(width)
    if h <= 0 or w <= 0:
        raise ImageLimitError(f"{what} height/width must be positive, got {h}x{w}")
    if max(h, w) > MAX_IMAGE_SIDE:
        raise ImageLimitError(f"{what} is {h}x{w} px: a side above the {MAX_IMAGE_SIDE} px limit")
    if max(h, w) / min(h, w) > MAX_IMAGE_ASPECT:
        raise ImageLimitError(
            f"{what} is {h}x{w} px: aspect ratio {max(h, w) / min(h, w):.1f} above the "
            f"{MAX_IMAGE_ASPECT:g} limit"
        )


def encoding_info(encoding: str) -> tuple[np.dtype, int]:
    """(dtype, channels) of a supported encoding; ValueError naming it otherwise."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ValueError(
            f"unsupported image encoding {encoding!r}; supported: {sorted(ENCODINGS)}"
        ) from None


def fields_to_array(
    height: int,
    width: int,
    encoding: str,
    is_bigendian: bool,
    step: int,
    data: bytes | bytearray | memoryview | np.ndarray | Any,
) -> np.ndarray:
    """Decode Image fields to a native-order array (H, W) or (H, W, C) (a copy)."""
    dtype, channels = encoding_info(encoding)
    height, width, step = int(height), int(width), int(step)
    check_image_size(height, width)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(
            f"image step {step} < width*channels*itemsize = {row_bytes} for {encoding} "
            f"{width} px wide"
        )
    if isinstance(data, np.ndarray):
        buf = data.view(np.uint8).reshape(-1)
    else:
        buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    need = step * (height - 1) + row_bytes
    if buf.size < need:
        raise ValueError(
            f"image data has {buf.size} bytes, {height}x{width} {encoding} with step {step} "
            f"needs {need}"
        )
    src = dtype.newbyteorder(">" if is_bigendian else "<")
    shape = (height, width, channels)
    strides = (step, channels * dtype.itemsize, dtype.itemsize)
    arr = np.ndarray(shape=shape, dtype=src, buffer=buf, strides=strides)
    arr = arr.astype(dtype.newbyteorder("="), copy=True)  # native order, contiguous
    return arr[:, :, 0] if channels == 1 else arr


def array_to_fields(array: np.ndarray, encoding: str) -> dict[str, Any]:
    """Encode an array as Image fields (height, width, encoding, is_bigendian, step, data).

    The array must already have the encoding's dtype and channel count, as in cv_bridge.
    """
    dtype, channels = encoding_info(encoding)
    array = np.asarray(array)
    if array.ndim == 2:
        arr_channels = 1
    elif array.ndim == 3:
        arr_channels = array.shape[2]
    else:
        raise ValueError(f"image array must be (H, W) or (H, W, C), got shape {array.shape}")
    if arr_channels != channels:
        raise ValueError(
            f"encoding {encoding} has {channels} channel(s), array has {arr_channels} "
            f"(shape {array.shape})"
        )
    if array.dtype.newbyteorder("=") != dtype:
        raise ValueError(f"encoding {encoding} needs dtype {dtype}, array has {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"image array is empty, shape {array.shape}")
    native = np.ascontiguousarray(array, dtype=dtype.newbyteorder("="))
    return {
        "height": int(native.shape[0]),
        "width": int(native.shape[1]),
        "encoding": encoding,
        "is_bigendian": NATIVE_BIGENDIAN if dtype.itemsize > 1 else False,
        "step": int(native.shape[1] * channels * dtype.itemsize),
        "data": native.tobytes(),
    }


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded array to (H, W, 3) uint8 RGB (for the world model)."""
    if encoding in ("rgb8", "8UC3"):
        return array
    if encoding == "bgr8":
        return np.ascontiguousarray(array[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(array[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(array[:, :, 2::-1])
    if encoding in ("mono8", "8UC1"):
        return np.repeat(array[:, :, None], 3, axis=2)
    raise ValueError(
        f"cannot use image encoding {encoding!r} as a colour camera frame "
        "(expected rgb8, bgr8, rgba8, bgra8 or mono8)"
    )


def image_msg_to_array(msg: Any) -> np.ndarray:
    """sensor_msgs/Image -> native numpy array in the message's encoding."""
    return fields_to_array(
        msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data
    )


def image_msg_to_rgb8(msg: Any) -> np.ndarray:
    """sensor_msgs/Image (rgb8/bgr8/rgba8/bgra8/mono8) -> (H, W, 3) uint8 RGB."""
    encoding_info(msg.encoding)
    if msg.encoding not in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3"):
        to_rgb8(np.zeros((1, 1, 1), np.uint8), msg.encoding)  # raises the ValueError
    return to_rgb8(image_msg_to_array(msg), msg.encoding)


def array_to_image_msg(
    array: np.ndarray, encoding: str = "rgb8", header: Any = None, msg: Any = None
) -> Any:
    """numpy array -> sensor_msgs/Image (imports sensor_msgs lazily)."""
    if msg is None:
        from sensor_msgs.msg import Image

        msg = Image()
    fields = array_to_fields(array, encoding)
    if header is not None:
        msg.header = header
    msg.height = fields["height"]
    msg.width = fields["width"]
    msg.encoding = fields["encoding"]
    msg.is_bigendian = int(fields["is_bigendian"])
    msg.step = fields["step"]
    msg.data = fields["data"]
    return msg
