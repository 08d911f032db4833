"""User checkpoints: state dicts read safely (``weights_only=True``) and loaded strictly."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from suny.errors import ModelError


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
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


def classifier_weight_key(state: dict[str, torch.Tensor]) -> str:
    """The key of the last 2-D weight (the classifier) in a state dict."""
    matrices = [k for k, v in state.items() if k.endswith("weight") and v.dim() == 2 and "Aux" not in k]
    if not matrices:
        raise ModelError("the checkpoint has no linear classifier weight")
    return matrices[-1]


def checkpoint_classes(state: dict[str, torch.Tensor], key: str | None = None) -> int:
    """The number of classes of the checkpoint's classifier (``key``, by default its last 2-D weight)."""
    key = key or classifier_weight_key(state)
    if key not in state:
        raise ModelError(f"the checkpoint has no {key!r}; is it for this architecture?")
    return int(state[key].shape[0])


def load_state(network: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """Load ``state`` into ``network`` strictly; a clear error when it does not fit."""
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelError(f"the checkpoint does not fit {name}: {err}") from err


def num_classes(network: nn.Module) -> int:
    """The output size of the network's last Linear layer (else of its last convolution)."""
    linear = [m for m in network.modules() if isinstance(m, nn.Linear)]
    if linear:
        return linear[-1].out_features
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ModelError("the network has no Conv2d layer: SUNY explains convolutional classifiers")
    return convs[-1].out_channels
