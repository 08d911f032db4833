"""Odd and bad image files: each becomes a correct RGB image or a clear ImageError."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from suny.data import load_image
from suny.data.images import to_rgb
from suny.errors import ImageError


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ImageError, match=r"broken\.jpg: not a readable image"):
        load_image(path)


def test_truncated_png_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError, match=r"cut\.png"):
        load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nothing.png")


def test_grayscale_becomes_three_equal_channels(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((5, 7), 100, dtype=np.uint8)).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (7, 5)
    assert np.asarray(image)[0, 0].tolist() == [100, 100, 100]


def test_rgba_is_composited_over_white(tmp_path):
    path = tmp_path / "rgba.png"
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)
    pixels[0, 0] = [255, 0, 0, 255]  # opaque red
    pixels[0, 1] = [255, 0, 0, 0]  # fully transparent
    pixels[1, 0] = [0, 0, 0, 128]  # half-transparent black
    Image.fromarray(pixels, mode="RGBA").save(path)
    rgb = np.asarray(load_image(path))
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[0, 1].tolist() == [255, 255, 255]
    assert abs(int(rgb[1, 0, 0]) - 127) <= 1


def test_sixteen_bit_png_uses_its_full_range(tmp_path):
    path = tmp_path / "deep.png"
    pixels = np.array([[0, 65535], [32768, 257]], dtype=np.uint16)
    Image.fromarray(pixels).save(path)
    rgb = np.asarray(load_image(path))
    assert rgb[:, :, 0].tolist() == [[0, 255], [128, 1]]


def test_float_image_in_unit_range():
    image = Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32), mode="F")
    assert np.asarray(to_rgb(image))[:, :, 1].tolist() == [[0, 128], [255, 64]]


def test_palette_image(tmp_path):
    path = tmp_path / "palette.gif"
    Image.new("RGB", (4, 4), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    assert np.asarray(load_image(path))[0, 0].tolist() == [10, 200, 30]


def test_huge_jpeg_is_decoded_at_reduced_scale(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (8000, 6000), (30, 60, 90)).save(path, quality=50)
    image = load_image(path, min_side=256)
    assert 256 <= min(image.size) < 6000 // 2  # decoded at a power-of-two reduction
    assert np.asarray(image)[100, 100].tolist() == pytest.approx([30, 60, 90], abs=3)


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    import suny.data.images as images

    path = tmp_path / "bomb.png"
    Image.new("L", (300, 300)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 300 * 300 - 1)
    with pytest.raises(ImageError, match="downscale it first"):
        load_image(path)


def test_original_size_reads_the_header_of_a_huge_jpeg(tmp_path):
    from suny.data import original_size

    path = tmp_path / "huge.jpg"
    Image.new("RGB", (4000, 3000), (30, 60, 90)).save(path, quality=30)
    assert original_size(path) == (4000, 3000)
    assert load_image(path, min_side=256).size != (4000, 3000)  # decoded smaller: boxes need the header
    with pytest.raises(ImageError, match="no such file"):
        original_size(tmp_path / "absent.jpg")


def encoded(image: Image.Image, format: str = "PNG", **options) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def test_each_conversion_comes_with_its_note():
    """What the conversion to RGB changed, as suny serve tells its uploader: one note per case,
    none for 8-bit RGB, and the image the same as load_image's."""
    from suny.data.images import decode_image, decode_with_note

    rgb = Image.new("RGB", (4, 4), (10, 200, 30))
    keyed = Image.new("L", (4, 4), 7)
    cases = {
        "rgb.png": (encoded(rgb), None),
        "rgb.jpg": (encoded(rgb, "JPEG"), None),
        "deep.png": (
            encoded(Image.fromarray(np.full((4, 4), 1000, np.uint16))),
            "16-bit grayscale converted to 8-bit RGB",
        ),
        "float.tif": (
            encoded(Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F"), "TIFF"),
            "32-bit float grayscale converted to 8-bit RGB",
        ),
        "rgba.png": (encoded(rgb.convert("RGBA")), "transparency composited over white"),
        "keyed.png": (encoded(keyed, transparency=7), "transparency composited over white"),
        "palette.gif": (
            encoded(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
            "palette converted to RGB",
        ),
        "gray.png": (encoded(keyed), "grayscale converted to RGB"),
        "bw.png": (encoded(Image.new("1", (4, 4), 1)), "black-and-white converted to RGB"),
        "cmyk.jpg": (encoded(Image.new("CMYK", (4, 4), (0, 50, 90, 10)), "JPEG"), "CMYK converted to RGB"),
    }
    for name, (data, note) in cases.items():
        image, told = decode_with_note(data, name)
        assert told == note, name
        assert image.mode == "RGB" and np.array_equal(np.asarray(image), np.asarray(decode_image(data, name)))
