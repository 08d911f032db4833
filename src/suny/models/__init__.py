"""Classifiers by name, wrapped so that every method sees [0, 1] images and logits."""

from suny.models.classes import imagenet_class_names, imagenet_wnids
from suny.models.generic import wrap_model
from suny.models.hooks import captured_output, forward_hooks
from suny.models.wrapper import ImageClassifier, Preprocessing, preserved_mode
from suny.models.zoo import DEFAULT_MODEL, available_models, load_model, model_sources

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
    "model_sources",
    "preserved_mode",
    "wrap_model",
]
