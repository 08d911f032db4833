"""A network's ``torch.fx`` graph split at one node: the head (computed once) and the tail (every node
that depends on the split node, re-run per intervention).

Tracing keeps every ``nn.Conv2d`` (custom padding subclasses included) as one node. The tail is a
``GraphModule`` that takes the split node's value first and then the ``boundary`` values (head
nodes the tail reads), in order. Sizes the tail reads (``B, N, C = x.shape`` and what is computed
from them alone) are computed again in the tail from the boundary tensors, so that they report the
tail's batch; the head keeps its own, so a layer that only reads a size stays in the head (a
transformer's every block asks its input's shape). Head values that carry the batch dimension are
expanded to the tail's batch size (:meth:`Boundary.batched`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import Tensor, nn

#: What symbolic tracing raises on code it cannot trace (data-dependent control flow, unsupported
#: operations); anything else is a bug and propagates.
TRACING_ERRORS = (fx.proxy.TraceError, TypeError, NotImplementedError, RuntimeError)


class ConvLeafTracer(fx.Tracer):
    """Symbolic tracer that keeps every convolution (including subclasses with custom padding) and
    the modules named in ``leaves`` as one ``call_module`` node each. ``failed``: the innermost
    module whose code could not be traced, after a :class:`torch.fx.proxy.TraceError`."""

    def __init__(self, leaves: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.leaves = leaves
        self.failed: str | None = None

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return (
            isinstance(module, nn.Conv2d)
            or qualified_name in self.leaves
            or super().is_leaf_module(module, qualified_name)
        )

    def call_module(
        self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except fx.proxy.TraceError:
            self.failed = self.failed or self.path_of_module(m)
            raise


def trace(network: nn.Module) -> fx.GraphModule:
    """``network`` as a graph module (sharing its parameters, so later weight changes are seen).

    A submodule whose own code cannot be traced (a check of its input's shape that branches, as
    transformers' embeddings have) becomes one opaque node, and tracing starts again; the error
    stands when the network's own forward cannot be traced, or a module fails twice."""
    leaves: frozenset[str] = frozenset()
    while True:
        tracer = ConvLeafTracer(leaves)
        try:
            graph = tracer.trace(network)
        except fx.proxy.TraceError:
            if tracer.failed is None or tracer.failed in leaves:
                raise
            leaves |= {tracer.failed}
            continue
        return fx.GraphModule(tracer.root, graph)


def is_size_query(node: fx.Node) -> bool:
    """``x.size()``, ``x.dim()`` or ``x.shape``."""
    return (node.op == "call_method" and node.target in ("size", "dim")) or (
        node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",)
    )


@dataclass(frozen=True)
class GraphSplit:
    """``root`` split at ``node``: ``tail`` takes the node's value and then the values of
    ``boundary`` (head nodes the tail reads), in order; ``carries_batch``: the boundary nodes whose
    value has the batch dimension; ``sized_only``: those the tail only asks the size of."""

    root: fx.GraphModule
    node: fx.Node
    tail: fx.GraphModule
    boundary: tuple[fx.Node, ...]
    carries_batch: tuple[bool, ...]
    sized_only: tuple[bool, ...]


def split_at(
    root: fx.GraphModule, node: fx.Node, batch_inputs: Iterable[fx.Node] | None = None
) -> GraphSplit:
    """Split ``root`` at ``node`` (see the module docstring). ``batch_inputs``: the placeholders whose
    values carry the batch dimension (default: all of them)."""
    graph = root.graph
    batched = (
        set(batch_inputs) if batch_inputs is not None else {n for n in graph.nodes if n.op == "placeholder"}
    )
    tail: set[fx.Node] = set()
    carries: set[fx.Node] = set()
    sizes: set[fx.Node] = set()  # size queries, and nodes computed from them alone
    for current in graph.nodes:
        inputs = current.all_input_nodes
        if current is node or any(i in tail for i in inputs):
            tail.add(current)
        if current in batched or any(i in carries for i in inputs):
            carries.add(current)
        if is_size_query(current) or (inputs and all(i in sizes for i in inputs)):
            sizes.add(current)
    # The head's sizes that the tail reads, computed again in the tail (with the sizes they come from).
    resized: set[fx.Node] = set()
    stack = [i for n in tail for i in n.all_input_nodes if i in sizes and i not in tail]
    while stack:
        current = stack.pop()
        if current not in resized:
            resized.add(current)
            stack.extend(i for i in current.all_input_nodes if i in sizes)
    runs = tail | resized
    boundary = [
        n for n in graph.nodes if n not in runs and n.op != "get_attr" and any(u in runs for u in n.users)
    ]
    tail_graph = fx.Graph()
    env = {current: tail_graph.placeholder(f"head_{current.name}") for current in [node, *boundary]}
    for current in graph.nodes:
        if current in env:
            continue
        if current.op == "output":
            tail_graph.output(fx.map_arg(current.args[0], env.__getitem__))
        elif current in runs or (current.op == "get_attr" and any(u in runs for u in current.users)):
            env[current] = tail_graph.node_copy(current, env.__getitem__)
    sized_only = tuple(all(is_size_query(u) for u in n.users if u in runs) for n in boundary)
    return GraphSplit(
        root,
        node,
        fx.GraphModule(root, tail_graph),
        tuple(boundary),
        tuple(n in carries for n in boundary),
        sized_only,
    )


def record(root: fx.GraphModule, wanted: Iterable[fx.Node], *inputs: Any) -> dict[fx.Node, Any]:
    """Run ``root`` on ``inputs`` without gradients and return the values of the ``wanted`` nodes
    (tensors as copies: a later in-place operation, such as a ``ReLU(inplace=True)`` after the node
    or a residual ``+=``, must not change what was recorded; nor can the graph change ``inputs``)."""
    wanted = set(wanted)
    values: dict[fx.Node, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            result = super().run_node(n)
            if n in wanted:
                values[n] = result.clone() if isinstance(result, Tensor) else result
            return result

    with torch.no_grad():  # copies of the inputs too: the graph may write in place into them
        Recorder(root).run(*(x.clone() if isinstance(x, Tensor) else x for x in inputs))
    return values


def copied(value: Any) -> Any:
    """A copy of a tensor (anything else as it is)."""
    return value.clone() if isinstance(value, Tensor) else value


def head_module(root: fx.GraphModule, wanted: Sequence[fx.Node]) -> fx.GraphModule:
    """``root`` returning ``(copies of the values of wanted..., root's own output)``: one plain
    forward pass (generated code, not an interpreter) that records what the tail needs. Each value is
    copied as soon as it exists, so that later in-place operations cannot change it."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    copies: dict[fx.Node, fx.Node] = {}
    for node in root.graph.nodes:
        if node.op == "output":
            result = fx.map_arg(node.args[0], env.__getitem__)
            graph.output((*(copies[n] for n in wanted), result))
            continue
        env[node] = graph.node_copy(node, env.__getitem__)
        if node in wanted:
            copies[node] = graph.call_function(copied, (env[node],))
    return fx.GraphModule(root, graph)


def module_output(graph: fx.Graph, name: str) -> fx.Node | None:
    """The node whose value is the output of submodule ``name``: the module's own node when it is a
    leaf, else the last node traced inside it (None when no node is)."""
    inside = [
        node
        for node in graph.nodes
        if (node.op == "call_module" and node.target == name)
        or name in {key.split("@")[0] for key in node.meta.get("nn_module_stack", {})}
    ]
    return inside[-1] if inside else None


@dataclass
class Boundary:
    """The recorded boundary values of a split, ready to feed its tail at any batch size."""

    values: list[Any]
    carries_batch: Sequence[bool]
    sized_only: Sequence[bool]

    @classmethod
    def of(cls, split: GraphSplit, values: dict[fx.Node, Any]) -> Boundary:
        return cls([values[n] for n in split.boundary], split.carries_batch, split.sized_only)

    def batched(self, size: int) -> list[Any]:
        """The values with the batch dimension expanded to ``size``: copies, not views (the tail may
        write in place into what it reads), except for values the tail only asks the size of."""
        values = []
        for value, batched, sized in zip(self.values, self.carries_batch, self.sized_only):
            if isinstance(value, Tensor):
                value = value.expand(size, *value.shape[1:]) if batched else value
                value = value if sized else value.clone()
            values.append(value)
        return values


def single_user(node: fx.Node, ignore: Callable[[fx.Node], bool] = is_size_query) -> fx.Node | None:
    """The one user of ``node`` that is not ignored (size queries by default), or None."""
    users = [u for u in node.users if not ignore(u)]
    return users[0] if len(users) == 1 else None
