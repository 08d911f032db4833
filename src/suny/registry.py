"""Every explanation method by name: the one module that imports each implementation.

A new method is a :class:`~suny.saliency.SaliencyMethod` subclass (in :mod:`suny.baselines` or
:mod:`suny.method`) with its registry names in ``map_names``, added to :data:`IMPLEMENTATIONS`.
Code outside the package adds its own with :func:`register_method`.
"""

from __future__ import annotations

from typing import Any

from suny.baselines import (
    RISE,
    CexCNN,
    GradCAM,
    GradCAMPlusPlus,
    GroupCAM,
    ScoreCAM,
    SmoothGrad,
    SmoothGradCAMPlusPlus,
)
from suny.errors import SunyError, name_choices
from suny.method.registered import SunyFeatureMethod, SunyFilterMethod
from suny.models.wrapper import ImageClassifier
from suny.saliency import SaliencyMethod

#: Every implementation, in the order :func:`method_names` lists their maps.
IMPLEMENTATIONS: tuple[type[SaliencyMethod], ...] = (
    SunyFeatureMethod,
    SunyFilterMethod,
    GradCAM,
    GradCAMPlusPlus,
    SmoothGradCAMPlusPlus,
    ScoreCAM,
    CexCNN,
    GroupCAM,
    RISE,
    SmoothGrad,
)
#: Registry name -> the implementation that returns that map.
METHODS: dict[str, type[SaliencyMethod]] = {
    name: implementation for implementation in IMPLEMENTATIONS for name in implementation.map_names
}


def register_method(implementation: type[SaliencyMethod]) -> type[SaliencyMethod]:
    """Make ``implementation`` available under its ``map_names``; usable as a class decorator.

    Registered methods are known to ``create_method``, ``suny evaluate --method`` and ``suny bench
    --methods``.

    Args:
        implementation: a :class:`~suny.saliency.SaliencyMethod` subclass.

    Returns:
        The same class.

    Raises:
        SunyError: a name is taken by another class.
    """
    for name in implementation.map_names:
        if METHODS.get(name, implementation) is not implementation:
            raise SunyError(f"the method name {name!r} is taken by {METHODS[name].__name__}")
    METHODS.update(dict.fromkeys(implementation.map_names, implementation))
    return implementation


def unregister_method(implementation: type[SaliencyMethod]) -> None:
    """Remove the names :func:`register_method` added for ``implementation``."""
    for name in implementation.map_names:
        if METHODS.get(name) is implementation:
            del METHODS[name]


def method_names() -> list[str]:
    """Every registered method name (one per map a method returns: ``suny``, ``suny-n``, ...)."""
    return list(METHODS)


def method_class(name: str) -> type[SaliencyMethod]:
    """The implementation registered as ``name``; a clear error listing the names otherwise."""
    if name not in METHODS:
        raise SunyError(
            f"unknown method {name!r}; {name_choices(name, list(METHODS), 'suny.method_names()')}"
        )
    return METHODS[name]


def create_method(name: str, model: ImageClassifier, **options: Any) -> SaliencyMethod:
    """Build the method registered as ``name`` on ``model``.

    Args:
        name: a registry name (:func:`method_names`).
        model: the classifier to explain.
        **options: the method's own options (``layer``, ``seed``, ``batch_size``, ...).

    Returns:
        The method, whose ``maps`` are the map called ``name``.
    """
    method = method_class(name)(model, **options)
    method.output = name
    return method


def shares_explanation(first: str, second: str) -> bool:
    """Whether the maps ``first`` and ``second`` come from one call of one implementation.

    Given equal options, ``suny``, ``suny-n`` and ``suny-s`` do.
    """
    return method_class(first) is method_class(second)
