"""EfficientNet-Lite's network (efficientnet-lite-pytorch) with an activation module for each call of
its ReLU6, at module level so that a loaded model pickles (``torch.save(model)``).

The original calls one shared ``_swish`` (a ReLU6) for the stem, the head, and in each block after
the expansion and after the depthwise convolution, so none of those outputs could be hooked (and so
explained) on its own: here they are ``_stem_activation``, ``_head_activation`` and, per block,
``_blocks.N._expand_activation`` (a block's last post-activation map before its depthwise
convolution's stride) and ``_blocks.N._depthwise_activation``. Same weights, same numbers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite_pytorch.model import MBConvBlock
from efficientnet_lite_pytorch.utils import drop_connect
from torch import nn


class LiteBlock(MBConvBlock):  # type: ignore[misc]
    """An ``MBConvBlock`` (Lite: no squeeze-and-excitation) with its own activation modules."""

    def forward(self, inputs: torch.Tensor, drop_connect_rate: float | None = None) -> torch.Tensor:
        x = inputs
        if self._block_args.expand_ratio != 1:
            x = self._expand_activation(self._bn0(self._expand_conv(inputs)))
        x = self._depthwise_activation(self._bn1(self._depthwise_conv(x)))
        if self.has_se:
            squeezed = self._se_expand(self._swish(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
            x = torch.sigmoid(squeezed) * x
        x = self._bn2(self._project_conv(x))
        args = self._block_args
        if self.id_skip and args.stride == 1 and args.input_filters == args.output_filters:
            if drop_connect_rate:
                x = drop_connect(x, p=drop_connect_rate, training=self.training)
            x = x + inputs
        result: torch.Tensor = x
        return result


class EfficientNetLite(EfficientNet):  # type: ignore[misc]
    """The network, its blocks made :class:`LiteBlock` with an activation module per call."""

    def __init__(self, blocks_args: Any, global_params: Any) -> None:
        super().__init__(blocks_args, global_params)
        self._stem_activation = nn.ReLU6()
        self._head_activation = nn.ReLU6()
        for block in self._blocks:
            block.__class__ = LiteBlock
            if block._block_args.expand_ratio != 1:
                block._expand_activation = nn.ReLU6()
            block._depthwise_activation = nn.ReLU6()

    def extract_features(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self._stem_activation(self._bn0(self._conv_stem(inputs)))
        for index, block in enumerate(self._blocks):
            rate = self._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * index / len(self._blocks) if rate else rate)
        features: torch.Tensor = self._head_activation(self._bn1(self._conv_head(x)))
        return features


__all__ = ["EfficientNetLite", "LiteBlock"]
