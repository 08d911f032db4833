"""Colours for explanation maps: the paper's 2-D necessity/sufficiency colormap and 1-D heatmaps.

**The 2-D colormap.** A pixel with necessity ``n`` and sufficiency ``s`` (both in [0, 1]) gets the
colour at (x = n, y = s) of a square whose four corners are

- (0, 0) low on both: white,
- (1, 0) necessary only: blue ``#2166ac``,
- (0, 1) sufficient only: red ``#d73027``,
- (1, 1) both: dark purple ``#542788``,

interpolated bilinearly in CIELAB (so equal steps in ``n`` or ``s`` look like roughly equal changes
of colour) and converted back to sRGB. Lightness falls from white towards every high corner and is
lowest at "both", so "more explained" always reads as "darker", and the blue/red pair stays apart
for the common red-green colour-blindnesses. The opacity is ``alpha = max(n, s)``: a pixel low on
both is transparent and lets the image show through; a pixel high on either is opaque (an overlay
scales this by its ``opacity``).

One-dimensional "importance" maps of other methods go on the diagonal ``n = s = m`` (white, then
ever darker purple), as in the paper, and :func:`importance_rgba` also places a necessity-only or
sufficiency-only map on its axis. The legend square (:func:`legend_square`, :func:`draw_legend`)
shows the colours over white: necessity increases to the right, sufficiency upwards.

**1-D heatmaps.** :func:`overlay_heatmap` blends a matplotlib colormap (``turbo`` by default) over
the image at a constant opacity: the usual Grad-CAM look, for showing N, S and the combined map
side by side.

Inputs: images as a tensor (3, H, W) or (1, 3, H, W) in [0, 1], a numpy array (H, W, 3) (uint8, or
float in [0, 1]) or a PIL image; maps as a tensor or numpy array (H, W) in [0, 1] (leading
singleton dimensions are dropped, values outside [0, 1] are clipped, and a map of another size is
resized bilinearly to the image). Outputs: RGBA colours as float32 numpy arrays in [0, 1], pictures
as uint8 RGB numpy arrays (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from PIL import Image
from torch import Tensor

from suny.errors import SunyError

RGB = tuple[int, int, int]
ImageLike = Tensor | np.ndarray | Image.Image
MapLike = Tensor | np.ndarray
Axis = Literal["diagonal", "necessity", "sufficiency"]
#: One-dimensional maps (every baseline, N alone, S alone) are drawn as pytorch-grad-cam's
#: ``show_cam_on_image`` draws them: the jet colormap (blue = 0, through yellow, to red = 1) blended
#: over the photograph at half opacity.
HEATMAP_CMAP = "jet"
HEATMAP_ALPHA = 0.5

# CIE XYZ of the sRGB primaries (D65) and the D65 white point.
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE = _RGB_TO_XYZ.sum(axis=1)
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB (..., 3) to CIELAB (..., 3), D65."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    t = (linear @ _RGB_TO_XYZ.T) / _WHITE
    f = np.where(t > _EPSILON, np.cbrt(t), (_KAPPA * t + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (..., 3) to sRGB (..., 3) in [0, 1] (colours outside the gamut are clipped)."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    t = np.where(f**3 > _EPSILON, f**3, (116 * f - 16) / _KAPPA)
    linear = np.clip((t * _WHITE) @ np.linalg.inv(_RGB_TO_XYZ).T, 0.0, 1.0)
    rgb: np.ndarray = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return rgb


@dataclass(frozen=True)
class BivariateColormap:
    """The 2-D colormap: four 8-bit sRGB corner colours, bilinear in CIELAB, ``alpha = max(n, s)``."""

    none: RGB = (255, 255, 255)
    necessity: RGB = (0x21, 0x66, 0xAC)
    sufficiency: RGB = (0xD7, 0x30, 0x27)
    both: RGB = (0x54, 0x27, 0x88)

    def rgba(self, necessity: MapLike, sufficiency: MapLike) -> np.ndarray:
        """RGBA float32 (..., 4) in [0, 1] for same-shaped arrays of necessity and sufficiency."""
        n, s = _unit_array(necessity), _unit_array(sufficiency)
        if n.shape != s.shape:
            raise SunyError(f"necessity {n.shape} and sufficiency {s.shape} maps differ in shape")
        corners = _srgb_to_lab(np.array([self.none, self.necessity, self.sufficiency, self.both]))
        n, s = n[..., None], s[..., None]
        lab = (
            (1 - n) * (1 - s) * corners[0]
            + n * (1 - s) * corners[1]
            + (1 - n) * s * corners[2]
            + n * s * corners[3]
        )
        alpha = np.maximum(n, s)
        return np.concatenate([_lab_to_srgb(lab), alpha], axis=-1).astype(np.float32)


DEFAULT_COLORMAP = BivariateColormap()


def bivariate_rgba(
    necessity: MapLike, sufficiency: MapLike, colormap: BivariateColormap = DEFAULT_COLORMAP
) -> np.ndarray:
    """RGBA float32 (..., 4) in [0, 1] of (necessity, sufficiency) pairs in [0, 1]."""
    return colormap.rgba(necessity, sufficiency)


def importance_rgba(
    importance: MapLike, axis: Axis = "diagonal", colormap: BivariateColormap = DEFAULT_COLORMAP
) -> np.ndarray:
    """RGBA float32 (..., 4) of a one-dimensional map placed in the 2-D colormap: on the diagonal
    ``n = s = m`` (other methods' importance), or on the necessity (``s = 0``) or sufficiency
    (``n = 0``) axis."""
    m = _unit_array(importance)
    zero = np.zeros_like(m)
    if axis == "diagonal":
        return colormap.rgba(m, m)
    if axis == "necessity":
        return colormap.rgba(m, zero)
    if axis == "sufficiency":
        return colormap.rgba(zero, m)
    raise SunyError(f"unknown axis {axis!r}; use diagonal, necessity or sufficiency")


def composite(image: ImageLike, rgba: np.ndarray, opacity: float = 1.0) -> np.ndarray:
    """uint8 RGB (H, W, 3): ``rgba`` (H, W, 4) in [0, 1] drawn over ``image`` with its alpha times
    ``opacity``; where alpha is 0 the image is returned unchanged."""
    base = to_rgb_array(image)
    if rgba.shape != (*base.shape[:2], 4):
        raise SunyError(f"colours of shape {rgba.shape} do not fit an image of {base.shape[:2]}")
    alpha = rgba[..., 3:] * opacity
    blended = base / 255 * (1 - alpha) + rgba[..., :3] * alpha
    return _to_uint8(blended)


def overlay_bivariate(
    image: ImageLike,
    necessity: MapLike,
    sufficiency: MapLike,
    opacity: float = 0.85,
    colormap: BivariateColormap = DEFAULT_COLORMAP,
) -> np.ndarray:
    """uint8 RGB (H, W, 3): the necessity and sufficiency maps in the 2-D colormap over ``image``."""
    size = to_rgb_array(image).shape[:2]
    rgba = colormap.rgba(as_map(necessity, size), as_map(sufficiency, size))
    return composite(image, rgba, opacity)


def overlay_importance(
    image: ImageLike,
    importance: MapLike,
    axis: Axis = "diagonal",
    opacity: float = 0.85,
    colormap: BivariateColormap = DEFAULT_COLORMAP,
) -> np.ndarray:
    """uint8 RGB (H, W, 3): a one-dimensional map on ``axis`` of the 2-D colormap over ``image``."""
    size = to_rgb_array(image).shape[:2]
    return composite(image, importance_rgba(as_map(importance, size), axis, colormap), opacity)


def heatmap_rgb(values: MapLike, cmap: str = HEATMAP_CMAP) -> np.ndarray:
    """uint8 RGB (..., 3): ``values`` in [0, 1] through the matplotlib colormap ``cmap``."""
    colours = matplotlib.colormaps[cmap](_unit_array(values))[..., :3]
    return _to_uint8(colours)


def overlay_heatmap(
    image: ImageLike, values: MapLike, alpha: float = HEATMAP_ALPHA, cmap: str = HEATMAP_CMAP
) -> np.ndarray:
    """uint8 RGB (H, W, 3): a plain 1-D heatmap blended over ``image`` at constant opacity ``alpha``."""
    base = to_rgb_array(image)
    heat = heatmap_rgb(as_map(values, base.shape[:2]), cmap)
    return _to_uint8((base / 255) * (1 - alpha) + (heat / 255) * alpha)


def legend_square(size: int = 256, colormap: BivariateColormap = DEFAULT_COLORMAP) -> np.ndarray:
    """uint8 RGB (size, size, 3): the 2-D colormap over white, necessity increasing to the right
    (columns) and sufficiency upwards (row 0 is sufficiency 1, the last row sufficiency 0)."""
    if size < 2:
        raise SunyError(f"the legend needs at least 2x2 pixels, got {size}")
    ramp = np.linspace(0.0, 1.0, size)
    necessity, sufficiency = np.meshgrid(ramp, ramp[::-1])
    return composite(np.full((size, size, 3), 255, np.uint8), colormap.rgba(necessity, sufficiency))


def draw_legend(ax: Axes, colormap: BivariateColormap = DEFAULT_COLORMAP, fontsize: float = 8) -> None:
    """Draw the legend square on ``ax``: axes labelled "necessity" (x) and "sufficiency" (y) from 0
    to 1, and the diagonal where one-dimensional maps of other methods lie, dotted."""
    ax.imshow(legend_square(colormap=colormap), extent=(0, 1, 0, 1), origin="upper", interpolation="bilinear")
    ax.plot([0, 1], [0, 1], linestyle=":", color="0.35", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
    ax.tick_params(labelsize=fontsize, length=2, pad=1)
    ax.set_xlabel("necessity →", fontsize=fontsize, labelpad=1)
    ax.set_ylabel("sufficiency →", fontsize=fontsize, labelpad=1)
    ax.set_aspect("equal")


def to_rgb_array(image: ImageLike) -> np.ndarray:
    """uint8 RGB (H, W, 3) of a tensor (3, H, W) or (1, 3, H, W) in [0, 1], a numpy array (H, W, 3)
    (uint8, or float in [0, 1]) or a PIL image."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, Tensor):
        tensor = image.detach().cpu().float()
        if tensor.dim() == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.dim() != 3 or tensor.shape[0] != 3:
            raise SunyError(f"expected an image tensor of shape (3, H, W), got {tuple(image.shape)}")
        return _to_uint8(tensor.permute(1, 2, 0).numpy())
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise SunyError(f"expected an image array of shape (H, W, 3), got {array.shape}")
    return array if array.dtype == np.dtype(np.uint8) else _to_uint8(array)


def as_map(values: MapLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """float32 (H, W) in [0, 1] of a map (leading singleton dimensions dropped, values clipped),
    resized bilinearly to ``size`` (H, W) when given and different."""
    array = _unit_array(values)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise SunyError(f"expected a map of shape (H, W), got {array.shape}")
    if size is not None and array.shape != tuple(size):
        resized = Image.fromarray(array).resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.clip(np.asarray(resized), 0.0, 1.0)
    return array


def _unit_array(values: MapLike) -> np.ndarray:
    """float32 numpy copy of ``values`` clipped to [0, 1]; NaN or infinity is an error."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().float().numpy()
    array = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise SunyError("the map has NaN or infinite values")
    return np.clip(array, 0.0, 1.0)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to uint8 [0, 255], rounded."""
    return np.round(np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * 255).astype(np.uint8)
