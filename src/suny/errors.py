"""Errors raised for bad input: each says what was wrong and what to do instead."""

from __future__ import annotations


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
