"""SUNY behind pytorch-grad-cam's calling convention: switching from Grad-CAM is one line.

::

    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from suny.compat import SunyCAM           # was: from pytorch_grad_cam import GradCAM

    with SunyCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(281)])  # float32 (B, H, W) in [0, 1]

As with pytorch-grad-cam, ``model`` is the user's own ``nn.Module`` and ``input_tensor`` is what it
takes (normalised). :class:`SunyCAM` wraps the model in a :class:`~suny.models.ImageClassifier`
whose normalisation is the identity (or ``mean``/``std`` when given) and finds each target layer's
name by identity among ``model.named_modules()``. No hook outlives a call, and the train/eval flag
of every module is restored after it.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from suny.engine import Precision
from suny.errors import LayerError, ModelError, SunyError, TargetError
from suny.interventions.feature import Substrate
from suny.method.explanation import CauseType, Explanation
from suny.method.suny import DEFAULT_COMBINATION, Combination, Suny
from suny.models import ImageClassifier, Preprocessing, imagenet_class_names, preserved_mode
from suny.models.views import ReshapeTransform
from suny.ops import minmax

MapName = Literal["combined", "necessity", "sufficiency"]
MAP_NAMES: tuple[MapName, ...] = ("combined", "necessity", "sufficiency")


def layer_name(network: nn.Module, layer: nn.Module) -> str:
    """The name of ``layer`` in ``network``, found by identity.

    Args:
        network: the model.
        layer: one of its modules.

    Returns:
        Its dotted name (as ``network.get_submodule`` takes it).

    Raises:
        LayerError: ``layer`` is not a submodule of ``network``.
    """
    for name, module in network.named_modules():
        if module is layer and name:
            return str(name)
    raise LayerError(
        f"the target layer {type(layer).__name__} is not a submodule of the model "
        f"({type(network).__name__}): pass modules of the model itself, e.g. target_layers=[model.layer4[-1]]"
    )


class SunyCAM:
    """pytorch-grad-cam's ``GradCAM(model=..., target_layers=[...])``, explained by SUNY.

    Several target layers are explained one by one and their maps averaged, then rescaled to
    [0, 1], as pytorch-grad-cam combines layers (each layer costs a whole SUNY explanation).

    **What removing pixels means.** SUNY-feature's masks multiply the image and put the substrate
    (black by default) where a cause is removed. Without ``mean``/``std`` the masks act on the
    normalised ``input_tensor``, so a removed pixel becomes 0 there: the dataset's mean colour, not
    black. Give the normalisation's ``mean`` and ``std`` (those of the training data, e.g. ImageNet's)
    to map the input back to [0, 1] and remove pixels to black, as the paper and ``suny explain``
    do. SUNY-filter prunes filters and never touches pixels, so for it the choice does not matter.

    **Vision transformers.** ``reshape_transform`` is pytorch-grad-cam's: a callable from a target
    layer's output (tokens (B, N, D) for a ViT or DeiT, channels-last maps (B, H, W, C) for a Swin)
    to feature maps (B, C, h, w), e.g. ``lambda x: x[:, 1:].reshape(len(x), 14, 14, x.shape[2])
    .permute(0, 3, 1, 2)`` for a ViT-B/16 at 224 (its class token dropped). SUNY-feature masks the
    input with the upsampled channels of those maps; for SUNY-filter a "filter" is one channel of
    them, one embedding dimension over the token grid, pruned by zeroing it there and writing the
    tokens back (a reshape that computes rather than selects entries cannot be written back and is
    refused for it). :func:`suny.models.views.token_maps` is such a transform for timm's ViT, DeiT
    and Swin at any input size.

    Args:
        model: the user's classifier (a :class:`~suny.models.ImageClassifier` is used as it is,
            and then ``input_tensor`` is in [0, 1], as everywhere in suny).
        target_layers: the modules whose causes are explained (a list, as pytorch-grad-cam's).
        reshape_transform: a target layer's output to feature maps (B, C, h, w) (see above); None:
            the outputs are feature maps already.
        cause: "feature" (feature maps; masks the input) or "filter" (prunes filters; fast).
        map: which map a call returns: "combined", "necessity" or "sufficiency".
        set_size: size of SUNY's hypothesised sets (default: suny's per cause type).
        permutations: Shapley sampling rounds (when the games are not solved exactly).
        combination: how the combined map joins N and S (:func:`suny.method.combine`; default suny's).
        substrate: what removed pixels become: "black" (0; see above), "blur" or "mean".
        mean: the per-channel mean of the input's normalisation (with ``std``).
        std: the per-channel standard deviation of the input's normalisation.
        class_names: names of the model's classes (default: ImageNet's for 1000 classes, else
            "class 0", ...); they label the explanations.
        batch_size: interventions per forward pass.
        precision: of the interventions' forward passes.
        seed: of the Shapley sampling.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: ReshapeTransform | None = None,
        *,
        cause: CauseType = "feature",
        map: MapName = "combined",
        set_size: int | None = None,
        permutations: int = 16,
        combination: Combination = DEFAULT_COMBINATION,
        substrate: Substrate = "black",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        batch_size: int | None = None,
        precision: Precision = "float32",
        seed: int = 0,
    ) -> None:
        if cause not in ("feature", "filter"):
            raise SunyError(f"unknown cause type {cause!r}; use feature or filter")
        if map not in MAP_NAMES:
            raise SunyError(f"unknown map {map!r}; use one of {', '.join(MAP_NAMES)}")
        if (mean is None) != (std is None):
            raise SunyError("give both mean and std of the input's normalisation, or neither")
        if mean is not None and std is not None and (len(mean) != 3 or len(std) != 3):
            raise SunyError(f"mean and std need 3 values (one per channel), got {mean} and {std}")
        if mean is not None and isinstance(model, ImageClassifier):
            raise SunyError("an ImageClassifier normalises its [0, 1] input itself: do not give mean/std")
        layers = [target_layers] if isinstance(target_layers, nn.Module) else list(target_layers)
        if not layers:
            raise LayerError("target_layers is empty: give the module to explain, e.g. [model.layer4[-1]]")
        self.model = model
        self.target_layers = layers
        network = model.network if isinstance(model, ImageClassifier) else model
        #: The names of the target layers in the model.
        self.layer_names = [layer_name(network, layer) for layer in layers]
        self.map: MapName = map
        self.mean = None if mean is None else tuple(mean)
        self.std = None if std is None else tuple(std)
        self.class_names = None if class_names is None else list(class_names)
        self.options: dict[str, Any] = {
            "cause": cause,
            "set_size": set_size,
            "permutations": permutations,
            "combination": combination,
            "substrate": substrate,
            "batch_size": batch_size,
            "precision": precision,
            "seed": seed,
        }
        self.reshape_transform = reshape_transform
        self._classifier = None
        if isinstance(model, ImageClassifier):
            self._classifier = model if reshape_transform is None else model.with_reshape(reshape_transform)
        self._explainers: list[Suny] = []
        #: The model's logits for the last call's input (as pytorch-grad-cam's ``cam.outputs``).
        self.outputs: Tensor | None = None

    # ---------------------------------------------------------------------------- the calls
    def __call__(
        self,
        input_tensor: Tensor,
        targets: Sequence[Any] | None = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        """Maps of ``input_tensor`` as pytorch-grad-cam returns them.

        Args:
            input_tensor: (B, 3, H, W), what the model takes.
            targets: one per image, or one for all: ``ClassifierOutputTarget(c)``,
                ``ClassifierOutputSoftmaxTarget(c)`` or a class index; None: each image's predicted
                class. A constant map (no cause supports the class) comes with a warning.
            aug_smooth: not supported (an error when True).
            eigen_smooth: not supported (an error when True).

        Returns:
            float32 numpy array (B, H, W) in [0, 1].
        """
        for name, value in (("aug_smooth", aug_smooth), ("eigen_smooth", eigen_smooth)):
            if value:
                raise SunyError(
                    f"SunyCAM does not support {name}=True (a Grad-CAM smoothing); call it without {name}"
                )
        maps: np.ndarray = self.tensors(input_tensor, targets).cpu().numpy()
        return maps

    def tensors(self, input_tensor: Tensor, targets: Sequence[Any] | None = None) -> Tensor:
        """The maps of :meth:`__call__` as a float32 tensor (B, H, W) on the model's device."""
        explanations = self.explanations(input_tensor, targets)
        maps = torch.stack([getattr(e, f"{self.map}_map").float() for e in explanations])
        maps = maps.view(-1, len(self.layer_names), *maps.shape[-2:])
        maps = maps[:, 0] if maps.shape[1] == 1 else minmax(maps.mean(dim=1))
        flat = maps.flatten(start_dim=1)
        for index in (flat.amax(dim=1) == flat.amin(dim=1)).nonzero()[:, 0].tolist():
            e = explanations[index * len(self.layer_names)]
            warnings.warn(
                f"SunyCAM: the {self.map} map of image {index} for {e.target_name} is constant: no cause "
                f"at {', '.join(self.layer_names)} has a positive responsibility",
                stacklevel=3,
            )
        return maps

    def explanations(self, input_tensor: Tensor, targets: Sequence[Any] | None = None) -> list[Explanation]:
        """SUNY's full explanations behind the maps.

        Args:
            input_tensor: as for :meth:`__call__`.
            targets: as for :meth:`__call__`.

        Returns:
            One per image and target layer, image by image (layers in the order given).
        """
        images = self._images(input_tensor)
        classifier = self._wrapped(images)
        with torch.no_grad(), preserved_mode(classifier):
            classifier.eval()
            self.outputs = logits = classifier(images)
        classes = self._classes(targets, logits)
        if not self._explainers:
            self._explainers = [Suny(classifier, name, **self.options) for name in self.layer_names]
        return [
            explainer.explain(image, c) for image, c in zip(images, classes) for explainer in self._explainers
        ]

    # --------------------------------------------------------------------------- the steps
    @property
    def device(self) -> torch.device:
        """Where the model's parameters are (the input is moved there)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return tensors[0].device if tensors else torch.device("cpu")

    def _images(self, input_tensor: Tensor) -> Tensor:
        """The input on the model's device, in the wrapper's input space (B, 3, H, W)."""
        if not isinstance(input_tensor, Tensor):
            raise SunyError(f"input_tensor must be a torch.Tensor, got {type(input_tensor).__name__}")
        images = input_tensor.detach().to(self.device)
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.dim() != 4 or images.shape[1] != 3:
            raise SunyError(f"expected input_tensor of shape (B, 3, H, W), got {tuple(input_tensor.shape)}")
        if self.mean is not None and self.std is not None:
            images = images * _channels(self.std, images) + _channels(self.mean, images)
        return images

    def _wrapped(self, images: Tensor) -> ImageClassifier:
        """The model as an ImageClassifier (built on the first call, which shows its output size)."""
        if self._classifier is not None:
            return self._classifier.to(self.device)  # the model may have moved since
        mean, std = tuple(self.mean or (0.0,) * 3), tuple(self.std or (1.0,) * 3)
        side = int(images.shape[-1])
        preprocessing = Preprocessing(side, side, (mean[0], mean[1], mean[2]), (std[0], std[1], std[2]))
        with preserved_mode(self.model):  # the wrapper puts the network in eval mode
            name = type(self.model).__name__
            classifier = ImageClassifier(
                self.model,
                preprocessing,
                [],
                self.layer_names[0],
                name,
                reshape_transform=self.reshape_transform,
            )
            classifier.to(self.device)
            with torch.no_grad():
                output = classifier(images[:1])
        if output.dim() != 2:
            raise ModelError(
                f"SunyCAM explains classifiers, whose output is (B, classes); got {tuple(output.shape)}"
            )
        classes = int(output.shape[1])
        names = self.class_names or (
            imagenet_class_names() if classes == 1000 else [f"class {i}" for i in range(classes)]
        )
        if len(names) != classes:
            raise SunyError(f"{len(names)} class names for a model with {classes} outputs")
        classifier.class_names = names
        self._classifier = classifier
        return classifier

    def _classes(self, targets: Sequence[Any] | None, logits: Tensor) -> list[int]:
        """One class index per image (:func:`target_class`); one target serves the whole batch, as in
        pytorch-grad-cam."""
        if targets is None:
            return [int(c) for c in logits.argmax(dim=1)]
        count, classes = int(logits.shape[0]), int(logits.shape[1])
        if len(targets) == 1:
            targets = list(targets) * count
        if len(targets) != count:
            raise TargetError(
                f"{count} images but {len(targets)} targets: give one per image, or one for all"
            )
        return [target_class(target, classes) for target in targets]

    # ----------------------------------------------------------------- the `with` habit
    def __enter__(self) -> SunyCAM:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Nothing to release: SUNY leaves no hook on the model between calls."""


#: pytorch-grad-cam's targets that name a class of a classifier's output: SUNY explains that class
#: (by its probability, whichever score the target would take).
CLASS_TARGETS = ("ClassifierOutputTarget", "ClassifierOutputSoftmaxTarget")


def target_class(target: Any, classes: int) -> int:
    """The class index a target names: a class index itself, or one of :data:`CLASS_TARGETS`; any
    other target (``BinaryClassifierOutputTarget``, ``ClassifierOutputReST``, a custom callable) is a
    clear error rather than its ``category`` read as a class.

    Args:
        target: the target of one image.
        classes: the model's number of classes.

    Returns:
        The class index.

    Raises:
        TargetError: the target does not name a class, or the class is out of range.
    """
    kind = type(target).__name__
    if hasattr(target, "category") and kind not in CLASS_TARGETS:
        raise TargetError(
            f"SunyCAM explains a class of a classifier: {kind} means something else; give "
            f"ClassifierOutputTarget(c), ClassifierOutputSoftmaxTarget(c) or a class index"
        )
    try:
        c = operator.index(getattr(target, "category", target))
    except TypeError:
        raise TargetError(
            f"SunyCAM explains classes: give each target as ClassifierOutputTarget(c) or a class index c, "
            f"got {target!r}"
        ) from None
    if not 0 <= c < classes:
        raise TargetError(f"class index {c} is out of range: the model has classes 0..{classes - 1}")
    return c


def _channels(values: Sequence[float], like: Tensor) -> Tensor:
    """Per-channel constants (1, 3, 1, 1) with ``like``'s dtype and device."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)


__all__ = ["CLASS_TARGETS", "MAP_NAMES", "SunyCAM", "layer_name", "target_class"]
