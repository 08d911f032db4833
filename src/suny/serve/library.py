"""The images a server shows: the sample photo and a folder's images (everyone's), and each
session's uploads (its own).

An image is known by its id, the SHA-256 of its pixels as the server keeps them (RGB, at most
:data:`MAX_SIDE` a side): requests name images by id only, and an id is checked against its
pattern (:data:`~suny.serve.cache.CONTENT_ID`) before any use, so no request names a file. The
folder is read by the server itself, and a link in it that leads outside it is left out.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps

from suny.data.folder import is_image_file
from suny.data.images import decode_image, load_image, sample_image
from suny.errors import ImageError
from suny.serve.cache import CONTENT_ID, ServeStore, StoredImage

logger = logging.getLogger(__name__)

#: The longest side of an image as the server keeps it (the models see crops of 224 to 260 pixels).
MAX_SIDE = 1024
SAMPLE_NAME = "chelsea (sample)"

Source = Literal["sample", "folder", "upload"]


@dataclass(frozen=True)
class ImageEntry:
    """One image of the list: its id, name and where it comes from."""

    image_id: str
    name: str
    source: Source


def kept(picture: Image.Image) -> Image.Image:
    """``picture`` (RGB) as the server keeps it: shrunk to at most :data:`MAX_SIDE` a side."""
    if max(picture.size) <= MAX_SIDE:
        return picture
    return ImageOps.contain(picture, (MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)


def content_id(picture: Image.Image) -> str:
    """The id of a kept RGB picture: the SHA-256 of its size and pixels."""
    return hashlib.sha256(f"{picture.width}x{picture.height}:".encode() + picture.tobytes()).hexdigest()


def stored_image(picture: Image.Image) -> StoredImage:
    """A kept RGB picture with its id and PNG bytes."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return StoredImage(content_id(picture), buffer.getvalue(), picture.width, picture.height)


class ImageLibrary:
    """The sample, the folder (``None``: none) and the uploads that ``store`` keeps."""

    def __init__(self, store: ServeStore, folder: Path | None) -> None:
        self.store = store
        self.folder = None if folder is None else folder.resolve()
        self.sample = stored_image(kept(sample_image().convert("RGB")))
        self._folder_ids: dict[str, Path] = {}
        self._scanned: dict[Path, tuple[tuple[int, int], str | None]] = {}
        self._lock = threading.Lock()
        self._scan()  # the folder's ids are known before the first listing (results refer to them)

    def entries(self, session: str) -> list[ImageEntry]:
        """Every image ``session`` may pick: the sample, the folder's, then its uploads in order."""
        return [
            ImageEntry(self.sample.image_id, SAMPLE_NAME, "sample"),
            *(ImageEntry(image_id, name, "folder") for image_id, name in self._scan()),
            *(ImageEntry(image_id, name, "upload") for image_id, name in self.store.uploads(session)),
        ]

    def visible(self, image_id: str, session: str) -> bool:
        """Whether ``session`` may see the image ``image_id`` (False for any other text)."""
        if not CONTENT_ID.fullmatch(image_id):
            return False
        with self._lock:
            shared = image_id == self.sample.image_id or image_id in self._folder_ids
        return shared or self.store.has_upload(session, image_id)

    def image(self, image_id: str, session: str) -> StoredImage | None:
        """The image ``image_id`` if ``session`` may see it (None for any other text)."""
        if not CONTENT_ID.fullmatch(image_id):
            return None
        if image_id == self.sample.image_id:
            return self.sample
        uploaded = self.store.uploaded_image(session, image_id)
        if uploaded is not None:
            return uploaded
        with self._lock:
            path = self._folder_ids.get(image_id)
        picture = None if path is None else self._read(path)
        if picture is None or content_id(picture) != image_id:  # gone, or changed since the listing
            return None
        return stored_image(picture)

    def picture(self, image_id: str, session: str) -> Image.Image | None:
        """The RGB picture of :meth:`image`."""
        image = self.image(image_id, session)
        return None if image is None else decode_image(image.png, image_id)

    def add_upload(self, session: str, name: str, picture: Image.Image) -> StoredImage:
        """Keep a decoded upload (RGB) of ``session`` under ``name``."""
        image = stored_image(kept(picture))
        self.store.add_upload(session, image, name)
        return image

    def _scan(self) -> list[tuple[str, str]]:
        """(id, name) of the folder's images, by path, each picture once; a file is read again only
        once it changed, and the ids of files gone are forgotten."""
        if self.folder is None:
            return []
        found: dict[str, Path] = {}
        with self._lock:
            for path in sorted(self.folder.rglob("*")):
                if not is_image_file(path):
                    continue
                info = path.stat()
                stamp = (info.st_mtime_ns, info.st_size)
                if self._scanned.get(path, ((-1, -1), None))[0] != stamp:
                    picture = self._read(path)
                    self._scanned[path] = (stamp, None if picture is None else content_id(picture))
                image_id = self._scanned[path][1]
                if image_id is not None:
                    found.setdefault(image_id, path)
            self._folder_ids = found
        return [(image_id, path.relative_to(self.folder).as_posix()) for image_id, path in found.items()]

    def _read(self, path: Path) -> Image.Image | None:
        """The kept picture of a folder's file; None where it cannot be read or is a link that
        leads outside the folder."""
        if self.folder is None or not path.resolve().is_relative_to(self.folder):
            return None
        try:
            return kept(load_image(path))
        except ImageError as err:
            logger.warning("left out of the folder's images: %s", err)
            return None
