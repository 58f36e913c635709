"""image_codec: cv_bridge encoding rules over plain Image fields, plus one real message."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_planner_node import image_codec as ic


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize(
    "encoding,shape,dtype",
    [
        ("rgb8", (5, 7, 3), np.uint8),
        ("bgr8", (5, 7, 3), np.uint8),
        ("mono8", (5, 7), np.uint8),
        ("mono16", (5, 7), np.uint16),
        ("32FC1", (5, 7), np.float32),
        ("rgba8", (4, 3, 4), np.uint8),
    ],
)
def test_roundtrip(encoding: str, shape: tuple, dtype: type) -> None:
    arr = (_rng().random(shape) * 1000).astype(dtype)
    f = ic.array_to_fields(arr, encoding)
    assert f["step"] == shape[1] * (shape[2] if len(shape) == 3 else 1) * np.dtype(dtype).itemsize
    back = ic.fields_to_array(**f)
    assert back.shape == shape and back.dtype == dtype
    np.testing.assert_array_equal(back, arr)


def test_row_padding_is_skipped() -> None:
    arr = _rng().integers(0, 255, (3, 4, 3), dtype=np.uint8)
    step = 4 * 3 + 5  # 5 padding bytes per row
    padded = np.full((3, step), 0xEE, np.uint8)
    padded[:, :12] = arr.reshape(3, 12)
    back = ic.fields_to_array(3, 4, "rgb8", False, step, padded.tobytes())
    np.testing.assert_array_equal(back, arr)
    # last row may omit its padding (cv_bridge accepts step*(h-1)+row bytes)
    back = ic.fields_to_array(3, 4, "rgb8", False, step, padded.tobytes()[:-5])
    np.testing.assert_array_equal(back, arr)


def test_big_endian_mono16_and_float() -> None:
    arr16 = np.array([[1, 256], [513, 65535]], np.uint16)
    back = ic.fields_to_array(2, 2, "mono16", True, 4, arr16.astype(">u2").tobytes())
    np.testing.assert_array_equal(back, arr16)
    assert back.dtype == np.uint16 and back.dtype.isnative
    arrf = np.array([[1.5, -2.25, 3e8]], np.float32)
    back = ic.fields_to_array(1, 3, "32FC1", True, 12, arrf.astype(">f4").tobytes())
    np.testing.assert_array_equal(back, arrf)
    back = ic.fields_to_array(1, 3, "32FC1", False, 12, arrf.astype("<f4").tobytes())
    np.testing.assert_array_equal(back, arrf)


def test_to_rgb8_conversions() -> None:
    rgb = _rng().integers(0, 255, (2, 3, 3), dtype=np.uint8)
    np.testing.assert_array_equal(ic.to_rgb8(rgb[:, :, ::-1], "bgr8"), rgb)
    rgba = np.concatenate([rgb, np.full((2, 3, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(ic.to_rgb8(rgba, "rgba8"), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((2, 3, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(ic.to_rgb8(bgra, "bgra8"), rgb)
    mono = rgb[:, :, 0]
    out = ic.to_rgb8(mono, "mono8")
    assert out.shape == (2, 3, 3) and (out[:, :, 2] == mono).all()
    with pytest.raises(ValueError, match="32FC1"):
        ic.to_rgb8(np.zeros((2, 2), np.float32), "32FC1")


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv422'"):
        ic.fields_to_array(2, 2, "yuv422", False, 4, b"\0" * 8)
    with pytest.raises(ValueError, match="step 5 <"):
        ic.fields_to_array(2, 2, "rgb8", False, 5, b"\0" * 12)
    with pytest.raises(ValueError, match="has 11 bytes"):
        ic.fields_to_array(2, 2, "rgb8", False, 6, b"\0" * 11)
    with pytest.raises(ValueError, match="positive"):
        ic.fields_to_array(0, 2, "rgb8", False, 6, b"")
    with pytest.raises(ValueError, match="3 channel"):
        ic.array_to_fields(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ValueError, match="dtype uint8"):
        ic.array_to_fields(np.zeros((2, 2, 3), np.float32), "rgb8")


def test_real_sensor_msgs_image() -> None:
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    rgb = _rng().integers(0, 255, (6, 8, 3), dtype=np.uint8)
    msg = ic.array_to_image_msg(rgb, "bgr8", header=Header(frame_id="cam"))
    assert isinstance(msg, Image)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (6, 8, 24, "bgr8")
    assert msg.header.frame_id == "cam"
    np.testing.assert_array_equal(ic.image_msg_to_array(msg), rgb)
    np.testing.assert_array_equal(ic.image_msg_to_rgb8(msg), rgb[:, :, ::-1])
    msg.encoding = "32FC1"
    with pytest.raises(ValueError, match="colour camera frame"):
        ic.image_msg_to_rgb8(msg)


def test_dimension_and_aspect_limits() -> None:
    from vjepa2_planner_node.image_codec import (
        MAX_IMAGE_SIDE,
        ImageLimitError,
        check_image_size,
        fields_to_array,
    )

    with pytest.raises(ImageLimitError, match="1x65535"):
        fields_to_array(1, 65535, "rgb8", False, 65535 * 3, b"\x00" * (65535 * 3))
    with pytest.raises(ImageLimitError, match="aspect"):
        fields_to_array(1, 4096, "mono8", False, 4096, b"\x00" * 4096)
    with pytest.raises(ImageLimitError, match="limit"):
        check_image_size(MAX_IMAGE_SIDE + 1, MAX_IMAGE_SIDE + 1)
    check_image_size(720, 1280)  # a DROID frame is fine
    assert fields_to_array(2, 8, "mono8", False, 8, b"\x01" * 16).shape == (2, 8)
