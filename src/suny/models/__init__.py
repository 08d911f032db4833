"""Classifiers by name, wrapped so that every method sees [0, 1] images and logits."""

from suny.models.hooks import captured_output, forward_hooks
from suny.models.wrapper import ImageClassifier, Preprocessing, preserved_mode
from suny.models.zoo import (
    DEFAULT_MODEL,
    available_models,
    imagenet_class_names,
    imagenet_wnids,
    load_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "ImageClassifier",
    "Preprocessing",
    "available_models",
    "captured_output",
    "forward_hooks",
    "imagenet_class_names",
    "imagenet_wnids",
    "load_model",
    "preserved_mode",
]
