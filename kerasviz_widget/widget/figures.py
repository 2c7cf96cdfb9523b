"""The bqplot figures of a viewer: the histogram and the timeline, laid out here and filled by the
front-end from its store (so they follow scrubbing while the kernel is busy)."""

from __future__ import annotations

from typing import Any

import bqplot
import ipywidgets
import numpy as np

# The timeline's key, as fixed text (bqplot's own legend lands on the axis labels when the figure
# is laid out before its width is known).
TIMELINE_LEGEND = (
    '<span style="font-size: 12px; color: var(--jp-ui-font-color1, #333)">'
    '<span style="color: #4c72b0">&#9473; mean &#177; std</span> &nbsp; '
    '<span style="color: #8c8c8c">&#9476; zero fraction (0&#8211;1)</span> &nbsp; '
    '<span style="color: #dd8452">&#9473; loss</span> &nbsp; '
    '<span style="color: #c44e52">&#9473; val_loss</span> &nbsp; '
    '<span style="color: #e0a800">&#9475; cursor</span></span>'
)


def figures(bins: int) -> tuple[bqplot.Figure, bqplot.Figure, dict[str, Any]]:
    """The histogram and timeline figures, and the bqplot models the front-end drives.

    The front-end fills every mark from its store (so they follow scrubbing while the kernel is
    busy); Python only lays them out.
    """
    margin = {"top": 30, "bottom": 40, "left": 56, "right": 56}
    layout = {"width": "50%", "min_width": "280px", "height": "230px"}
    hx, hy = bqplot.LinearScale(), bqplot.LinearScale()
    bars = bqplot.Bars(
        x=np.linspace(0.0, 1.0, bins),
        y=np.zeros(bins),
        scales={"x": hx, "y": hy},
        padding=0.05,
        colors=["#4c72b0"],
        stroke_width=0,
    )
    hist_y_axis = bqplot.Axis(scale=hy, side="left", label="count")
    hist_fig = bqplot.Figure(
        marks=[bars],
        axes=[bqplot.Axis(scale=hx, label="value", num_ticks=5), hist_y_axis],
        title="histogram",
        layout=ipywidgets.Layout(**layout),
        fig_margin=dict(margin, right=16),
        min_aspect_ratio=0.01,
        max_aspect_ratio=100,
    )
    tx = bqplot.LinearScale()
    ty, tloss = bqplot.LinearScale(), bqplot.LinearScale()
    unit = bqplot.LinearScale(min=0.0, max=1.0)
    empty = np.zeros(1)
    band = bqplot.Lines(
        x=empty,
        y=[empty, empty],
        scales={"x": tx, "y": ty},
        fill="between",
        fill_colors=["#4c72b0"],
        fill_opacities=[0.18],
        opacities=[0.0, 0.0],
        colors=["#4c72b0", "#4c72b0"],
    )
    mean = bqplot.Lines(
        x=empty,
        y=empty,
        scales={"x": tx, "y": ty},
        colors=["#4c72b0"],
        labels=["mean ± std"],
    )
    zero = bqplot.Lines(
        x=empty,
        y=empty,
        scales={"x": tx, "y": unit},
        colors=["#8c8c8c"],
        line_style="dashed",
        labels=["zero fraction (0–1)"],
    )
    loss = bqplot.Lines(
        x=empty,
        y=[empty, empty],
        scales={"x": tx, "y": tloss},
        colors=["#dd8452", "#c44e52"],
        labels=["loss", "val_loss"],
    )
    cursor = bqplot.Lines(
        x=[0.0, 0.0],
        y=[0.0, 1.0],
        scales={"x": tx, "y": unit},
        colors=["#e0a800"],
        stroke_width=2,
    )
    # One dot per step on the mean line: a click selects one and the front-end jumps there.
    hit = bqplot.Scatter(
        x=empty,
        y=empty,
        scales={"x": tx, "y": ty},
        colors=["#4c72b0"],
        default_size=72,
        stroke="white",
        interactions={"click": "select"},
        selected_style={},
        unselected_style={},
    )
    tl_x_axis = bqplot.Axis(scale=tx, label="epoch")
    timeline_fig = bqplot.Figure(
        marks=[band, zero, loss, mean, cursor, hit],
        axes=[
            tl_x_axis,
            bqplot.Axis(scale=ty, side="left", label="activation"),
            bqplot.Axis(scale=tloss, side="right", label="loss", grid_lines="none"),
        ],
        title="timeline (click a point to jump)",
        layout=ipywidgets.Layout(**layout),
        fig_margin=margin,
        min_aspect_ratio=0.01,
        max_aspect_ratio=100,
    )
    parts = {
        "bars": bars,
        "hist_y": hy,
        "hist_y_axis": hist_y_axis,
        "band": band,
        "mean": mean,
        "zero": zero,
        "loss": loss,
        "cursor": cursor,
        "tl_x": tx,
        "tl_x_axis": tl_x_axis,
        "tl_y": ty,
        "tl_loss": tloss,
        "hit": hit,
    }
    return hist_fig, timeline_fig, parts
