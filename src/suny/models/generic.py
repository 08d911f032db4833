"""Any classifier ``nn.Module`` made an :class:`ImageClassifier`, with its preprocessing declared.

``wrap_model(network, preprocessing=Preprocessing(...))`` is how the Python API explains a network
that no model source builds. Its output is adapted to logits: a tensor is used as it is, known
output objects (``.logits``, a dict with ``"logits"``, a tuple or list of logits first) are
adapted automatically, anything else by the ``output`` callable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from suny.models.classes import class_names_for
from suny.models.outputs import LogitsOutput, OutputAdapter, check_logits, known_adapter
from suny.models.trace import LayerTrace
from suny.models.views import ReshapeTransform
from suny.models.wrapper import ImageClassifier, Preprocessing, preserved_mode


def wrap_model(
    network: nn.Module,
    preprocessing: Preprocessing,
    class_names: Sequence[str] | None = None,
    *,
    name: str = "model",
    output: OutputAdapter | None = None,
    layer: str | None = None,
    device: str | torch.device | None = None,
    reshape_transform: ReshapeTransform | None = None,
) -> ImageClassifier:
    """Wrap a convolutional classifier so that every suny method can explain it.

    One forward pass at the preprocessing size checks what the network returns, counts the
    classes and records the layers (to find the default layer).

    Args:
        network: the classifier; it takes normalised images (B, 3, H, W) and returns logits or an
            output object that holds them. It is put in eval mode.
        preprocessing: how its weights expect an image (resize, centre crop, mean, std,
            interpolation); the mean and std are applied inside the wrapper.
        class_names: one name per class (default: ImageNet's for 1000 classes, else ``class i``).
        name: the model's name in messages and reports.
        output: turns the network's output into logits (B, classes), for outputs that are not
            logits nor a known output object.
        layer: the default explanation layer (default: the last spatial post-activation layer).
        device: where the model lives (default: where ``network`` is).
        reshape_transform: a layer's output to feature maps (B, C, h, w), as pytorch-grad-cam's
            (a transformer's tokens; :mod:`suny.models.views`); None: layers return feature maps.

    Returns:
        The wrapped classifier, in eval mode.

    Raises:
        ModelError: the network has no convolution, or its output is not logits.
        LayerError: ``layer`` cannot be explained.
    """
    network = network.eval().to(device) if device is not None else network.eval()
    place = next((p.device for p in network.parameters()), torch.device("cpu"))
    size = preprocessing.crop
    image = torch.zeros(1, 3, size, size, device=place)
    outputs: list[Any] = []
    with preserved_mode(network):
        trace = LayerTrace.record(network, lambda: outputs.append(network(image)))
    raw = outputs[0]
    adapter = output or known_adapter(raw)
    if adapter is not None:
        trace = trace.nested("model", network, (image,), raw)
        network, raw = LogitsOutput(network, adapter), adapter(raw)
    logits = check_logits(name, raw)
    names = class_names_for(logits.shape[1], class_names)
    model = ImageClassifier(
        network, preprocessing, names, layer, name=name, trace=trace, reshape_transform=reshape_transform
    ).to(place)
    if layer is not None:
        model.layer(layer)
    return model
