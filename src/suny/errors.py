"""Errors raised for bad input: each says what was wrong and what to do instead."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

#: Lists of names up to this long are given whole in an error; longer ones by their nearest matches.
WHOLE_LIST = 20


class SunyError(Exception):
    """Base class of every error that suny raises on purpose (the CLI prints these without a traceback)."""


class ImageError(SunyError):
    """An image file could not be read or converted to RGB."""


class LayerError(SunyError):
    """A layer name is unknown or cannot be explained (the message lists the valid names)."""


class TargetError(SunyError):
    """A target class is out of range or unknown."""


class ModelError(SunyError):
    """A model cannot be built, loaded or explained."""


def name_choices(name: str, valid: Sequence[str], listing: str) -> str:
    """What to say of the valid names after an unknown ``name``: all of them when they are few
    (:data:`WHOLE_LIST`), else the nearest matches and where the whole list is (``listing``, e.g.
    ``'suny layers MODEL'``)."""
    if len(valid) <= WHOLE_LIST:
        return "valid names: " + ", ".join(valid)
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4)
    nearest = f"did you mean {', '.join(close)}? " if close else ""
    return f"{nearest}{listing} lists all {len(valid)}"
