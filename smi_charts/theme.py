"""The one chart theme of the book and the Voila labs: readable text, titles, legends that fit.

Registered with Altair and enabled when ``smi_charts.charts`` is imported, so every chart the
builders return (``charts``, ``bands``) gets it at ``to_dict()``: in the book's pages and
fallback images, and in the labs' ``alt.JupyterChart``. A theme, not a ``configure_*`` call per
builder, because a configured chart can no longer be layered (``bands.with_band`` layers the
builders' charts).

Sizes: no SVG text under :data:`MIN_FONT` px (axis labels, legends, titles, headers, value
labels). Axis labels, legends and titles have no width limit (``0``: Vega truncates nothing), and
legends sit below the plot, so a long group name takes its own row instead of being cut.
"""
from __future__ import annotations

import altair as alt

NAME = "smi"
MIN_FONT = 12
# Arial metrics everywhere: vl-convert lays out the static images (fallbacks, print) with Arial's
# metrics (Liberation Sans), so the browser must draw them with Arial or a metric twin (Helvetica,
# Liberation Sans); a wider font would overrun the image and clip its labels.
FONT = "Arial, Helvetica, 'Liberation Sans', sans-serif"
AXIS_LABEL_LIMIT = 0  # no limit: a long label (a sensemaking construct with its dysfunction) widens the chart, never cut


def config() -> dict:
    """The Vega-Lite ``config`` every chart gets."""
    return {
        "font": FONT,
        "axis": {"labelFontSize": MIN_FONT, "titleFontSize": 13, "labelLimit": AXIS_LABEL_LIMIT,
                 "titleLimit": 0, "titleFontWeight": "normal"},
        "legend": {"labelFontSize": MIN_FONT, "titleFontSize": 13, "labelLimit": 0, "titleLimit": 0,
                   "orient": "bottom", "symbolSize": 120},
        "title": {"fontSize": 16, "subtitleFontSize": 13, "anchor": "start", "limit": 0, "subtitleColor": "#333333"},
        "header": {"labelFontSize": 13, "titleFontSize": 13, "labelLimit": 0, "titleLimit": 0},
        "text": {"fontSize": MIN_FONT},
        "view": {"stroke": "#bbbbbb"},
    }


@alt.theme.register(NAME, enable=True)
def _theme() -> alt.theme.ThemeConfig:
    return {"config": config()}  # type: ignore[return-value]


def enable() -> None:
    """Make the theme the active one again (after something else enabled another)."""
    alt.theme.enable(NAME)
