"""An upload's way in: the request body read up to a limit, its multipart form parsed, the file
decoded as :func:`suny.data.images.decode_image` decodes bytes (what ``load_image`` does for a
file: 16-bit, transparent, palette and grayscale images become RGB, with a note of what changed
for the uploader) under a pixel limit checked on the header, before anything is decoded.

Every refusal is an :class:`UploadError` with its HTTP status and a message: 413 for a body over
the limit (read no further than :data:`DRAIN_LIMIT` past it, and not at all when its declared
length is larger) or an image of too many pixels, 415 for a request that is not a form, 400 for
the rest (no file, empty, not an image, truncated, any failure of a decoder, a side under
:data:`MIN_SIDE` pixels: a picture too small to explain, whose upsampled map would show nothing).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from suny.data.images import Decoded, decode_with_note
from suny.errors import ImageError, ImageTooLargeError
from suny.serve.errors import ServeError

logger = logging.getLogger(__name__)

#: The image formats accepted (PIL's names); PIL reads others (EPS through Ghostscript, ...).
ACCEPTED_FORMATS = ("BMP", "GIF", "JPEG", "PNG", "PPM", "TIFF", "WEBP")
#: Bytes of a form beyond its file (boundaries, part headers).
FORM_OVERHEAD = 64 * 1024
#: Bytes past the limit still read (and dropped) before the 413, so that a browser still sending
#: its file reads the answer rather than a reset connection. A longer body is not read on.
DRAIN_LIMIT = 16 * 2**20
#: The longest upload name kept.
NAME_LENGTH = 200
#: The shortest side of an image explained (a smaller one is refused).
MIN_SIDE = 16


class UploadError(ServeError):
    """An upload refused, with the HTTP status that says why."""


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The file of the form field ``file`` (at most ``limit`` bytes) and the name to show for it."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadError(415, "send the image as multipart/form-data, in a field named 'file'")
    body = await read_body(request, limit + FORM_OVERHEAD, limit)
    try:
        form = await MultiPartParser(request.headers, _once(body), max_files=1, max_fields=8).parse()
    except MultiPartException as err:
        raise UploadError(400, f"not a readable form: {err.message}") from err
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadError(400, "the form has no file in a field named 'file'")
        data = await upload.read()
        name = display_name(upload.filename)
    finally:
        await form.close()
    if len(data) > limit:
        raise UploadError(413, too_large(limit))
    return data, name


async def read_body(request: Request, limit: int, file_limit: int) -> bytes:
    """The request's body, read chunk by chunk: a 413 once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + DRAIN_LIMIT:
        raise UploadError(413, too_large(file_limit))
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + DRAIN_LIMIT:
                break
            if size <= limit:
                chunks.append(chunk)
    except ClientDisconnect as err:
        raise UploadError(400, "the upload was interrupted") from err
    if size > limit:
        raise UploadError(413, too_large(file_limit))
    return b"".join(chunks)


def too_large(limit: int) -> str:
    return f"the file is larger than the {limit / 2**20:g} MiB this server accepts (--max-upload-mb)"


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def display_name(filename: str | None) -> str:
    """The name an upload is listed under: its file name without folders or control characters,
    shortened (it is data, shown as text, never markup)."""
    name = re.split(r"[/\\]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable())[:NAME_LENGTH].strip()
    return name or "upload"


def decode_upload(data: bytes, name: str, max_pixels: int) -> Decoded:
    """The upload as an RGB picture with the note of what its conversion changed, or the
    :class:`UploadError` that says why not."""
    try:
        decoded = decode_with_note(data, name, max_pixels=max_pixels, formats=ACCEPTED_FORMATS)
    except ImageTooLargeError as err:
        raise UploadError(413, str(err)) from err
    except ImageError as err:
        raise UploadError(400, str(err)) from err
    except Exception as err:  # a decoder's own failure on a hostile file is still a bad file
        logger.warning("%s: the decoder failed (%s: %s)", name, type(err).__name__, err)
        raise UploadError(400, f"{name}: not a readable image ({type(err).__name__})") from err
    width, height = decoded.image.size
    if min(width, height) < MIN_SIDE:
        raise UploadError(
            400, f"{name}: too small to explain: {width}x{height} pixels; at least {MIN_SIDE} a side"
        )
    return decoded
