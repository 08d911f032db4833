"""Reading images from disk (or an upload's bytes) into RGB, whatever their mode, depth or size.

Files and bytes share one decoding path. Every odd case becomes either a correct RGB image or an
:class:`~suny.errors.ImageError` that names the file (:class:`~suny.errors.ImageTooLargeError`
when its header claims too many pixels, before anything is decoded): grayscale and palette images
are expanded to RGB, transparent images are composited over white, 16-bit and 32-bit images are
rescaled from their full range, and huge JPEGs are decoded at a reduced scale (``Image.draft``)
before they are resized.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from suny.errors import ImageError, ImageTooLargeError

#: Largest image (in pixels) that is decoded; PIL's own decompression-bomb guard is twice its default.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 10**9
#: Longest side that is decoded: PIL allocates a pointer per row before it reads a pixel, so a forged
#: header of one pixel by 40 million rows would cost 320 MB even within :data:`MAX_PIXELS`.
MAX_SIDE = 65_535


#: Pixels converted at a time from a deep grayscale image to 8 bits.
BLOCK_PIXELS = 2**20
#: The modes of deep grayscale images (rescaled to 8 bits from their range), by their depth.
DEEP_MODES = {
    "I;16": "16-bit",
    "I;16B": "16-bit",
    "I;16L": "16-bit",
    "I;16N": "16-bit",
    "I": "32-bit integer",
    "F": "32-bit float",
}
#: The modes composited over white (besides any image with a transparent colour).
ALPHA_MODES = ("P", "PA", "LA", "RGBA", "La")
#: What the other modes are called in a note (:func:`conversion_note`).
MODE_NAMES = {"1": "black-and-white", "L": "grayscale", "P": "palette", "CMYK": "CMYK", "LAB": "Lab"}

#: What PIL raises on a file it cannot read (a decompression bomb is none of these).
READ_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
)


class Decoded(NamedTuple):
    """An image read as 8-bit RGB, and what that changed (:func:`conversion_note`)."""

    image: Image.Image
    note: str | None


def load_image(path: str | Path, min_side: int | None = None) -> Image.Image:
    """Read ``path`` as an 8-bit RGB PIL image.

    ``min_side`` lets a huge JPEG decode at the smallest power-of-two reduction whose short side is
    still at least ``min_side`` pixels (what the model's preprocessing needs), which is much faster
    and uses far less memory than a full decode.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    return _decoded(path, str(path), min_side, None, None).image


def decode_image(
    data: bytes,
    name: str,
    min_side: int | None = None,
    max_pixels: int | None = None,
    formats: tuple[str, ...] | None = None,
) -> Image.Image:
    """The bytes of an image file (an upload) read as :func:`load_image` reads a file.

    Args:
        data: the file's bytes.
        name: what errors call it.
        min_side: as for :func:`load_image`.
        max_pixels: the largest image decoded (default: :data:`MAX_PIXELS`).
        formats: the PIL formats accepted (default: every one PIL reads).

    Raises:
        ImageTooLargeError: the header claims more than ``max_pixels`` pixels (or a side over
            :data:`MAX_SIDE`); nothing was decoded.
        ImageError: empty, not an image (of ``formats``), truncated or otherwise unreadable.
    """
    return decode_with_note(data, name, min_side, max_pixels, formats).image


def decode_with_note(
    data: bytes,
    name: str,
    min_side: int | None = None,
    max_pixels: int | None = None,
    formats: tuple[str, ...] | None = None,
) -> Decoded:
    """:func:`decode_image`, with a note of what the conversion to 8-bit RGB changed (for a user
    who uploaded the file)."""
    if not data:
        raise ImageError(f"{name}: empty file")
    return _decoded(io.BytesIO(data), name, min_side, max_pixels, formats)


def _decoded(
    source: Path | BinaryIO,
    name: str,
    min_side: int | None,
    max_pixels: int | None,
    formats: tuple[str, ...] | None,
) -> Decoded:
    """The one decoding path of files and bytes: checked size, JPEG draft, load, RGB."""
    with _opened(source, name, max_pixels, formats) as opened:
        if min_side is not None and opened.format == "JPEG":
            opened.draft("RGB", _draft_size(opened.size, min_side))
        opened.load()
        return Decoded(to_rgb(opened), conversion_note(opened))


def original_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header: the frame of its boxes, whatever the
    reduced size :func:`load_image` decoded a large JPEG at. A TIFF is decoded, as PIL applies its
    orientation tag only then."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    with _opened(path, str(path), None, None) as opened:
        if opened.format == "TIFF":
            opened.load()
        return opened.size


@contextmanager
def _opened(
    source: Path | BinaryIO, name: str, max_pixels: int | None, formats: tuple[str, ...] | None = None
) -> Iterator[Image.Image]:
    """``source`` opened by PIL, no larger than ``max_pixels`` (default :data:`MAX_PIXELS`) nor
    :data:`MAX_SIDE` a side; whatever PIL cannot read, then or while the caller decodes it, becomes
    an :class:`ImageError` naming ``name``."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source, formats=formats) as opened:
                width, height = opened.size
                if width * height > limit or max(width, height) > MAX_SIDE:
                    raise ImageTooLargeError(
                        f"{name}: {width}x{height} pixels is more than the {limit} (at most "
                        f"{MAX_SIDE} a side) this reader decodes; downscale it first"
                    )
                yield opened
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(f"{name}: too many pixels to decode ({err}); downscale it first") from err
    except READ_ERRORS as err:
        reason = "not a format PIL reads" if isinstance(err, UnidentifiedImageError) else err
        raise ImageError(f"{name}: not a readable image ({reason})") from err


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The requested draft size: keeps the short side at least ``min_side``."""
    width, height = size
    scale = max(min_side / min(width, height), 1 / 8)
    return max(1, int(width * scale)), max(1, int(height * scale))


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (transparency composited over white)."""
    if image.mode in DEEP_MODES:
        image = Image.fromarray(_to_uint8(np.asarray(image)))
    if _composited(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _composited(image: Image.Image) -> bool:
    """Whether :func:`to_rgb` composites ``image`` over white."""
    return image.mode in ALPHA_MODES or "transparency" in image.info


def conversion_note(image: Image.Image) -> str | None:
    """What :func:`to_rgb` does to ``image``, in a few words for a user ("16-bit grayscale converted
    to 8-bit RGB", "transparency composited over white"); None for an 8-bit RGB image, which it
    keeps as it is. Read from the mode as :func:`to_rgb` reads it."""
    if image.mode in DEEP_MODES:
        return f"{DEEP_MODES[image.mode]} grayscale converted to 8-bit RGB"
    if _composited(image) and (image.mode != "P" or "transparency" in image.info):
        return "transparency composited over white"
    if image.mode != "RGB":
        return f"{MODE_NAMES.get(image.mode, image.mode)} converted to RGB"
    return None


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Deep grayscale to 8 bits: 16-bit data by its full range 0..65535, anything else by [0, 1]
    when it lies there, else by its own minimum and maximum. Computed in float64 a block of
    :data:`BLOCK_PIXELS` at a time: a whole large image in float64 would take gigabytes."""
    low, high = float(array.min()), float(array.max())
    if low >= 0 and high > 1 and high <= 65535 and _integral(array):
        low, high = 0.0, 65535.0
    elif low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    result = np.zeros(array.shape, dtype=np.uint8)
    if high > low:
        rows = max(1, BLOCK_PIXELS // max(1, array.shape[-1]))
        for start in range(0, array.shape[0], rows):
            scaled = (array[start : start + rows].astype(np.float64) - low) / (high - low)
            result[start : start + rows] = np.round(np.clip(scaled, 0.0, 1.0) * 255)
    return result


def _integral(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.integer) or bool(np.all(array == np.round(array)))


def sample_image() -> Image.Image:
    """The cat photograph shipped with scikit-image (``skimage.data.chelsea``), 451x300 RGB."""
    from skimage import data

    pixels: np.ndarray = data.chelsea()  # type: ignore[no-untyped-call]
    return Image.fromarray(pixels)
