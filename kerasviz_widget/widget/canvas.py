"""`Canvas`: the anywidget front-end (controls, heatmap, histogram, timeline, and the browser-side
store of every snapshot).

Its traits are the view state that every view of one viewer shares; the snapshots themselves travel
as protocol messages (`widget.frontend.FrontEnd`).
"""

from __future__ import annotations

import pathlib

import anywidget
import traitlets as t

from ..io import protocol

_STATIC = pathlib.Path(__file__).parent.parent / "static"


def _bundle(name: str) -> str:
    """The text of a file of the built front-end.

    `Canvas` gets its JavaScript and CSS as text, not as paths: anywidget watches a path for
    changes and connects every instance to that watch with a callback that holds the instance,
    forever, so no viewer (nor its model) could ever be freed.
    """
    path = _STATIC / name
    if not path.exists():  # a checkout whose front-end is not built (`cd js && npm run build`)
        return f"/* kerasviz_widget: {name} is not built */"
    return path.read_text(encoding="utf-8")


class Canvas(anywidget.AnyWidget):
    """The front-end: controls, heatmap, histogram and timeline (drawn on canvas), and the
    browser-side store of every snapshot."""

    _esm = _bundle("widget.js")
    _css = _bundle("widget.css")

    _viewer_id = t.Unicode("").tag(sync=True)
    """Unique id that keys the browser-side store shared by every view of this widget."""

    _view_traits = t.List(t.Unicode(), default_value=list(protocol.VIEW_TRAITS)).tag(sync=True)
    """The traits whose change redraws a view (`protocol.VIEW_TRAITS`), sent to the front-end."""

    layer = t.Unicode("").tag(sync=True)
    """Id of the layer on display. Type: `str`. Default: the first layer after `input`."""

    epoch = t.Float(0.0, min=0.0).tag(sync=True)
    """Epoch label on display; 0 is before training. Type: `float`. Default: `0.0`."""

    sample = t.Int(0, min=0).tag(sync=True)
    """Index of the probe sample on display. Type: `int`. Default: `0`."""

    channel = t.Int(None, min=0, allow_none=True).tag(sync=True)
    """Channel on display for 4-D and 5-D outputs; `None` shows the layer's default channel (the
    one with the largest spread at the latest step, decided in Python and sent with each
    snapshot). Type: `int | None`. Default: `None`."""

    follow = t.Bool(True).tag(sync=True)
    """Jump to the newest step as it arrives. Type: `bool`. Default: `True`."""

    slice = t.Int(0, min=0).tag(sync=True)
    """Depth slice on display for 5-D outputs. Type: `int`. Default: `0`."""

    montage = t.Bool(False).tag(sync=True)
    """Show every channel of a 4-D or 5-D output in a grid. Type: `bool`. Default: `False`."""

    colormap = t.Enum(protocol.COLORMAPS, "auto").tag(sync=True)
    """Colour map; `"auto"` is diverging around 0 for signed data, else viridis.
    Type: `str`. Default: `"auto"`."""

    range_mode = t.Enum(protocol.RANGE_MODES, "layer").tag(sync=True)
    """Colour range: the layer's min/max over every epoch, the map on display, or
    `range_lo`/`range_hi`. Type: `str`. Default: `"layer"`."""

    range_lo = t.Float(0.0).tag(sync=True)
    """Low end of the `"fixed"` colour range. Type: `float`. Default: `0.0`."""

    range_hi = t.Float(1.0).tag(sync=True)
    """High end of the `"fixed"` colour range. Type: `float`. Default: `1.0`."""

    log_y = t.Bool(False).tag(sync=True)
    """Histogram counts on a log scale. Type: `bool`. Default: `False`."""

    ridge = t.Bool(False).tag(sync=True)
    """Show the layer's histograms of every step as a ridge plot instead of the histogram of the
    step on display. Type: `bool`. Default: `False`."""

    diff = t.Bool(False).tag(sync=True)
    """Show the heatmap as the difference from a reference step: the `pinned` step, else the
    previous one. Type: `bool`. Default: `False`."""

    overview_stat = t.Enum(list(protocol.OVERVIEW_STATS), "mean_abs").tag(sync=True)
    """The statistic the overview is coloured by, a key of `protocol.OVERVIEW_STATS`.
    Type: `str`. Default: `"mean_abs"`."""

    pinned = t.Float(None, allow_none=True).tag(sync=True)
    """Epoch label of a pinned step, whose histogram is outlined over the current one; `None`
    pins nothing. Type: `float | None`. Default: `None`."""
