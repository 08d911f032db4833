"""Any timm model by name (``timm:convnext_tiny``), preprocessed as its pretrained config says.

Pretrained weights are read from this machine's caches only: the Hugging Face hub cache (where
timm keeps them) or the torch hub cache, and handed to timm as a local file, so timm never
downloads. ``weights="none"`` builds random weights; a checkpoint path loads a state dict.

A vision transformer (ViT, DeiT, Swin, ...: blocks with attention) is explained at the last block's
first normalisation, pytorch-grad-cam's recommended layer (:func:`token_layer`), its tokens seen as
maps by :func:`~suny.models.views.token_maps`.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from suny.errors import ModelError
from suny.models.checkpoints import checkpoint_classes, load_state
from suny.models.hub import hub_file, missing_weights, require, torch_hub_file
from suny.models.wrapper import Preprocessing, channel_triple, interpolation_mode

#: The first normalisation of a transformer block (``blocks.11.norm1``, ``layers.3.blocks.1.norm1``).
BLOCK_NORM = re.compile(r"(^|\.)blocks\.\d+\.norm1$")
#: The weight files of a timm repository on the Hugging Face hub, in timm's order of preference.
HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def timm_network(
    name: str, weights: str, checkpoint: dict[str, torch.Tensor] | None
) -> tuple[nn.Module, Preprocessing, None]:
    """The timm model ``name``, its preprocessing and no class names (timm's configs have none), with
    ``weights`` (see :func:`suny.models.load_model`)."""
    timm = require("timm", "timm", f"timm:{name}")
    if ":" in name or not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ModelError(f"timm has no model {name!r} (timm.list_models() lists them){hint}")
    kwargs: dict[str, Any] = {}
    if weights == "default":
        kwargs = {"pretrained": True, "pretrained_cfg_overlay": {"file": str(_cached_weights(timm, name))}}
    elif checkpoint is not None:
        kwargs = {"num_classes": checkpoint_classes(checkpoint)}
    try:
        network: nn.Module = timm.create_model(name, **kwargs)
    except (RuntimeError, OSError, KeyError) as err:
        raise ModelError(f"timm could not build {name}: {type(err).__name__}: {err}") from err
    if checkpoint is not None:
        load_state(network, checkpoint, f"timm:{name}")
    return network, timm_preprocessing(timm.data.resolve_model_data_config(network)), None


def _cached_weights(timm: Any, name: str) -> Path:
    """The local file of ``name``'s pretrained weights; the clear error when there is none."""
    cfg = timm.models.get_pretrained_cfg(name)
    hub_id: str = (cfg.hf_hub_id or "") if cfg else ""
    repo, _, revision = hub_id.partition("@")
    files = (cfg.hf_hub_filename,) if cfg and cfg.hf_hub_filename else HUB_WEIGHT_FILES
    found = (repo and hub_file(repo, files, revision or None)) or (cfg and torch_hub_file(cfg.url or ""))
    if found:
        return found
    if not cfg or not (repo or cfg.url):
        raise ModelError(f"timm has no pretrained weights for {name}; pass --weights none or --weights PATH")
    fetch = f"hf download {repo}" if repo else f"python -c \"import timm; timm.create_model('{name}', True)\""
    raise missing_weights(f"timm:{name}", fetch)


def timm_preprocessing(config: dict[str, Any]) -> Preprocessing:
    """timm's data config (input size, crop_pct, interpolation, mean, std) as a :class:`Preprocessing`."""
    crop = int(config["input_size"][-1])
    resize = math.floor(crop / float(config.get("crop_pct") or 1.0))
    interpolation = interpolation_mode(config.get("interpolation", "bilinear"))
    mean, std = channel_triple(config["mean"]), channel_triple(config["std"])
    return Preprocessing(resize, crop, mean, std, interpolation)


def token_layer(network: nn.Module) -> str | None:
    """The first normalisation of the network's last attention block (``blocks.11.norm1`` in a ViT or
    DeiT, ``layers.3.blocks.1.norm1`` in a Swin), as pytorch-grad-cam's docs recommend (a ViT's last
    block output reaches the head through the class token alone, so its grid carries no gradient);
    None for a network without attention blocks."""
    names = [
        name
        for name, _ in network.named_modules()
        if BLOCK_NORM.search(name) and hasattr(network.get_submodule(name.rsplit(".", 1)[0]), "attn")
    ]
    return names[-1] if names else None
