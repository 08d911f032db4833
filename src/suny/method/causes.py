"""The two kinds of cause SUNY reasons about, behind one interface.

Both take a coalition matrix (B, n) over a list of ``players`` (cause indices) and return the class
probabilities (every class) of the model after the intervention ``remove S`` or ``keep S`` for each
row:

- :class:`FeatureCauses`: feature maps of a layer; interventions mask the input image
  (:mod:`suny.interventions.feature`), one forward pass each;
- :class:`FilterCauses`: filters of a convolution; ``remove S`` prunes the filters in S, ``keep S``
  prunes every other filter (:mod:`suny.interventions.filter`), computing only what changes.

No forward pass is spent on an answer that is known or already computed: an intervention is keyed
by what it changes (the masks it applies, with their multiplicity; the filters it prunes whose
channel is not all zero), so a cause whose map is constant (mask 0) or whose channel is all zero
drops out of the key, causes with identical masks share one, a key that changes nothing is the image
itself (its probabilities are known), and every key is computed once, for every class: explaining
more classes of the same image adds only their own coalitions.

The feature maps ``A_k`` are the positive part ``relu(output_k)`` of the layer's output. The paper's
networks are explained after a ReLU, where this changes nothing; a layer with signed outputs (the
linear bottleneck that ends every EfficientNet block) would otherwise give masks that highlight
"least negative" regions and maps ``relu(sum_k R(k) A_k)`` that are zero everywhere when the most
responsible channels are negative (as measured on Lite0's last block).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor

from suny.engine import ForwardEngine, Precision
from suny.interventions.feature import FeatureMasks, Substrate
from suny.interventions.filter import replay_at
from suny.models.wrapper import ImageClassifier

Mode = Literal["remove", "keep"]
Key = TypeVar("Key", bound=Hashable)


class FeatureKey(NamedTuple):
    """A feature intervention: its mode and the ids of the masks it applies (with multiplicity)."""

    mode: Mode
    masks: tuple[int, ...]


class Causes(ABC, Generic[Key]):
    """The causes of one image at one layer, and class probabilities after interventions on them.

    Attributes: ``activations`` (1, K, h, w), the maps ``A_k`` that responsibilities weight;
    ``logits`` (1, classes) of the image; ``layer``; ``interventions``, the interventions asked
    for; ``forward_passes``, the forward passes (or tail replays) actually run.
    """

    activations: Tensor
    logits: Tensor
    layer: str

    def __init__(
        self,
        model: ImageClassifier,
        image: Tensor,
        engine: ForwardEngine,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        self.model = model
        self.image = image
        self.engine = engine
        engine.progress = self._passed
        #: Called with a number of interventions resolved: after every forward pass, then with the
        #: rest of a call's (answers known or cached) at its end, so that a caller sees the run
        #: move, and may stop it (by raising), at every pass.
        self.progress = progress
        self._reported = 0
        self.interventions = 0
        self._setup_passes = 0
        self._cached: dict[Key, int] = {}
        self._rows: list[Tensor] = []

    @property
    def num_causes(self) -> int:
        return int(self.activations.shape[1])

    @property
    def forward_passes(self) -> int:
        return self._setup_passes + self.engine.passes

    def clean_probabilities(self) -> Tensor:
        """Softmax probabilities of the image itself (classes,), float32 on the CPU."""
        return self.logits[0].float().softmax(dim=0).cpu()

    def probabilities(self, coalitions: Tensor, players: Tensor, mode: Mode) -> Tensor:
        """Class probabilities (B, classes) after ``mode`` of each coalition (B, n) over ``players``
        (n,), float32 on the CPU."""
        coalitions, players = coalitions.cpu().bool(), players.cpu()
        self._reported = 0
        keys = self._keys(coalitions, players, mode)
        new = list(dict.fromkeys(k for k in keys if k is not None and k not in self._cached))
        if new:
            computed = self._compute(new)
            for key, row in zip(new, computed):
                self._cached[key] = len(self._rows)
                self._rows.append(row)
        clean = self.clean_probabilities()
        rows = [clean if key is None else self._rows[self._cached[key]] for key in keys]
        self.interventions += len(keys)
        self._settle(len(keys))
        return torch.stack(rows) if rows else clean.new_zeros(0, clean.numel())

    def singletons(self, mode: Mode) -> Tensor:
        """Class probabilities (K, classes) after ``mode`` of each cause alone."""
        return self.probabilities(
            torch.eye(self.num_causes, dtype=torch.bool), torch.arange(self.num_causes), mode
        )

    def _passed(self, count: int) -> None:
        """A forward pass of ``count`` new interventions: reported at once."""
        self._reported += count
        if self.progress is not None:
            self.progress(count)

    def _settle(self, interventions: int) -> None:
        """The end of a call of ``interventions``: those no pass reported (known, cached) reported."""
        rest, self._reported = interventions - self._reported, 0
        if self.progress is not None and rest:
            self.progress(rest)

    def _softmax(self, count: int, build: Callable[[slice], Tensor]) -> Tensor:
        return self.engine.probabilities(count, build).cpu()

    @abstractmethod
    def _keys(self, coalitions: Tensor, players: Tensor, mode: Mode) -> list[Key | None]:
        """What the intervention on each coalition (B, n) over ``players`` changes (None: nothing,
        the image itself)."""

    @abstractmethod
    def _compute(self, keys: list[Key]) -> Tensor:
        """Class probabilities (len(keys), classes) of new interventions."""


class FeatureCauses(Causes[FeatureKey]):
    """Feature maps of ``layer`` as causes; interventions mask the input."""

    def __init__(
        self,
        model: ImageClassifier,
        layer: str,
        image: Tensor,
        engine: ForwardEngine,
        substrate: Substrate = "black",
        progress: Callable[[int], object] | None = None,
    ) -> None:
        super().__init__(model, image, engine, progress)
        self.layer = layer
        self.logits, activations = model.forward_with_layer(image, layer)
        self._setup_passes = 1
        self.activations = activations.float().relu()
        self.masks = FeatureMasks(image, self.activations, substrate)
        identities = self.masks.identities.tolist()
        #: A representative cause of each mask id.
        self._cause_of = {identity: cause for cause, identity in reversed(list(enumerate(identities)))}
        self._identities = identities

    def representative(self, identity: int) -> int:
        """The first cause whose mask has id ``identity`` (``mask_identities``)."""
        return int(self._cause_of[identity])

    def _keys(self, coalitions: Tensor, players: Tensor, mode: Mode) -> list[FeatureKey | None]:
        keys: list[FeatureKey | None] = []
        for row in coalitions:
            masks = tuple(sorted(i for i in (self._identities[k] for k in players[row].tolist()) if i >= 0))
            keys.append(None if mode == "remove" and not masks else FeatureKey(mode, masks))
        return keys

    def _compute(self, keys: list[FeatureKey]) -> Tensor:
        result = torch.empty(len(keys), self.model.num_classes)
        for mode in ("remove", "keep"):
            rows = [i for i, key in enumerate(keys) if key.mode == mode]
            if not rows:
                continue
            width = max(1, *(len(keys[i].masks) for i in rows))
            members = torch.full((len(rows), width), -1, dtype=torch.long)
            for row, i in enumerate(rows):
                causes = [self._cause_of[identity] for identity in keys[i].masks]
                members[row, : len(causes)] = torch.tensor(causes, dtype=torch.long)
            members = members.to(self.model.device)
            result[rows] = self._softmax(len(rows), _masked(self.masks, members, mode))
        return result


def _masked(masks: FeatureMasks, members: Tensor, mode: Mode) -> Callable[[slice], Tensor]:
    """The images of the sets ``members`` (B, s) removed or kept, any slice of them."""
    return lambda chunk: masks.images(members[chunk], mode)


#: Keep-masks per pass of the per-channel corrections (at least the caller's batch size).
CHANNELWISE_BATCH = 1024


class FilterCauses(Causes[bytes]):
    """Filters of the convolution behind ``layer`` as causes; interventions prune them.

    The maps weight the feature maps of ``layer`` itself when it has one channel per filter (the
    convolution, a ReLU after it, a residual block ending in it), else the pruning point's outputs
    (the convolution's, or its BatchNorm's). At a layer seen through a reshape_transform (a
    transformer's tokens) the causes are the channels of its maps, one embedding dimension over the
    token grid each (:class:`~suny.interventions.filter.ChannelReplay`).
    """

    def __init__(
        self,
        model: ImageClassifier,
        layer: str,
        image: Tensor,
        batch_size: int,
        precision: Precision,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        replay = replay_at(model, layer, image)
        conv = replay.conv_name
        # Per-channel corrections with a light rest cost little per row: large batches amortise each
        # pass's overhead.
        fast = replay.channel_tail
        rows = max(batch_size, CHANNELWISE_BATCH) if fast is not None and fast.light else batch_size
        super().__init__(model, image, ForwardEngine(replay.logits, model.device, rows, precision), progress)
        self.layer, self.replay, self.logits = conv, replay, replay.clean_logits
        self._setup_passes = 1
        self._effective = ~replay.inert
        #: (1, K, h, w): the layer's maps (the convolution's outputs when it is the layer), or the
        #: pruning point's outputs when the layer does not have one channel per filter.
        self.layer_maps = replay.conv_outputs if layer == conv else replay.outputs
        if replay.layer_outputs is not None and replay.layer_outputs.shape[1] == replay.num_filters:
            self.layer_maps = replay.layer_outputs
        self.activations = self.layer_maps.float().relu()

    def singletons(self, mode: Mode) -> Tensor:
        """On the per-channel path, each filter alone straight from the corrections (no key, no
        cache: the singletons serve every class already). Pruning a filter whose channel is zero
        leaves the image as it is; keeping it alone prunes every filter that matters (one pass)."""
        fast = self.replay.channel_tail
        if fast is None:
            return super().singletons(mode)
        inert = ~self._effective
        self._reported = 0
        result = self.clean_probabilities().expand(self.num_causes, -1).clone()
        if mode == "keep" and inert.any():  # every filter pruned
            nothing_kept = torch.zeros(1, self.num_causes, dtype=torch.bool, device=self.model.device)
            result[inert] = self._softmax(1, nothing_kept.__getitem__)
        effective = self._effective.nonzero()[:, 0].to(self.model.device)
        engine = ForwardEngine(
            lambda channels: fast.singleton_logits(channels, mode),
            self.model.device,
            self.engine.batch_size,
            self.engine.precision,
            progress=self._passed,
        )
        if len(effective):
            result[effective.cpu()] = engine.probabilities(len(effective), effective.__getitem__).cpu()
        self._setup_passes += engine.passes
        self.interventions += self.num_causes
        self._settle(self.num_causes)
        return result

    def _keys(self, coalitions: Tensor, players: Tensor, mode: Mode) -> list[bytes | None]:
        """The pruned filters whose channel is not all zero, as packed bits."""
        pruned = torch.full((len(coalitions), self.num_causes), mode == "keep")
        pruned[:, players] = coalitions if mode == "remove" else ~coalitions
        pruned &= self._effective
        packed = np.packbits(pruned.numpy(), axis=1)
        return [
            row.tobytes() if any_pruned else None
            for row, any_pruned in zip(packed, pruned.any(dim=1).tolist())
        ]

    def _compute(self, keys: list[bytes]) -> Tensor:
        bits = np.unpackbits(np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1), axis=1)
        keep = ~torch.from_numpy(bits[:, : self.num_causes].astype(bool)).to(self.model.device)
        return self._softmax(len(keep), keep.__getitem__)


def causes_of(
    cause: Literal["feature", "filter"],
    model: ImageClassifier,
    layer: str,
    image: Tensor,
    batch_size: int,
    precision: Precision,
    substrate: Substrate = "black",
    progress: Callable[[int], object] | None = None,
) -> Causes[Any]:
    """The causes of ``image`` (1, 3, H, W) at ``layer`` (prepared in eval mode by the caller);
    ``progress`` is called with the number of interventions resolved."""
    if cause == "feature":
        engine = ForwardEngine.for_model(model, batch_size, precision)
        return FeatureCauses(model, layer, image, engine, substrate, progress)
    return FilterCauses(model, layer, image, batch_size, precision, progress)
