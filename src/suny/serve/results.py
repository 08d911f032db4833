"""The pictures and bytes of a stored result: its overlay, the values under the pointer, the
thumbnails of its causes.

SUNY's overlay is the 2-D necessity/sufficiency colormap over the image; a baseline's is the jet
heatmap users of pytorch-grad-cam know (:mod:`suny.visualisation.colormap`). A cause's thumbnail is
its feature map upsampled to the image, scaled to [0, 1], in jet.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from suny.ops import minmax
from suny.serve.cache import StoredResult
from suny.visualisation import as_map, heatmap_rgb, overlay_bivariate, overlay_heatmap


def png(pixels: np.ndarray) -> bytes:
    """uint8 RGB pixels (H, W, 3) as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def is_suny(result: StoredResult) -> bool:
    return bool(result.record["kind"] == "suny")


def overlay_png(result: StoredResult) -> bytes:
    """The result's maps over its image (drawn once per result in memory)."""
    if "overlay" not in result.pictures:
        arrays = result.arrays
        if is_suny(result):
            picture = overlay_bivariate(arrays["image"], arrays["necessity_map"], arrays["sufficiency_map"])
        else:
            picture = overlay_heatmap(arrays["image"], arrays["map"])
        result.pictures["overlay"] = png(picture)
    return result.pictures["overlay"]


def values_bin(result: StoredResult) -> bytes:
    """Little-endian float32 values: SUNY's N then S (2 x H x W), a baseline's map (H x W)."""
    arrays = result.arrays
    maps = [arrays["necessity_map"], arrays["sufficiency_map"]] if is_suny(result) else [arrays["map"]]
    return np.stack(maps).astype("<f4").tobytes()


def cause_png(result: StoredResult, cause: int) -> bytes | None:
    """The thumbnail of ``cause`` (None: not one of the result's top causes)."""
    arrays = result.arrays
    if not is_suny(result) or cause not in arrays["cause_ids"].tolist():
        return None
    activation = arrays["cause_maps"][arrays["cause_ids"].tolist().index(cause)]
    height, width = arrays["image"].shape[:2]
    scaled = minmax(torch.from_numpy(np.asarray(activation, dtype=np.float32))).numpy()
    return png(heatmap_rgb(as_map(scaled, (height, width))))
