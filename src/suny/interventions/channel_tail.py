"""SUNY-filter without re-running the tail per coalition, where the graph allows it.

Everything between the pruning point and the first operation that mixes channels (BatchNorm in eval
mode, activations, a residual add, pooling, flatten, dropout, concatenation along the channels, a
depthwise convolution) acts on each channel alone. So the input of that first mixing operation (a
convolution or a linear layer) for any coalition is, channel by channel, a choice between two values
computed once: ``kept`` (every filter kept) and ``pruned`` (every filter pruned). The mixing
operation ``f`` is affine, so for keep-mask ``z``::

    f(input_z) = f(kept) + sum_{k: z_k = 0} C_k = f(pruned) - sum_{k: z_k = 1} C_k,
    C_k = f_linear(channel k of (pruned - kept))

and each row adds the corrections of the channels that differ from the nearer base (one for a
singleton; few for a small set). Only what follows the mixing operation runs per coalition.
:func:`channel_tail` finds this form in a split graph, or says why it is not there.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import Tensor, nn

from suny.interventions.graph import Boundary, GraphSplit, is_size_query, record, single_user, split_at

#: Modules that act on each channel alone (BatchNorm and dropout in eval mode).
PER_CHANNEL_MODULES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.SiLU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
    nn.GELU,
    nn.ELU,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
)
#: Functions that act on each channel alone (elementwise ones with a head value or a number).
PER_CHANNEL_FUNCTIONS: frozenset[Any] = frozenset(
    {
        torch.relu,
        F.relu,
        F.relu6,
        F.silu,
        F.hardswish,
        F.hardsigmoid,
        F.gelu,
        F.elu,
        F.leaky_relu,
        F.hardtanh,
        torch.sigmoid,
        torch.tanh,
        F.dropout,
        F.adaptive_avg_pool2d,
        F.adaptive_max_pool2d,
        F.avg_pool2d,
        F.max_pool2d,
        torch.flatten,
        torch.add,
        torch.mul,
        torch.cat,
        operator.add,
        operator.iadd,
        operator.sub,
        operator.isub,
        operator.mul,
        operator.imul,
    }
)
PER_CHANNEL_METHODS = frozenset(
    {"relu", "relu_", "sigmoid", "flatten", "view", "reshape", "mean", "sum", "amax", "contiguous", "clone"}
)


class NotChannelwise(Exception):
    """The tail after the pruning point is not a per-channel chain into one affine mixing operation."""


@dataclass
class ChannelTail:
    """The fast path for one image (see the module docstring).

    ``mixing``: the first mixing module; ``base_kept``/``base_pruned``: its outputs with every
    filter kept/pruned (batch 1); ``differs``: the channels whose pruning changes the mixing input;
    ``rest``: the tail after the mixing operation with its boundary values.
    """

    mixing: nn.Module
    base_kept: Tensor
    base_pruned: Tensor
    #: (K + 1, ...): pruned - kept at the mixing input, channel by channel, and a zero row (padding)
    difference: Tensor
    #: (K + 1, C_out): the corrections of a linear mixing operation, and a zero row; else None
    table: Tensor | None
    #: (C_out, K + 1, kh, kw): a mixing convolution's weights of the K channels, and a zero column
    weight: Tensor | None
    differs: Tensor  # (K,) bool
    rest: fx.GraphModule
    boundary: Boundary

    @property
    def light(self) -> bool:
        """Whether what follows the mixing operation has no convolution (a few cheap operations per
        coalition, which large batches serve best)."""
        return not any(isinstance(m, nn.Conv2d) for m in self.rest.modules())

    def logits(self, keep: Tensor) -> Tensor:
        """Logits for keep-masks ``keep`` (B, K)."""
        size = keep.shape[0]
        from_kept = (~keep & self.differs).sum(dim=1) <= (keep & self.differs).sum(dim=1)
        # per row: the channels that differ from its base, and the sign of their corrections
        changed = torch.where(from_kept[:, None], ~keep, keep) & self.differs
        sign = torch.where(from_kept, 1.0, -1.0)
        members = _padded_members(changed)
        base = torch.where(_expand(from_kept, self.base_kept), self.base_kept, self.base_pruned)
        correction = self._corrections(members, sign)
        mixed = base.expand(size, *base.shape[1:]) + correction.to(base.dtype)
        logits: Tensor = self.rest(mixed, *self.boundary.batched(size))
        return logits

    def singleton_logits(self, channels: Tensor, mode: Literal["remove", "keep"]) -> Tensor:
        """Logits with only filter ``channels[b]`` pruned (``remove``) or kept (``keep``), (B,)."""
        size = len(channels)
        base = self.base_kept if mode == "remove" else self.base_pruned
        sign = torch.full((size,), 1.0 if mode == "remove" else -1.0, device=channels.device)
        mixed = base.expand(size, *base.shape[1:]) + self._corrections(channels[:, None], sign).to(base.dtype)
        logits: Tensor = self.rest(mixed, *self.boundary.batched(size))
        return logits

    def _corrections(self, members: Tensor, sign: Tensor) -> Tensor:
        """``sign_b * sum_{k in members_b} C_k`` per row (``members``: (B, m), -1 for padding)."""
        if self.table is not None:
            return sign[:, None].to(self.table) * self.table[members].sum(dim=1)
        conv, weight = self.mixing, self.weight
        assert isinstance(conv, nn.Conv2d) and weight is not None
        size, width = members.shape
        inputs = self.difference[members] * sign.to(self.difference)[:, None, None, None]  # (B, m, H, W)
        weights = weight[:, members].transpose(0, 1).to(inputs)  # (B, C_out, m, kh, kw)
        if conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0):
            out = torch.bmm(weights.flatten(start_dim=2), inputs.flatten(start_dim=2))  # (B, C_out, H W)
            return out.view(size, conv.out_channels, *inputs.shape[2:])
        grouped = F.conv2d(
            inputs.reshape(1, size * width, *inputs.shape[2:]),
            weights.reshape(size * conv.out_channels, width, *conv.kernel_size),
            None,
            conv.stride,
            conv.padding,
            conv.dilation,
            groups=size,
        )
        return grouped.view(size, conv.out_channels, *grouped.shape[-2:])


def _expand(rows: Tensor, like: Tensor) -> Tensor:
    return rows.view(-1, *[1] * (like.dim() - 1))


def _padded_members(mask: Tensor) -> Tensor:
    """The True positions of each row of ``mask`` (B, K) as (B, m) indices, -1 for padding."""
    counts = mask.sum(dim=1)
    width = max(int(counts.max()) if len(mask) else 0, 1)
    rows, columns = mask.nonzero(as_tuple=True)  # row-major: each row's positions in order
    starts = torch.cumsum(counts, dim=0) - counts
    slots = torch.arange(len(rows), device=mask.device) - starts[rows]
    members = torch.full((len(mask), width), -1, dtype=torch.long, device=mask.device)
    members[rows, slots] = columns
    return members


def channel_tail(split: GraphSplit, outputs: Tensor, head: Boundary) -> ChannelTail:
    """The fast path for the tail of ``split`` (whose split node is the pruning point, with value
    ``outputs`` (1, K, h, w) on the image); raises :class:`NotChannelwise` when the graph is not of
    that form."""
    tail = split.tail
    nodes = list(tail.graph.nodes)
    pruned_input = nodes[0]
    values = record(tail, nodes, outputs, *head.values)
    mixing_node, channels = _walk(tail, pruned_input, values, outputs.shape[1])
    mixing = tail.get_submodule(str(mixing_node.target))
    chain_end = mixing_node.args[0]
    assert isinstance(chain_end, fx.Node)
    kept_input = values[chain_end]
    pruned_values = record(tail, [chain_end], torch.zeros_like(outputs), *head.values)
    pruned_input_value = pruned_values[chain_end]
    offset, total = channels
    per_sample = kept_input[0].numel()
    if per_sample % total:
        raise NotChannelwise(f"the input of {mixing_node.target} does not split into {total} channels")
    blocks = (kept_input - pruned_input_value)[0].reshape(total, per_sample // total)
    difference = -blocks[offset : offset + outputs.shape[1]]
    differs = difference.abs().amax(dim=1) > 0
    with torch.no_grad():
        base_kept, base_pruned = mixing(kept_input), mixing(pruned_input_value)
    count = outputs.shape[1]
    table, weight = None, None
    if isinstance(mixing, nn.Linear):
        columns = mixing.weight.view(mixing.out_features, total, per_sample // total)[
            :, offset : offset + count
        ]
        table = _padded(torch.einsum("kr,ckr->kc", difference, columns), dim=0)
    else:
        assert isinstance(mixing, nn.Conv2d)
        difference = difference.view(-1, *kept_input.shape[2:])
        weight = _padded(mixing.weight[:, offset : offset + count], dim=1)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    batch_inputs = [pruned_input] + [n for n, c in zip(placeholders[1:], head.carries_batch) if c]
    rest = split_at(tail, mixing_node, batch_inputs)
    rest_values = record(tail, rest.boundary, outputs, *head.values)
    return ChannelTail(
        mixing,
        base_kept.detach(),
        base_pruned.detach(),
        _padded(difference, dim=0).detach(),
        None if table is None else table.detach(),
        None if weight is None else weight.detach(),
        differs,
        rest.tail,
        Boundary.of(rest, rest_values),
    )


def _padded(values: Tensor, dim: int) -> Tensor:
    """``values`` with one slice of zeros appended along ``dim`` (what index -1 selects)."""
    shape = list(values.shape)
    shape[dim] = 1
    return torch.cat([values, values.new_zeros(shape)], dim=dim)


def _walk(
    tail: fx.GraphModule, start: fx.Node, values: dict[fx.Node, Any], count: int
) -> tuple[fx.Node, tuple[int, int]]:
    """Follow the per-channel chain from ``start`` to the first mixing node; returns that node and
    (offset, total) of the pruned channels in the channel axis of its input."""
    current, offset, total = start, 0, count
    while True:
        user = single_user(current)
        if user is None:
            raise NotChannelwise(f"{current.name} feeds several operations")
        if _is_mixing(tail, user) and user.args[0] is current:
            return user, (offset, total)
        dependent = [a for a in user.all_input_nodes if a is current]
        others = [
            a
            for a in user.all_input_nodes
            if a is not current and not is_size_query(a) and _depends(a, start)
        ]
        if len(dependent) != 1 or others or not _per_channel(tail, user, values):
            raise NotChannelwise(f"{user.format_node()} is not a per-channel operation")
        if user.target is torch.cat:
            tensors = user.args[0]
            assert isinstance(tensors, (list, tuple))
            position = list(tensors).index(current)
            offset += sum(int(values[t].shape[1]) for t in tensors[:position] if isinstance(t, fx.Node))
            total = int(values[user].shape[1])
        current = user


def _depends(node: fx.Node, start: fx.Node) -> bool:
    seen, stack = set(), [node]
    while stack:
        n = stack.pop()
        if n is start:
            return True
        if n not in seen:
            seen.add(n)
            stack.extend(n.all_input_nodes)
    return False


def _is_mixing(tail: fx.GraphModule, node: fx.Node) -> bool:
    if node.op != "call_module":
        return False
    module = tail.get_submodule(str(node.target))
    if isinstance(module, nn.Linear):
        return True
    return isinstance(module, nn.Conv2d) and module.groups == 1 and _plain_convolution(module)


def _plain_convolution(conv: nn.Conv2d) -> bool:
    """Whether ``conv`` computes ``F.conv2d`` with its own settings (a subclass may pad otherwise; a
    1x1 convolution with stride 1 and no padding cannot)."""
    if type(conv) is nn.Conv2d:
        return conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
    return conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0)


def _per_channel(tail: fx.GraphModule, node: fx.Node, values: dict[fx.Node, Any]) -> bool:
    """Whether ``node`` acts on each channel of its chain input alone (checked on its recorded
    input and output shapes where the operation alone does not say)."""
    source = next(a for a in node.all_input_nodes if not is_size_query(a))
    before, after = values.get(source), values.get(node)
    if not isinstance(before, Tensor) or not isinstance(after, Tensor):
        return False
    keeps_channels = after.dim() >= 2 and after.shape[1] == before.shape[1]
    flattens = after.dim() == 2 and before.dim() > 2 and after.shape[1] == math.prod(before.shape[1:])
    if node.op == "call_module":
        module = tail.get_submodule(str(node.target))
        if isinstance(module, nn.Conv2d):  # depthwise
            return module.groups == module.in_channels == module.out_channels
        if isinstance(module, (nn.BatchNorm2d, nn.Dropout, nn.Dropout2d)) and module.training:
            return False
        return isinstance(module, PER_CHANNEL_MODULES) and (keeps_channels or flattens)
    if node.op == "call_function":
        if node.target not in PER_CHANNEL_FUNCTIONS:
            return False
        if node.target is torch.cat:
            return node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) in (1, -before.dim() + 1)
        if node.target is F.dropout:
            return node.kwargs.get("training", True) is False
        return keeps_channels or flattens
    if node.op == "call_method" and node.target in PER_CHANNEL_METHODS:
        if node.target in ("mean", "sum", "amax"):
            given = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            dims = (
                [given] if isinstance(given, int) else list(given) if isinstance(given, (list, tuple)) else []
            )
            return (
                bool(dims)
                and all(isinstance(d, int) and d % before.dim() >= 2 for d in dims)
                and keeps_channels
            )
        return keeps_channels or flattens
    return False
