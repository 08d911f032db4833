"""A layer's output seen as feature maps (B, C, h, w): pytorch-grad-cam's ``reshape_transform``.

A transformer's layer returns tokens (B, N, D) (ViT, DeiT) or channels-last maps (B, H, W, C)
(Swin); a ``reshape_transform`` turns them into maps ``R(output)`` (B, C, h, w), as in
pytorch-grad-cam. Every method reads a layer through its :class:`LayerView`: SUNY-feature masks the
input with the upsampled channels of ``R(output)``, the CAMs weight them (their gradients are
``R(dy/d output)``, as pytorch-grad-cam's), and SUNY-filter prunes them. A "filter" of such a layer
is one channel of ``R(output)``: one embedding dimension over the token grid.

Pruning writes the maps back (``write``): ``R``'s inverse. It is derived, not given: a reshape
that selects entries (slicing off the class token, reshape, permute, transpose) sends the flat index
of each entry of ``output`` to where it lands, so ``R(arange(output.numel()).view(output.shape))``
says, for each entry of the maps, which entry of ``output`` it is; writing the maps back puts each
value there and leaves the others (the class token) as they were. A transform that computes (an
interpolation, a mean) has no such inverse; SUNY-filter refuses it by name, the other methods
accept it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from suny.errors import LayerError

#: pytorch-grad-cam's ``reshape_transform``: a layer's output -> feature maps (B, C, h, w).
ReshapeTransform = Callable[[Tensor], Tensor]


def token_maps(output: Tensor) -> Tensor:
    """suny's reshape for timm's vision transformers (ViT, DeiT, Swin), by the output's shape.

    Tokens (B, N, D): the last ``s * s`` tokens, ``s = isqrt(N)``, as (B, D, s, s) (the prefix
    tokens, class, distillation or registers, come first in timm, and are fewer than ``2 s + 1``);
    channels-last maps (B, H, W, C) with ``H == W != C``: (B, C, H, W); anything else as it is.
    """
    if output.dim() == 3:
        side = math.isqrt(output.shape[1])
        grid = output[:, output.shape[1] - side * side :]
        return grid.reshape(len(grid), side, side, grid.shape[2]).permute(0, 3, 1, 2)
    if output.dim() == 4 and output.shape[1] == output.shape[2] != output.shape[3]:
        return output.permute(0, 3, 1, 2)
    return output


def seen_shape(transform: ReshapeTransform, shape: tuple[int, ...]) -> tuple[int, ...] | str:
    """The shape ``transform`` gives an output of ``shape``, or why it cannot take one (its error)."""
    try:
        seen: object = transform(torch.zeros(shape))
    except Exception as err:  # a user's callable: any failure means "cannot take this layer"
        return f"{type(err).__name__}: {err}"
    if not isinstance(seen, Tensor):
        return f"it returns a {type(seen).__name__}, not a tensor"
    return tuple(seen.shape)


def changes(transform: ReshapeTransform, shape: tuple[int, ...]) -> bool:
    """Whether ``transform`` sees an output of ``shape`` as anything but itself (same storage,
    shape and strides: ``lambda x: x``, or :func:`token_maps` on maps (B, C, h, w))."""
    probe = torch.zeros(shape)
    seen = transform(probe)
    same = seen.shape == probe.shape and seen.stride() == probe.stride()
    return not (same and seen.data_ptr() == probe.data_ptr())


@dataclass
class LayerView:
    """How the methods see the output of one layer: ``maps(output) = R(output)`` (B, C, h, w), and
    back (``write``). ``transform`` None: the output is the maps (a CNN's layer)."""

    layer: str
    transform: ReshapeTransform | None = None
    #: (shape, device) of an output -> the flat index in it of each entry of its maps.
    _places: dict[tuple[tuple[int, ...], str], Tensor] = field(default_factory=dict, repr=False)

    def maps(self, output: Tensor) -> Tensor:
        """``R(output)``, (B, C, h, w)."""
        if self.transform is None:
            return output
        seen: object = self.transform(output)
        if not isinstance(seen, Tensor) or seen.dim() != 4:
            shape = tuple(seen.shape) if isinstance(seen, Tensor) else type(seen).__name__
            raise LayerError(f"the reshape_transform of {self.layer} gave {shape}, not maps (B, C, h, w)")
        return seen

    def places(self, output: Tensor) -> Tensor:
        """For each entry of ``maps(output)`` (B, C, h, w), the flat index of the entry of ``output``
        it shows: ``R(arange(numel).view(shape))``, checked to be a one-to-one selection."""
        key = (tuple(output.shape), str(output.device))
        if key not in self._places:
            index = torch.arange(output.numel(), dtype=torch.float64, device=output.device)
            seen = self.maps(index.view(output.shape))
            places = seen.round().long()
            selects = bool((seen == places).all()) and int(torch.unique(places).numel()) == places.numel()
            if not selects or not torch.equal(self.maps(output), output.flatten()[places]):
                raise LayerError(
                    f"the reshape_transform of {self.layer} computes new values rather than selecting the "
                    "output's entries (slicing, reshape, permute): SUNY-filter cannot write pruned channels "
                    "back into the layer; use SUNY-feature or a CAM there"
                )
            self._places[key] = places
        return self._places[key]

    def write(self, output: Tensor, maps: Tensor) -> Tensor:
        """``output`` with the entries that ``maps(output)`` shows replaced by ``maps`` (the inverse of
        ``R``; the entries ``R`` drops, such as the class token, stay), differentiable in ``maps``."""
        if self.transform is None:
            return maps
        places = self.places(output).flatten()
        written = output.flatten().index_put((places,), maps.flatten().to(output.dtype))
        return written.view(output.shape)
