"""Errors raised for bad input: each says what was wrong and what to do instead."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

#: Lists of names up to this long are given whole in an error; longer ones by their nearest matches.
WHOLE_LIST = 20


#: The characters that end a line (``str.splitlines``), as a message shows them: escaped.
LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


class SunyError(Exception):
    """Base class of every error that suny raises on purpose (the CLI prints these without a traceback).

    Its message is one line whatever it quotes (a file name, a class name, another library's error):
    line breaks show escaped, as ``\\n``.
    """

    def __str__(self) -> str:
        return super().__str__().translate(LINE_BREAKS)


class ImageError(SunyError):
    """An image file could not be read or converted to RGB."""


class ImageTooLargeError(ImageError):
    """An image whose header claims more pixels than the reader decodes (a decompression bomb)."""


class Cancelled(SunyError):
    """A run stopped on its caller's request: raised by a progress callback to end the run."""


class LayerError(SunyError):
    """A layer name is unknown or cannot be explained (the message lists the valid names)."""


class TargetError(SunyError):
    """A target class is out of range or unknown."""


class ModelError(SunyError):
    """A model cannot be built, loaded or explained."""


class OptionError(SunyError, ValueError):
    """An option's value is not one it takes (a ValueError as well, as Python's own checks raise)."""


def name_choices(name: str, valid: Sequence[str], listing: str) -> str:
    """What to say of the valid names after an unknown ``name``: all of them when they are few
    (:data:`WHOLE_LIST`), else the nearest matches and where the whole list is (``listing``, e.g.
    ``'suny layers MODEL'``)."""
    if len(valid) <= WHOLE_LIST:
        return "valid names: " + ", ".join(valid)
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4)
    nearest = f"did you mean {', '.join(close)}? " if close else ""
    return f"{nearest}{listing} lists all {len(valid)}"
