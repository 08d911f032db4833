"""Line styles that keep many series of one plot apart (the report's curves: eleven methods)."""

from __future__ import annotations

from typing import Any

#: Matplotlib's default cycle has ten colours; each further round of them gets another dash.
COLOURS = 10
DASHES = ("-", "--", ":", "-.")


def series_style(index: int) -> dict[str, Any]:
    """The colour (``C0``-``C9``) and line style of series ``index``: the ten colours solid, then
    dashed, dotted and dash-dotted, so that up to 40 series look different."""
    return {"color": f"C{index % COLOURS}", "linestyle": DASHES[index // COLOURS % len(DASHES)]}
