"""SUNY-filter interventions: prune filters of one convolution and compute only what changes.

Pruning filter k removes its channel (SPEC section 1): when the convolution feeds a BatchNorm, the
filter and its normalisation channel go together, so channel k is 0 at the BatchNorm's output;
without a BatchNorm the filter's weights and bias are zeroed, so channel k is 0 at the
convolution's output. That output (the *pruning point*) on the image, ``O``, is computed once; for
keep-masks ``z`` (B, K) the pruned value is ``z * O``, and only the network after the pruning point
can change. Three ways to compute it, fastest first (:attr:`FilterReplay.path`):

- ``"channelwise"``: when the network after the pruning point acts on each channel alone up to an
  affine mixing operation, corrections of that operation's output per coalition, then the rest
  (:mod:`suny.interventions.channel_tail`);
- ``"tail"``: the traced graph after the pruning point, re-run per coalition (:mod:`.graph`);
- ``"full"``: a network that cannot be traced runs whole, the pruning point's output replaced by a
  forward hook (the same numbers, at the full cost).

A slower path than the first says why, once per model and convolution. Tests check every path
against a forward pass of a model pruned that way.

At a layer seen through a reshape_transform (a transformer's tokens, :mod:`suny.models.views`)
there is no convolution to prune: :class:`ChannelReplay` prunes the channels of the seen maps
themselves (one embedding dimension over the token grid each) and writes them back into the tokens.
"""

from __future__ import annotations

import copy
import warnings
import weakref
from typing import Any, Literal

import torch
import torch.fx as fx
from torch import Tensor, nn

from suny.errors import LayerError
from suny.interventions.channel_tail import ChannelTail, NotChannelwise, channel_tail
from suny.interventions.graph import (
    TRACING_ERRORS,
    Boundary,
    GraphSplit,
    head_module,
    module_output,
    single_user,
    split_at,
    trace,
)
from suny.models.hooks import captured_output, forward_hooks, replaced_output
from suny.models.wrapper import ImageClassifier

Path = Literal["channelwise", "tail", "full"]


class SlowPathWarning(UserWarning):
    """SUNY-filter computes by a slower path than the per-channel corrections (said once per model
    and convolution)."""


_SAID: weakref.WeakKeyDictionary[nn.Module, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def _say_once(model: ImageClassifier, conv_name: str, path: Path, reason: str) -> None:
    said = _SAID.setdefault(model.network, set())
    if (conv_name, path) in said:
        return
    said.add((conv_name, path))
    how = {
        "tail": "re-runs the network after the pruned channels per coalition",
        "full": "runs a full forward pass per coalition (the same numbers, far slower)",
    }[path]
    warnings.warn(
        f"SUNY-filter at {conv_name} of {model.name} {how}: {reason}", SlowPathWarning, stacklevel=4
    )


def pruning_node(graph: fx.Graph, conv_name: str, network: nn.Module) -> fx.Node:
    """The node whose output channel k is 0 when filter k of ``conv_name`` is pruned: the BatchNorm
    that the convolution alone feeds, else the convolution."""
    convs = [n for n in graph.nodes if n.op == "call_module" and n.target == conv_name]
    if len(convs) != 1:
        where = "inside a module that cannot be traced" if not convs else f"{len(convs)} times"
        raise RuntimeError(f"{conv_name} runs {where}")
    user = single_user(convs[0])
    feeds_norm = (
        user is not None
        and user.op == "call_module"
        and user.args[0] is convs[0]
        and isinstance(network.get_submodule(str(user.target)), nn.BatchNorm2d)
    )
    return user if feeds_norm and user is not None else convs[0]


class FilterReplay:
    """Logits of the model with some filters of ``conv_name`` pruned, for one image (1, 3, H, W) in
    [0, 1]. ``keep`` masks are (B, K): ``keep[b, k]`` False prunes filter k in row b.

    Attributes: ``clean_logits`` (1, classes) of the image; ``conv_outputs`` and ``outputs`` (1, K, h, w),
    the convolution's and the pruning point's output on the image; ``layer_outputs``, the output of
    the module ``layer`` when one is named; ``path``; and ``inert`` (K,), the filters whose pruning
    changes nothing (an all-zero channel). One forward pass records all of them.
    """

    def __init__(
        self, model: ImageClassifier, conv_name: str, image: Tensor, layer: str | None = None
    ) -> None:
        module = model.network.get_submodule(conv_name) if conv_name else None
        if not isinstance(module, nn.Conv2d):
            raise LayerError(
                f"{conv_name!r} is not a convolution of {model.name}; SUNY-filter prunes one of: "
                + ", ".join(model.conv_names())
            )
        if image.dim() != 4 or image.shape[0] != 1:
            raise ValueError(
                f"FilterReplay explains one image of shape (1, 3, H, W), got {tuple(image.shape)}"
            )
        self.model, self.conv, self.conv_name = model, module, conv_name
        self.num_filters = module.out_channels
        self.image = image.to(model.device)
        self._fast: ChannelTail | None = None
        try:
            root = _traced(model.network)
            point = pruning_node(root.graph, conv_name, model.network)
        except TRACING_ERRORS as err:
            _say_once(model, conv_name, "full", f"the network cannot be traced ({type(err).__name__}: {err})")
            self._untraced(layer)
            return
        split = _split(root, point)
        conv_node = split.node if split.node.target == conv_name else split.node.args[0]
        assert isinstance(conv_node, fx.Node)
        layer_node = module_output(root.graph, layer) if layer else None
        wanted = (conv_node, split.node, *split.boundary, *([layer_node] if layer_node else []))
        with torch.no_grad():
            *recorded, self.clean_logits = _head(root, wanted)(model.normalise(self.image))
        values = dict(zip(wanted, recorded))
        self.conv_outputs: Tensor = values[conv_node]
        self.outputs: Tensor = values[split.node]
        self.layer_outputs: Tensor | None = None if layer_node is None else values[layer_node]
        self._head = Boundary.of(split, values)
        self._tail = split.tail
        try:
            self._fast = channel_tail(split, self.outputs, self._head)
            self.path: Path = "channelwise"
            self.inert = ~self._fast.differs.cpu()
        except NotChannelwise as reason:
            _say_once(model, conv_name, "tail", str(reason))
            self.path = "tail"
            self.inert = self._all_zero()

    @property
    def channel_tail(self) -> ChannelTail | None:
        """The per-channel corrections (the ``channelwise`` path), else None."""
        return self._fast

    @property
    def replays_tail(self) -> bool:
        """Whether only the network after the pruning point is computed (not a full forward pass)."""
        return self.path != "full"

    def _all_zero(self) -> Tensor:
        return self.outputs[0].flatten(start_dim=1).abs().amax(dim=1).eq(0).cpu()

    def _untraced(self, layer: str | None) -> None:
        """The full path: find the pruning point by running the model once with hooks (a BatchNorm
        whose input is the convolution's output follows it)."""
        conv_output: list[Tensor] = []
        follower: list[nn.Module] = []

        def after_conv(_module: nn.Module, _inputs: tuple[Any, ...], output: Tensor) -> None:
            conv_output.append(output)

        def after_norm(norm: nn.Module, inputs: tuple[Any, ...], _output: Tensor) -> None:
            if conv_output and inputs and inputs[0] is conv_output[0] and not follower:
                follower.append(norm)

        norms = [(m, after_norm) for m in self.model.network.modules() if isinstance(m, nn.BatchNorm2d)]
        with forward_hooks([(self.conv, after_conv), *norms]), torch.no_grad():
            self.model(self.image)
        self.point: nn.Module = follower[0] if follower else self.conv
        explained = self.model.network.get_submodule(layer) if layer else self.conv
        with (
            torch.no_grad(),
            captured_output(self.conv) as convs,
            captured_output(self.point) as outputs,
            captured_output(explained) as layers,
        ):
            self.clean_logits = self.model(self.image)
        self.conv_outputs, self.outputs = convs[0], outputs[0]
        self.layer_outputs = layers[0] if layer else None
        self.path = "full"
        self.inert = self._all_zero()

    @torch.no_grad()
    def logits(self, keep: Tensor) -> Tensor:
        """Logits of the pruned model for each row of ``keep`` (B, K)."""
        if keep.dim() != 2 or keep.shape[1] != self.num_filters:
            raise ValueError(f"keep must be (B, {self.num_filters}), got {tuple(keep.shape)}")
        keep = keep.to(self.outputs.device)
        if self._fast is not None:
            return self._fast.logits(keep)
        pruned = keep.to(self.outputs.dtype)[:, :, None, None] * self.outputs
        if self.path == "full":
            with replaced_output(self.point, pruned):
                full: Tensor = self.model(self.image.expand(keep.shape[0], -1, -1, -1))
                return full
        logits: Tensor = self._tail(pruned, *self._head.batched(keep.shape[0]))
        return logits


class ChannelReplay:
    """Logits of the model with channels of a layer seen through a reshape_transform pruned, for one
    image (1, 3, H, W) in [0, 1]: :class:`FilterReplay`'s interface where the causes are the channels
    of the layer's maps ``R(O)`` (1, K, h, w), ``O`` its output (a transformer's tokens).

    Filter k is channel k of ``R(O)``: one embedding dimension over the token grid. Keep-mask ``z``
    (B, K) gives the layer the output ``O_z = write(O, z * R(O))`` (:meth:`LayerView.write`: each
    map entry back where ``R`` took it from; the class token and other entries ``R`` drops stay as
    they are), and only the network after the layer runs again (its traced tail; an untraceable
    network runs whole, the layer's output replaced by a forward hook).
    """

    channel_tail: ChannelTail | None = None
    layer_outputs: Tensor | None = None

    def __init__(self, model: ImageClassifier, layer: str, image: Tensor) -> None:
        self.model, self.conv_name, self.view = model, layer, model.view(layer)
        self.module = model.network.get_submodule(layer)
        self.image = image.to(model.device)
        self._tail: fx.GraphModule | None = None
        try:
            root = _traced(model.network)
            node = module_output(root.graph, layer)
            if node is None:
                raise RuntimeError(f"{layer} runs inside a module that cannot be traced")
        except TRACING_ERRORS as err:
            _say_once(model, layer, "full", f"the network cannot be traced ({type(err).__name__}: {err})")
            with torch.no_grad(), captured_output(self.module) as outputs:
                self.clean_logits: Tensor = model(self.image)
            self.output = outputs[0]
            self.path: Path = "full"
        else:
            split = _split(root, node)
            wanted = (node, *split.boundary)
            with torch.no_grad():
                *recorded, self.clean_logits = _head(root, wanted)(model.normalise(self.image))
            self.output = recorded[0]
            self._head = Boundary.of(split, dict(zip(wanted, recorded)))
            self._tail, self.path = split.tail, "tail"
        self.view.places(self.output)  # a clear error now if R cannot be written back
        #: (1, K, h, w): the layer's maps R(O), the values the keep-masks scale.
        self.outputs = self.conv_outputs = self.view.maps(self.output)
        self.num_filters = int(self.outputs.shape[1])
        self.inert = self.outputs[0].flatten(start_dim=1).abs().amax(dim=1).eq(0).cpu()

    @property
    def replays_tail(self) -> bool:
        """Whether only the network after the layer is computed (not a full forward pass)."""
        return self.path != "full"

    @torch.no_grad()
    def logits(self, keep: Tensor) -> Tensor:
        """Logits of the pruned model for each row of ``keep`` (B, K)."""
        if keep.dim() != 2 or keep.shape[1] != self.num_filters:
            raise ValueError(f"keep must be (B, {self.num_filters}), got {tuple(keep.shape)}")
        size = keep.shape[0]
        pruned = keep.to(self.outputs.device, self.outputs.dtype)[:, :, None, None] * self.outputs
        output = self.view.write(self.output.expand(size, *self.output.shape[1:]), pruned)
        if self._tail is None:
            with replaced_output(self.module, output):
                full: Tensor = self.model(self.image.expand(size, -1, -1, -1))
                return full
        logits: Tensor = self._tail(output, *self._head.batched(size))
        return logits


def replay_at(model: ImageClassifier, layer: str, image: Tensor) -> FilterReplay | ChannelReplay:
    """SUNY-filter's interventions for ``layer``: the channels of its maps where a reshape_transform
    sees its output (:class:`ChannelReplay`), else the filters of the convolution behind it
    (:meth:`ImageClassifier.filter_layer`, :class:`FilterReplay`)."""
    if model.view(layer).transform is not None:
        return ChannelReplay(model, layer, image)
    conv = model.filter_layer(layer)
    return FilterReplay(model, conv, image, layer if layer != conv else None)


def _cache(root: fx.GraphModule, name: str) -> dict[Any, Any]:
    """A cache kept on the traced graph itself (an attribute, not a global table keyed by it: its
    values refer back to the graph through their nodes, which would keep a weakly keyed entry, the
    graph and the network's weights alive for ever)."""
    caches: dict[str, dict[Any, Any]] = root.__dict__.setdefault("_suny_caches", {})
    return caches.setdefault(name, {})


def _head(root: fx.GraphModule, wanted: tuple[fx.Node, ...]) -> fx.GraphModule:
    """The head module recording ``wanted`` (cached per graph and set of nodes)."""
    heads = _cache(root, "heads")
    key = tuple(node.name for node in wanted)
    if key not in heads:
        heads[key] = head_module(root, wanted)
    head: fx.GraphModule = heads[key]
    return head


#: Network -> its traced graph, or the tracing error (without its traceback, whose frames would hold
#: the network): the graph shares the network's modules but holds no reference to the network.
_TRACES: weakref.WeakKeyDictionary[nn.Module, fx.GraphModule | Exception] = weakref.WeakKeyDictionary()


def _traced(network: nn.Module) -> fx.GraphModule:
    """The network's graph, traced once per network (it shares the network's parameters, so later
    weight changes are seen); a network that cannot be traced raises its tracing error each time."""
    if network not in _TRACES:
        try:
            _TRACES[network] = trace(network)
        except TRACING_ERRORS as err:
            err.__traceback__, err.__context__, err.__cause__ = None, None, None
            _TRACES[network] = err
    traced = _TRACES[network]
    if isinstance(traced, Exception):
        raise copy.copy(traced)  # a copy: raising the kept one would give it this call's frames
    return traced


def _split(root: fx.GraphModule, node: fx.Node) -> GraphSplit:
    """``root`` split at ``node`` (cached per graph and node)."""
    splits = _cache(root, "splits")
    if node.name not in splits:
        splits[node.name] = split_at(root, node)
    split: GraphSplit = splits[node.name]
    return split
