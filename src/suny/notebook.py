"""Explanations where users look: Jupyter's display of an :class:`~suny.method.explanation.Explanation`
and ``explanation.save(folder)``.

In a notebook an explanation shows the 2-D necessity/sufficiency picture of its maps over the
explained image (its thumbnail; the legend beside) and its top causes; :func:`explanation_png` and
:func:`explanation_html` are that picture and that view, over another image when one is given.

Why this module exists: the pictures come from :mod:`suny.visualisation`, which imports
:mod:`suny.method.explanation`, so the explanation cannot import them back without an import
circle. This module sits above both: importing it (``import suny`` does) installs its renderer in
the explanation module (:func:`~suny.method.explanation.set_display`), and it imports the
visualisation (and with it matplotlib) only inside its functions, when a picture is drawn.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from suny.method.explanation import Explanation, set_display

if TYPE_CHECKING:
    from suny.visualisation.colormap import ImageLike


def _white(explanation: Explanation) -> torch.Tensor:
    """A white image (3, H, W) of the maps' size: the 2-D colormap over it is the colormap itself."""
    return torch.ones(3, *explanation.necessity_map.shape[-2:])


def _background(explanation: Explanation, image: ImageLike | None) -> ImageLike | None:
    """What to draw the maps over: ``image``, else the explanation's thumbnail, else nothing."""
    return image if image is not None else explanation.thumbnail


def explanation_png(explanation: Explanation, image: ImageLike | None = None, dpi: int = 100) -> bytes:
    """The necessity and sufficiency maps in the 2-D colormap over the image, beside its legend, as
    PNG bytes.

    Args:
        explanation: the explanation.
        image: the image to draw the maps over (default: the explanation's thumbnail of the image it
            explained; without one, the colours alone).
        dpi: the resolution (the figure is 4.6 x 3.4 inches).

    Returns:
        The PNG file's bytes.
    """
    from suny.visualisation.figures import bivariate_figure, describe_prediction

    e = explanation
    title = f"{describe_prediction(e)}\nSUNY-{e.cause}, layer {e.layer}"
    background = _background(e, image)
    if background is None:
        figure = bivariate_figure(_white(e), e.necessity_map, e.sufficiency_map, title, opacity=1.0)
        panel = figure.axes[0]  # framed, since white means "neither necessary nor sufficient"
        panel.set_axis_on()
        panel.set_xticks([])
        panel.set_yticks([])
    else:
        figure = bivariate_figure(background, e.necessity_map, e.sufficiency_map, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def explanation_html(
    explanation: Explanation,
    image: ImageLike | None = None,
    concepts: Mapping[int, str] | None = None,
    count: int = 5,
) -> str:
    """An HTML fragment: the picture of :func:`explanation_png` inline, the textual explanation and
    the top ``count`` causes by R_N and by R_S with their standard errors.

    Args:
        explanation: the explanation.
        image: the explained image (default: none, the colours alone).
        concepts: filter index -> concept name.
        count: causes listed per kind.

    Returns:
        Self-contained HTML (the picture is a base64 ``data:`` URL).
    """
    from suny.visualisation.concepts import KINDS, cause_table, textual_explanation
    from suny.visualisation.figures import format_seconds
    from suny.visualisation.html import HeaderCell, escape, table

    e = explanation
    picture = base64.b64encode(explanation_png(e, image)).decode("ascii")
    noun = "filter" if e.cause == "filter" else "feature map"
    tables = [cause_table(e, kind, concepts, count) for kind in KINDS]
    rows = []
    for rank in range(max(map(len, tables), default=0)):
        row: list[object] = [rank + 1]
        for causes in tables:
            c = causes[rank] if rank < len(causes) else None
            label = "" if c is None else str(c["cause"]) + (f" ({c['concept']})" if c["concept"] else "")
            stderr = "—" if c is None or not math.isfinite(c["stderr"]) else f"{c['stderr']:.2g}"
            row += ["", "", ""] if c is None else [label, f"{c['responsibility']:.3g}", stderr]
        rows.append(row)
    header: list[list[str | HeaderCell]] = [
        [HeaderCell("rank", rows=2), HeaderCell("by necessity", 3), HeaderCell("by sufficiency", 3)],
        [noun, "R_N", "± s.e.", noun, "R_S", "± s.e."],
    ]
    top = table(header, rows, {1, 4}) if rows else "<p>No cause has a positive responsibility.</p>"
    model = f"{e.model_name}, " if e.model_name else ""
    return (
        '<div class="suny-explanation">'
        f"<p><b>{escape(e.target_name)}</b> (class {e.target}), p = {e.probability:.3f} · "
        f"SUNY-{escape(e.cause)}, {escape(model)}layer {escape(e.layer)} · {e.forward_passes} forward "
        f"passes, {escape(format_seconds(e.seconds))}</p>"
        f'<img src="data:image/png;base64,{picture}" alt="necessity and sufficiency maps">'
        f"<p>{escape(textual_explanation(e, concepts))}</p>{top}"
        f"<p>F_N = {escape(e.necessary_set)}, F_S = {escape(e.sufficient_set)}</p></div>"
    )


def save_explanation(
    explanation: Explanation,
    folder: str | Path,
    image: ImageLike | None = None,
    concepts: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """Write what ``suny explain`` writes for one explanation (``write_explanation_report``).

    Args:
        explanation: the explanation.
        folder: created if needed.
        image: the explained image (default: the explanation's thumbnail, else a white image of the
            maps' size).
        concepts: filter index -> concept name.

    Returns:
        ``{"folder": ..., "files": [...]}``, short enough for a notebook cell to echo (the data is
        in ``summary.json``).
    """
    from suny.visualisation.report import write_explanation_report

    background = _background(explanation, image)
    summary = write_explanation_report(
        folder, _white(explanation) if background is None else background, [explanation], concepts=concepts
    )
    return {"folder": str(folder), "files": summary["files"]}


class NotebookDisplay:
    """The :class:`~suny.method.explanation.Display` that :class:`Explanation` uses: this module's
    functions with their defaults."""

    png = staticmethod(explanation_png)
    html = staticmethod(explanation_html)
    save = staticmethod(save_explanation)


set_display(NotebookDisplay())

__all__ = ["NotebookDisplay", "explanation_html", "explanation_png", "save_explanation"]
