"""``suny layers MODEL``: the layers of a model that can be explained."""

from __future__ import annotations

import argparse
import json

from suny.models import DEFAULT_MODEL, available_models, load_model, model_sources


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "layers",
        help="list the layers of a model that can be explained",
        description="List the layers of MODEL that --layer accepts (modules that run once and return "
        "feature maps (B, C, H, W)), in the order they run; the default layer is marked with '*' and "
        "the convolutions that SUNY-filter prunes with 'conv'.",
    )
    parser.add_argument(
        "model",
        nargs="?",
        default=DEFAULT_MODEL,
        help="model name: a plain name (--list-models), timm:NAME (any timm model) or hf:REPO_OR_FOLDER "
        f"(a transformers image classifier in the Hugging Face cache or a folder) (default: {DEFAULT_MODEL})",
    )
    parser.add_argument("--weights", default="none", help="weights to load (layers do not depend on them)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--list-models", action="store_true", help="list the plain model names (and the prefixes) instead"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.list_models:
        print("\n".join(available_models()))
        print("\n".join(f"# {text}" for text in model_sources().values()))
        return 0
    model = load_model(args.model, args.weights)
    layers, convs = model.layer_names(), set(model.conv_names())
    if args.json:
        print(json.dumps({"default": model.default_layer, "layers": layers, "convs": sorted(convs)}))
        return 0
    for name in layers:
        marks = ("*" if name == model.default_layer else " ") + (" conv" if name in convs else "")
        print(f"{marks[0]} {name}{marks[1:]}")
    return 0
