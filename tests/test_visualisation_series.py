"""Many series in one plot stay apart: the report's curves have eleven methods."""

from suny.visualisation.series import series_style


def test_the_first_forty_series_have_forty_different_styles():
    styles = [tuple(series_style(index).items()) for index in range(40)]
    assert len(set(styles)) == 40
    assert series_style(0) == {"color": "C0", "linestyle": "-"}
    assert series_style(10) == {"color": "C0", "linestyle": "--"}  # the eleventh: first colour, dashed
