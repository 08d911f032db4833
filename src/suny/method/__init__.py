"""SUNY itself: cause games, Shapley responsibilities, the explainer and its explanation record."""

from suny.method.explanation import Explanation
from suny.method.registered import SunyCombined, SunyFilter, SunyNecessity, SunySufficiency
from suny.method.shapley import ShapleyEstimate, exact_shapley, sampled_shapley
from suny.method.suny import COMBINATIONS, Suny, combine

__all__ = [
    "COMBINATIONS",
    "Explanation",
    "ShapleyEstimate",
    "Suny",
    "SunyCombined",
    "SunyFilter",
    "SunyNecessity",
    "SunySufficiency",
    "combine",
    "exact_shapley",
    "sampled_shapley",
]
