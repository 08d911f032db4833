"""Matplotlib figures of explanations (object API only: no pyplot state, rendered with Agg).

- :func:`bivariate_figure`: one image's 2-D necessity/sufficiency overlay beside the legend square.
- :func:`explanation_figure`: image | 2-D overlay + legend | N | S | combined overlays (1-D heatmaps
  with a colour bar), titled with the class and its probability.
- :func:`comparison_figure`: the paper's Figure 1 / A3 grid: one row per image, the image then one
  panel per method titled with its name and time; SUNY explanations in the 2-D colormap (with its
  legend), every one-dimensional map (the baselines, N alone, S alone) as the heatmap users of
  pytorch-grad-cam know (:data:`~suny.visualisation.colormap.HEATMAP_CMAP` at half opacity, with a
  colour bar).

Every function returns a :class:`matplotlib.figure.Figure`; save it with ``figure.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from suny.errors import SunyError
from suny.method.explanation import Explanation
from suny.visualisation.colormap import (
    DEFAULT_COLORMAP,
    HEATMAP_ALPHA,
    HEATMAP_CMAP,
    BivariateColormap,
    ImageLike,
    MapLike,
    draw_legend,
    overlay_bivariate,
    overlay_heatmap,
    to_rgb_array,
)


def format_seconds(seconds: float) -> str:
    """A short human reading of a duration: ``"35 ms"``, ``"1.24 s"``, ``"36.2 s"``, ``"2.5 min"``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def describe_prediction(explanation: Explanation) -> str:
    """``"tiger cat (class 282), p = 0.834"``."""
    return f"{explanation.target_name} (class {explanation.target}), p = {explanation.probability:.3f}"


def _show(ax: Axes, picture: np.ndarray, title: str = "", fontsize: float = 9) -> None:
    """A picture without ticks or frame, titled."""
    ax.imshow(picture)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=fontsize)


def bivariate_figure(
    image: ImageLike,
    necessity: MapLike,
    sufficiency: MapLike,
    title: str = "",
    opacity: float = 0.85,
    colormap: BivariateColormap = DEFAULT_COLORMAP,
) -> Figure:
    """The 2-D overlay of ``necessity`` and ``sufficiency`` over ``image`` with the legend square."""
    figure = Figure(figsize=(4.6, 3.4), layout="constrained")
    grid = figure.add_gridspec(1, 2, width_ratios=[1, 0.42])
    _show(figure.add_subplot(grid[0]), overlay_bivariate(image, necessity, sufficiency, opacity, colormap))
    draw_legend(figure.add_subplot(grid[1]), colormap)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def explanation_figure(
    image: ImageLike,
    explanation: Explanation,
    title: str | None = None,
    opacity: float = 0.85,
    heat_alpha: float = HEATMAP_ALPHA,
    cmap: str = HEATMAP_CMAP,
    colormap: BivariateColormap = DEFAULT_COLORMAP,
) -> Figure:
    """image | 2-D overlay | legend | N | S | combined | colour bar, for one SUNY explanation.

    ``title`` defaults to the class, its probability and the SUNY variant, model and layer.
    """
    e = explanation
    figure = Figure(figsize=(15.5, 3.3), layout="constrained")
    grid = figure.add_gridspec(1, 7, width_ratios=[1, 1, 0.42, 1, 1, 1, 0.05])
    _show(figure.add_subplot(grid[0]), to_rgb_array(image), "image")
    _show(
        figure.add_subplot(grid[1]),
        overlay_bivariate(image, e.necessity_map, e.sufficiency_map, opacity, colormap),
        "necessity × sufficiency",
    )
    draw_legend(figure.add_subplot(grid[2]), colormap)
    panels = [
        (e.necessity_map, "necessity (N)"),
        (e.sufficiency_map, "sufficiency (S)"),
        (e.combined_map, f"combined ({e.combination})"),
    ]
    for column, (values, name) in enumerate(panels, start=3):
        _show(figure.add_subplot(grid[column]), overlay_heatmap(image, values, heat_alpha, cmap), name)
    figure.colorbar(ScalarMappable(Normalize(0, 1), cmap), cax=figure.add_subplot(grid[6]))
    if title is None:
        model = f"{e.model_name} " if e.model_name else ""
        title = f"{describe_prediction(e)}  —  SUNY-{e.cause}, {model}{e.layer}"
    figure.suptitle(title, fontsize=11)
    return figure


@dataclass
class ComparisonRow:
    """One row of :func:`comparison_figure`: an image and its maps by method name, in column order.

    A value that is an :class:`Explanation` is drawn in the 2-D colormap (N on x, S on y); any other
    value is a 1-D map (H, W) in [0, 1], drawn as a heatmap. ``seconds`` gives each method's time (an
    Explanation's own ``seconds`` is used when absent); ``label`` names the row (default: the class
    of the first Explanation, if any).
    """

    image: ImageLike
    methods: Mapping[str, MapLike | Explanation]
    seconds: Mapping[str, float] = field(default_factory=dict)
    label: str | None = None

    def row_label(self) -> str:
        if self.label is not None:
            return self.label
        for value in self.methods.values():
            if isinstance(value, Explanation):
                return f"{value.target_name}\np = {value.probability:.2f}"
        return ""

    def panel(
        self, name: str, opacity: float, colormap: BivariateColormap, cmap: str, heat_alpha: float
    ) -> tuple[np.ndarray, str]:
        """The overlay and title of method ``name`` in this row."""
        value = self.methods[name]
        if isinstance(value, Explanation):
            picture = overlay_bivariate(
                self.image, value.necessity_map, value.sufficiency_map, opacity, colormap
            )
            seconds: float | None = self.seconds.get(name, value.seconds)
        else:
            picture = overlay_heatmap(self.image, value, heat_alpha, cmap)
            seconds = self.seconds.get(name)
        return picture, name if seconds is None else f"{name}\n{format_seconds(seconds)}"


def comparison_figure(
    rows: Sequence[ComparisonRow],
    opacity: float = 0.85,
    panel_size: float = 2.0,
    legend: bool = True,
    colormap: BivariateColormap = DEFAULT_COLORMAP,
    cmap: str = HEATMAP_CMAP,
    heat_alpha: float = HEATMAP_ALPHA,
) -> Figure:
    """One row per image: the image (labelled with the row's class), then one panel per method.

    Columns are the methods in order of first appearance over the rows (a row without a method
    leaves that panel empty). SUNY explanations are drawn in the 2-D colormap, every other map as a
    ``cmap`` heatmap at opacity ``heat_alpha``. With ``legend``, the first row ends with the 2-D
    legend square (where there is an explanation) and the heatmap's colour bar (where there is a
    1-D map), each only where its kind of panel is.
    """
    if not rows:
        raise SunyError("comparison_figure needs at least one row")
    names = list(dict.fromkeys(name for row in rows for name in row.methods))
    values = [value for row in rows for value in row.methods.values()]
    bivariate = legend and any(isinstance(value, Explanation) for value in values)
    heatmaps = legend and any(not isinstance(value, Explanation) for value in values)
    ratios = [1.0] * (1 + len(names)) + [0.55] * bivariate + [0.08] * heatmaps
    figure = Figure(figsize=(panel_size * sum(ratios), panel_size * 1.15 * len(rows)), layout="constrained")
    grid = figure.add_gridspec(len(rows), len(ratios), width_ratios=ratios)
    for r, row in enumerate(rows):
        image_ax = figure.add_subplot(grid[r, 0])
        _show(image_ax, to_rgb_array(row.image), "image" if r == 0 else "")
        image_ax.set_axis_on()
        image_ax.set_xticks([])
        image_ax.set_yticks([])
        image_ax.set_ylabel(row.row_label(), fontsize=9)
        for c, name in enumerate(names, start=1):
            ax = figure.add_subplot(grid[r, c])
            if name in row.methods:
                _show(ax, *row.panel(name, opacity, colormap, cmap, heat_alpha))
            else:
                ax.set_axis_off()
    column = 1 + len(names)
    if bivariate:
        draw_legend(figure.add_subplot(grid[0, column]), colormap, fontsize=7)
        column += 1
    if heatmaps:
        bar = figure.colorbar(ScalarMappable(Normalize(0, 1), cmap), cax=figure.add_subplot(grid[0, column]))
        bar.ax.tick_params(labelsize=7)
    return figure


__all__ = [
    "ComparisonRow",
    "bivariate_figure",
    "comparison_figure",
    "describe_prediction",
    "explanation_figure",
    "format_seconds",
]
