"""SUNY-filter interventions: prune filters of one convolution and re-run only what follows it.

Pruning filter k of a convolution (all its weights set to zero) makes output channel k equal to the
filter's bias (0 without bias). For a batch of keep-masks ``z`` (B, K) the pruned output is
``z * O + (1 - z) * bias`` where ``O`` is the convolution's output on the image, so only the
network downstream of the convolution has to run again.

The split comes from the model's ``torch.fx`` graph: every node that depends on the convolution's
output is replayed, every other node is computed once ("the head") and its value cached. Head
values that carry the batch dimension are expanded to the replay's batch size (and so are the
inputs of ``size``/``shape`` look-ups, which therefore report the replay's batch). Tracing treats
every ``nn.Conv2d`` subclass as one leaf, so the pruned convolution is a single graph node.

A model that cannot be traced falls back, with one warning, to full forward passes of the model
with the pruned filters masked by a forward hook (the same numbers, at the full cost);
:attr:`FilterReplay.replays_tail` says which path is in use. Tests check both against a forward
pass of a model whose weights were really zeroed.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import Tensor, nn

from suny.errors import LayerError
from suny.models.hooks import captured_output, replaced_output
from suny.models.wrapper import ImageClassifier
from suny.ops import batched


class _ConvLeafTracer(fx.Tracer):
    """Symbolic tracer that keeps every convolution (including subclasses with custom padding) as
    one ``call_module`` node."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, nn.Conv2d) or super().is_leaf_module(module, qualified_name)


def _is_size_query(node: fx.Node) -> bool:
    return (node.op == "call_method" and node.target in ("size", "dim")) or (
        node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",)
    )


@dataclass(frozen=True)
class GraphSplit:
    """A traced network split at a convolution: ``tail`` takes the convolution's output and then
    the other ``boundary`` values (head nodes the tail reads), in order."""

    root: fx.GraphModule
    tail: fx.GraphModule
    boundary: list[fx.Node]
    carries_batch: frozenset[fx.Node]


#: What symbolic tracing raises on code it cannot trace (data-dependent control flow, unsupported
#: operations); anything else is a bug and propagates.
TRACING_ERRORS = (fx.proxy.TraceError, TypeError, NotImplementedError, RuntimeError)


_WARNED: set[tuple[str, str]] = set()


def _warn_untraceable(model_name: str, conv_name: str, error: Exception) -> None:
    """Say once per model and convolution that the full forward passes are in use."""
    if (model_name, conv_name) in _WARNED:
        return
    _WARNED.add((model_name, conv_name))
    warnings.warn(
        f"{model_name} cannot be traced with torch.fx ({type(error).__name__}: {error}); SUNY-filter "
        f"runs a full forward pass per intervention at {conv_name} (the same numbers, far slower)",
        RuntimeWarning,
        stacklevel=3,
    )


_SPLITS: weakref.WeakKeyDictionary[nn.Module, dict[str, GraphSplit]] = weakref.WeakKeyDictionary()


def graph_split(network: nn.Module, conv_name: str) -> GraphSplit:
    """Trace ``network`` and split it at ``conv_name`` (cached per network and convolution: the
    graph modules share the network's parameters, so later weight changes are seen)."""
    cached = _SPLITS.setdefault(network, {})
    if conv_name not in cached:
        cached[conv_name] = _split(network, conv_name)
    return cached[conv_name]


def _split(network: nn.Module, conv_name: str) -> GraphSplit:
    tracer = _ConvLeafTracer()
    graph = tracer.trace(network)
    root = fx.GraphModule(tracer.root, graph)
    conv_nodes = [n for n in graph.nodes if n.op == "call_module" and n.target == conv_name]
    if len(conv_nodes) != 1:
        raise RuntimeError(f"{conv_name} appears {len(conv_nodes)} times in the graph")
    conv_node = conv_nodes[0]
    tail: set[fx.Node] = set()
    carries_batch: set[fx.Node] = set()
    for node in graph.nodes:
        inputs = node.all_input_nodes
        if node is conv_node or _is_size_query(node) or any(i in tail for i in inputs):
            tail.add(node)
        if node.op == "placeholder" or any(i in carries_batch for i in inputs):
            carries_batch.add(node)
    # Head values the tail reads: the convolution's output first, then the others in order.
    boundary = [conv_node] + [
        n for n in graph.nodes if n not in tail and n.op != "get_attr" and any(u in tail for u in n.users)
    ]
    tail_graph = fx.Graph()
    env = {node: tail_graph.placeholder(f"head_{node.name}") for node in boundary}
    for node in graph.nodes:
        if node in env:
            continue
        if node.op == "output":
            tail_graph.output(fx.map_arg(node.args[0], env.__getitem__))
        elif node in tail or (node.op == "get_attr" and any(u in tail for u in node.users)):
            env[node] = tail_graph.node_copy(node, env.__getitem__)
    return GraphSplit(root, fx.GraphModule(root, tail_graph), boundary, frozenset(carries_batch))


class FilterReplay:
    """Class probabilities of the model with some filters of ``conv_name`` pruned, for one image.

    ``image`` is (1, 3, H, W) in [0, 1]. ``keep`` masks are (B, K): ``keep[b, k]`` False prunes
    filter k in the b-th forward pass.
    """

    def __init__(self, model: ImageClassifier, conv_name: str, image: Tensor) -> None:
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
        self.model = model
        self.conv = module
        self.conv_name = conv_name
        self.num_filters = module.out_channels
        self.image = image.to(model.device)
        bias = module.bias if module.bias is not None else None
        self._bias = None if bias is None else bias.detach().view(1, -1, 1, 1)
        self.forward_passes = 0
        try:
            split = graph_split(model.network, conv_name)
        except TRACING_ERRORS as err:
            _warn_untraceable(model.name, conv_name, err)
            self.replays_tail = False
            with torch.no_grad(), captured_output(module) as outputs:
                model(self.image)
            self.activations = outputs[0].detach()
            self.forward_passes += 1
        else:
            self._build_tail(split)
            self.replays_tail = True

    # ------------------------------------------------------------------------ tracing
    def _build_tail(self, split: GraphSplit) -> None:
        wanted = set(split.boundary)
        values: dict[fx.Node, object] = {}

        class _Recorder(fx.Interpreter):
            def run_node(self, n: fx.Node) -> object:
                result = super().run_node(n)
                if n in wanted:
                    # A copy: later in-place operations of the head (a ReLU(inplace=True) after the
                    # convolution, a residual "+=") must not change what the tail will read.
                    values[n] = result.clone() if isinstance(result, Tensor) else result
                return result

        with torch.no_grad():
            _Recorder(split.root).run(self.model.normalise(self.image))
        self.forward_passes += 1
        self._tail = split.tail
        self.activations = values[split.boundary[0]]
        self._head_values = [values[n] for n in split.boundary[1:]]
        self._head_batched = [n in split.carries_batch for n in split.boundary[1:]]

    # ---------------------------------------------------------------------- replaying
    def pruned_activations(self, keep: Tensor) -> Tensor:
        """The convolution's output with filters pruned: ``z * O + (1 - z) * bias``, (B, K, h, w)."""
        z = keep.to(device=self.activations.device, dtype=self.activations.dtype)[:, :, None, None]
        pruned = z * self.activations
        if self._bias is not None:
            pruned = pruned + (1 - z) * self._bias.to(self.activations.dtype)
        return pruned

    @torch.no_grad()
    def logits(self, keep: Tensor) -> Tensor:
        """Logits of the pruned model for each row of ``keep`` (B, K)."""
        if keep.dim() != 2 or keep.shape[1] != self.num_filters:
            raise ValueError(f"keep must be (B, {self.num_filters}), got {tuple(keep.shape)}")
        self.forward_passes += keep.shape[0]
        pruned = self.pruned_activations(keep)
        if not self.replays_tail:
            with replaced_output(self.conv, pruned):
                return self.model(self.image.expand(keep.shape[0], -1, -1, -1))
        size = keep.shape[0]
        head = [
            # A copy, not a view: the tail may write in place into what it reads.
            value.expand(size, *value.shape[1:]).clone()
            if is_batched and isinstance(value, Tensor)
            else value
            for value, is_batched in zip(self._head_values, self._head_batched)
        ]
        return self._tail(pruned, *head)

    def probabilities(self, keep: Tensor, target: int, batch_size: int = 64) -> Tensor:
        """``p_target`` of the pruned model for each row of ``keep`` (B, K), in batches."""
        return torch.cat(
            [
                self.logits(keep[chunk]).float().softmax(dim=1)[:, target]
                for chunk in batched(len(keep), batch_size)
            ]
        )
