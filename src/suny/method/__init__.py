"""SUNY itself: cause games, Shapley responsibilities, the explainer and its explanation record."""

from suny.method.explanation import Explanation
from suny.method.progress import ProgressCallback
from suny.method.registered import SunyFeatureMethod, SunyFilterMethod
from suny.method.shapley import ShapleyEstimate, exact_shapley, sampled_shapley
from suny.method.suny import COMBINATIONS, DEFAULT_COMBINATION, Suny, combine

__all__ = [
    "COMBINATIONS",
    "DEFAULT_COMBINATION",
    "Explanation",
    "ProgressCallback",
    "ShapleyEstimate",
    "Suny",
    "SunyFeatureMethod",
    "SunyFilterMethod",
    "combine",
    "exact_shapley",
    "sampled_shapley",
]
