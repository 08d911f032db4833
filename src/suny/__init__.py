"""suny: necessary and sufficient causal explanations of CNN image classifiers (SUNY), the paper's
seven baselines and its evaluation suite.

    from suny import Suny, load_model, sample_image
    model = load_model()                                 # EfficientNet-Lite0, ImageNet weights
    explanation = Suny(model).explain(model.preprocess(sample_image()))

Coming from pytorch-grad-cam: ``SunyCAM(model=..., target_layers=[...])`` (:mod:`suny.compat`). In
Jupyter an explanation shows itself, and ``explanation.save(folder)`` writes its report
(:mod:`suny.notebook`, imported here so that explanations can always draw themselves).
"""

from suny import notebook  # noqa: F401  (installs how explanations draw themselves)
from suny.compat import SunyCAM
from suny.data import load_image, sample_image
from suny.errors import Cancelled, ImageError, LayerError, ModelError, SunyError, TargetError
from suny.method import Explanation, Suny
from suny.method.screening import ScreenSetting
from suny.models import ImageClassifier, Preprocessing, load_model, wrap_model
from suny.registry import create_method, method_names
from suny.saliency import SaliencyMethod, SaliencyResult

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "Explanation",
    "ImageClassifier",
    "ImageError",
    "LayerError",
    "ModelError",
    "Preprocessing",
    "SaliencyMethod",
    "SaliencyResult",
    "ScreenSetting",
    "Suny",
    "SunyCAM",
    "SunyError",
    "TargetError",
    "create_method",
    "load_image",
    "load_model",
    "method_names",
    "sample_image",
    "wrap_model",
]
