"""Hugging Face transformers image classifiers (``hf:microsoft/resnet-50``, ``hf:/path/to/folder``).

The model, its config and its image processor config are read from this machine's Hugging Face
cache or from a ``save_pretrained`` folder, with ``local_files_only=True``: nothing is downloaded.
Class names come from ``config.id2label``, the preprocessing from the image processor config.

With ``weights="none"`` a repository that is not in the cache is still built where its architecture
is known without a file: the repositories of :data:`KNOWN_CONFIGS`, whose architecture transformers'
config class documents as its defaults (``ResNetConfig()`` is microsoft/resnet-50's), for
ImageNet's 1000 classes with their image processor's settings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from suny.errors import ModelError
from suny.models.checkpoints import checkpoint_classes, load_state
from suny.models.hub import hub_cache_dir, hub_file, missing_weights, require
from suny.models.wrapper import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, channel_triple, interpolation_mode

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
#: The image processor of transformers' ImageNet CNNs: short side 224 / 0.875, centre crop 224, bicubic.
CNN_PROCESSOR: dict[str, Any] = {"size": {"shortest_edge": 224}, "crop_pct": 0.875, "resample": 3}
#: Repositories whose architecture is the defaults of a transformers config class (its docstring
#: names the repository): hub id -> (model type, image processor settings). Built from these with
#: random weights when the repository is not in the cache.
KNOWN_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "microsoft/resnet-50": ("resnet", CNN_PROCESSOR),
    "facebook/convnext-tiny-224": ("convnext", CNN_PROCESSOR),
    "facebook/regnet-y-040": ("regnet", CNN_PROCESSOR),
}


def hf_network(
    source: str, weights: str, checkpoint: dict[str, torch.Tensor] | None
) -> tuple[nn.Module, Preprocessing, list[str] | None]:
    """The transformers classifier at ``source`` (a hub id in the cache or a folder), its
    preprocessing and class names (None when its config has only placeholder labels)."""
    name = f"hf:{source}"
    transformers = require("transformers", "hf", name)
    folder = _folder(source, name)
    config_file = _find(source, folder, ("config.json",))
    if config_file is None and weights != "default" and source in KNOWN_CONFIGS:
        return _known(transformers, source, checkpoint)
    if config_file is None:
        if folder:
            raise ModelError(f"{name}: the folder has no config.json (save_pretrained writes one)")
        raise ModelError(
            f"{name} is not in this machine's Hugging Face cache ({hub_cache_dir()}); put it there with "
            f"`hf download {source}` on a machine with internet (and copy the cache here), or pass "
            "hf:/path/to/folder (a save_pretrained folder); with --weights none (or a checkpoint), "
            f"{', '.join(KNOWN_CONFIGS)} need no file"
        )
    if weights == "default" and _find(source, folder, WEIGHT_FILES) is None:
        if folder is None:
            raise missing_weights(name, f"hf download {source}")
        raise ModelError(
            f"{name} holds no weights ({' or '.join(WEIGHT_FILES[::2])}); pass --weights PATH to a "
            "checkpoint (weights=PATH in Python) or --weights none for random weights"
        )
    # Read locally only, from the cache that hub_file searched.
    location, offline = (str(folder), {}) if folder else (source, {"cache_dir": hub_cache_dir()})
    auto = transformers.AutoModelForImageClassification
    try:
        config = transformers.AutoConfig.from_pretrained(location, local_files_only=True, **offline)
        if weights == "default":
            network: nn.Module = auto.from_pretrained(location, local_files_only=True, **offline)
        else:
            if checkpoint is not None and checkpoint_classes(checkpoint) != config.num_labels:
                config.num_labels = checkpoint_classes(checkpoint)
            network = auto.from_config(config)
    except (ValueError, OSError) as err:  # not an image classifier, unreadable files
        raise ModelError(f"{name}: transformers could not build an image classifier: {err}") from err
    if checkpoint is not None:
        load_state(network, checkpoint, name)
    network = network.float()  # weights saved in half precision load as such ("auto" dtype)
    processor = _find(source, folder, ("preprocessor_config.json",))
    settings = json.loads(processor.read_text(encoding="utf-8")) if processor else {}
    return network, hf_preprocessing(settings), _class_names(config)


def _known(
    transformers: Any, source: str, checkpoint: dict[str, torch.Tensor] | None
) -> tuple[nn.Module, Preprocessing, list[str] | None]:
    """The repository ``source`` of :data:`KNOWN_CONFIGS` built from its config class's defaults with
    random weights (or ``checkpoint``'s), for 1000 classes (the checkpoint's number where given)."""
    kind, processor = KNOWN_CONFIGS[source]
    classes = 1000 if checkpoint is None else checkpoint_classes(checkpoint)
    config = transformers.AutoConfig.for_model(kind, num_labels=classes)
    network: nn.Module = transformers.AutoModelForImageClassification.from_config(config)
    if checkpoint is not None:
        load_state(network, checkpoint, f"hf:{source}")
    return network, hf_preprocessing(processor), None


def _folder(source: str, name: str) -> Path | None:
    """The folder ``source`` names, or None for a hub id; a clear error for neither."""
    try:
        folder = Path(source).expanduser()
    except RuntimeError as err:  # ~user of a user this machine does not have
        raise ModelError(f"{name}: {err}") from err
    if source and folder.is_dir():
        return folder
    if not source or source.startswith((".", "/", "~")) or not REPO_ID.match(source):
        raise ModelError(f"{name}: no such folder (hf: takes a hub id like microsoft/resnet-50 or a folder)")
    return None


def _find(source: str, folder: Path | None, files: tuple[str, ...]) -> Path | None:
    """The first of ``files`` in the folder, or in the cached repository ``source``."""
    if folder is None:
        return hub_file(source, files)
    return next((folder / f for f in files if (folder / f).is_file()), None)


def _class_names(config: Any) -> list[str] | None:
    labels = getattr(config, "id2label", None) or {}
    names = [str(labels.get(i, labels.get(str(i), ""))) for i in range(int(config.num_labels))]
    placeholders = all(n in ("", f"LABEL_{i}") for i, n in enumerate(names))
    return None if placeholders else names


def hf_preprocessing(settings: dict[str, Any]) -> Preprocessing:
    """An image processor config (``size``, ``crop_pct``, ``crop_size``, ``image_mean``,
    ``image_std``, ``resample``) as a :class:`Preprocessing`; ImageNet's 224 crop when empty."""
    size = settings.get("size", 224)
    sizes = size if isinstance(size, dict) else {"shortest_edge": size}
    short = int(sizes.get("shortest_edge") or sizes.get("height") or 224)
    crop_size = settings.get("crop_size")
    crop_pct = settings.get("crop_pct")
    if crop_pct and "shortest_edge" in sizes and short < 384:  # ConvNeXt's processor: resize short / crop_pct
        resize, crop = int(short / crop_pct), short
    elif settings.get("do_center_crop") and crop_size:
        resize = short
        crop = int(crop_size["height"] if isinstance(crop_size, dict) else crop_size)
    else:
        resize = crop = short
    normalise = settings.get("do_normalize", True)
    mean = channel_triple(settings.get("image_mean", IMAGENET_MEAN)) if normalise else (0.0, 0.0, 0.0)
    std = channel_triple(settings.get("image_std", IMAGENET_STD)) if normalise else (1.0, 1.0, 1.0)
    return Preprocessing(resize, crop, mean, std, interpolation_mode(settings.get("resample", 2)))
