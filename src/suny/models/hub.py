"""Optional model libraries and the local caches that pretrained weights are read from.

Nothing here downloads: a file is found in this machine's Hugging Face hub cache (where ``hf
download`` and timm put weights) or torch hub cache, or it is missing and the caller says how to
supply it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

import torch

from suny.errors import ModelError


def require(module: str, extra: str, model: str) -> ModuleType:
    """Import ``module`` for ``model``, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ModelError(
            f"{model} needs the {module} package: pip install 'suny[{extra}]' (or pip install {module})"
        ) from err


def hub_cache_dir() -> str:
    """This machine's Hugging Face hub cache (``HF_HUB_CACHE``, ``HF_HOME``/hub)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return "~/.cache/huggingface/hub"
    return str(constants.HF_HUB_CACHE)


def hub_file(repo_id: str, filenames: Sequence[str], revision: str | None = None) -> Path | None:
    """The first of ``filenames`` of the Hugging Face repository ``repo_id`` that is in this
    machine's hub cache, or None (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in filenames:
        try:
            found = try_to_load_from_cache(repo_id, filename, revision=revision)
        except ValueError:  # not a valid repository id
            return None
        if isinstance(found, str):
            return Path(found)
    return None


def torch_hub_file(url: str) -> Path | None:
    """The file that ``torch.hub.load_state_dict_from_url(url)`` would have saved, if it is there."""
    if not url:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    return path if path.is_file() else None


def missing_weights(model: str, fetch: str) -> ModelError:
    """The error for pretrained weights that are not on this machine, saying how to supply them."""
    return ModelError(
        f"the pretrained weights of {model} are not in this machine's caches (Hugging Face: "
        f"{hub_cache_dir()}; torch hub: {torch.hub.get_dir()}); put them there with `{fetch}` on a "
        "machine with internet (and copy the cache here), pass --weights PATH to a checkpoint "
        "(weights=PATH in Python), or --weights none for random weights"
    )
