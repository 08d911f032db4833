"""Pictures of explanations: the paper's 2-D necessity/sufficiency colormap, 1-D heatmap overlays,
matplotlib figures (one explanation; the method-comparison grid), concept names and the HTML report
folder, with the HTML that the results report shares."""

from suny.visualisation.colormap import (
    DEFAULT_COLORMAP,
    BivariateColormap,
    as_map,
    bivariate_rgba,
    composite,
    draw_legend,
    heatmap_rgb,
    importance_rgba,
    legend_square,
    overlay_bivariate,
    overlay_heatmap,
    overlay_importance,
    to_rgb_array,
)
from suny.visualisation.concepts import cause_table, load_concepts, textual_explanation
from suny.visualisation.figures import (
    ComparisonRow,
    bivariate_figure,
    comparison_figure,
    explanation_figure,
    format_seconds,
)
from suny.visualisation.report import ClassScore, top_predictions, write_explanation_report

__all__ = [
    "DEFAULT_COLORMAP",
    "BivariateColormap",
    "ClassScore",
    "ComparisonRow",
    "as_map",
    "bivariate_figure",
    "bivariate_rgba",
    "cause_table",
    "comparison_figure",
    "composite",
    "draw_legend",
    "explanation_figure",
    "format_seconds",
    "heatmap_rgb",
    "importance_rgba",
    "legend_square",
    "load_concepts",
    "overlay_bivariate",
    "overlay_heatmap",
    "overlay_importance",
    "textual_explanation",
    "to_rgb_array",
    "top_predictions",
    "write_explanation_report",
]
