"""Reading images from disk into RGB, whatever their mode, depth or size.

Every odd case becomes either a correct RGB image or an :class:`~suny.errors.ImageError` that names
the file: grayscale and palette images are expanded to RGB, transparent images are composited over
white, 16-bit and 32-bit images are rescaled from their full range, and huge JPEGs are decoded at a
reduced scale (``Image.draft``) before they are resized.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from suny.errors import ImageError

#: Largest image (in pixels) that is decoded; PIL's own decompression-bomb guard is twice its default.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 10**9


#: What PIL raises on a file it cannot read (a decompression bomb is none of these).
READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def load_image(path: str | Path, min_side: int | None = None) -> Image.Image:
    """Read ``path`` as an 8-bit RGB PIL image.

    ``min_side`` lets a huge JPEG decode at the smallest power-of-two reduction whose short side is
    still at least ``min_side`` pixels (what the model's preprocessing needs), which is much faster
    and uses far less memory than a full decode.
    """
    with _opened(path) as opened:
        if min_side is not None and opened.format == "JPEG":
            opened.draft("RGB", _draft_size(opened.size, min_side))
        opened.load()
        return to_rgb(opened)


def original_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header: the frame of its boxes, whatever the
    reduced size :func:`load_image` decoded a large JPEG at. A TIFF is decoded, as PIL applies its
    orientation tag only then."""
    with _opened(path) as opened:
        if opened.format == "TIFF":
            opened.load()
        return opened.size


@contextmanager
def _opened(path: str | Path) -> Iterator[Image.Image]:
    """``path`` opened by PIL, no larger than :data:`MAX_PIXELS`; whatever PIL cannot read, then or
    while the caller decodes it, becomes an :class:`ImageError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise ImageError(
                        f"{path}: {opened.width}x{opened.height} pixels is more than the "
                        f"{MAX_PIXELS} this reader decodes; downscale it first"
                    )
                yield opened
    except READ_ERRORS as err:
        raise ImageError(f"{path}: not a readable image ({err})") from err


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The requested draft size: keeps the short side at least ``min_side``."""
    width, height = size
    scale = max(min_side / min(width, height), 1 / 8)
    return max(1, int(width * scale)), max(1, int(height * scale))


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (transparency composited over white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = Image.fromarray(_to_uint8(np.asarray(image, dtype=np.float64)))
    if image.mode in ("P", "PA", "LA", "RGBA", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Deep grayscale to 8 bits: 16-bit data by its full range 0..65535, anything else by [0, 1]
    when it lies there, else by its own minimum and maximum."""
    low, high = float(array.min()), float(array.max())
    if low >= 0 and high > 1 and high <= 65535 and np.all(array == np.round(array)):
        low, high = 0.0, 65535.0
    elif low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    scaled = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def sample_image() -> Image.Image:
    """The cat photograph shipped with scikit-image (``skimage.data.chelsea``), 451x300 RGB."""
    from skimage import data

    pixels: np.ndarray = data.chelsea()  # type: ignore[no-untyped-call]
    return Image.fromarray(pixels)
