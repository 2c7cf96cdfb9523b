"""`TensorViewer`: the widget that shows layer outputs of a Keras model on a probe batch."""

from __future__ import annotations

import contextlib
import pathlib
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

import anywidget
import bqplot
import ipywidgets
import numpy as np
import traitlets as t

from . import protocol
from .callback import ViewerCallback
from .extract import Extractor, check_probe, unknown_layer_error
from .history import History, Step
from .snapshot import DEFAULT_BINS, DEFAULT_MAX_VALUES, reduce_array

_STATIC = pathlib.Path(__file__).parent / "static"


def _widget_refs(parts: dict[str, Any]) -> dict[str, str]:
    """Widget references as anywidget's `host.getModel` reads them (`"anywidget:<model_id>"`)."""
    return {name: f"anywidget:{widget.model_id}" for name, widget in parts.items()}


class _Canvas(anywidget.AnyWidget):
    """The front-end: controls, heatmap and the browser-side store of every snapshot."""

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    _viewer_id = t.Unicode("").tag(sync=True)
    """Unique id that keys the browser-side store shared by every view of this widget."""

    layer = t.Unicode("").tag(sync=True)
    """Id of the layer on display. Type: `str`. Default: the first layer after `input`."""

    epoch = t.Float(0.0, min=0.0).tag(sync=True)
    """Epoch label on display; 0 is before training. Type: `float`. Default: `0.0`."""

    sample = t.Int(0, min=0).tag(sync=True)
    """Index of the probe sample on display. Type: `int`. Default: `0`."""

    channel = t.Int(0, min=0).tag(sync=True)
    """Channel on display for 4-D and 5-D outputs. Type: `int`. Default: `0`."""

    follow = t.Bool(True).tag(sync=True)
    """Jump to the newest step as it arrives. Type: `bool`. Default: `True`."""

    slice = t.Int(0, min=0).tag(sync=True)
    """Depth slice on display for 5-D outputs. Type: `int`. Default: `0`."""

    montage = t.Bool(False).tag(sync=True)
    """Show every channel of a 4-D or 5-D output in a grid. Type: `bool`. Default: `False`."""

    colormap = t.Enum(["auto", "viridis", "magma", "gray", "diverging"], "auto").tag(sync=True)
    """Colour map; `"auto"` is diverging around 0 for signed data, else viridis.
    Type: `str`. Default: `"auto"`."""

    range_mode = t.Enum(["layer", "map", "fixed"], "layer").tag(sync=True)
    """Colour range: the layer's min/max over every epoch, the map on display, or
    `range_lo`/`range_hi`. Type: `str`. Default: `"layer"`."""

    range_lo = t.Float(0.0).tag(sync=True)
    """Low end of the `"fixed"` colour range. Type: `float`. Default: `0.0`."""

    range_hi = t.Float(1.0).tag(sync=True)
    """High end of the `"fixed"` colour range. Type: `float`. Default: `1.0`."""

    log_y = t.Bool(False).tag(sync=True)
    """Histogram counts on a log scale. Type: `bool`. Default: `False`."""

    hist = anywidget.WidgetTrait().tag(sync=True)
    """The bqplot `Bars` mark of the histogram, driven by the front-end. Type: `bqplot.Bars`."""

    _parts = t.Dict().tag(sync=True, to_json=lambda parts, _: _widget_refs(parts))
    """The other bqplot models the front-end drives (log scale, axes, timeline marks)."""


def _label(epoch: float) -> float | int:
    return int(epoch) if float(epoch).is_integer() else float(epoch)


def _figures(bins: int) -> tuple[bqplot.Figure, bqplot.Figure, dict[str, Any]]:
    """The histogram and timeline figures, and the bqplot models the front-end drives.

    The front-end fills every mark from its store (so they follow scrubbing while the kernel is
    busy); Python only lays them out.
    """
    margin = {"top": 30, "bottom": 40, "left": 56, "right": 56}
    layout = {"width": "50%", "min_width": "280px", "height": "230px"}
    hx, hy, hlog = bqplot.LinearScale(), bqplot.LinearScale(), bqplot.LogScale()
    bars = bqplot.Bars(
        x=np.linspace(0.0, 1.0, bins),
        y=np.zeros(bins),
        scales={"x": hx, "y": hy},
        padding=0.05,
        colors=["#4c72b0"],
        stroke_width=0,
    )
    hist_y_axis = bqplot.Axis(scale=hy, orientation="vertical", side="left", label="count")
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
        display_legend=True,
    )
    zero = bqplot.Lines(
        x=empty,
        y=empty,
        scales={"x": tx, "y": unit},
        colors=["#8c8c8c"],
        line_style="dashed",
        labels=["zero fraction (0–1)"],
        display_legend=True,
    )
    loss = bqplot.Lines(
        x=empty,
        y=[empty, empty],
        scales={"x": tx, "y": tloss},
        colors=["#dd8452", "#c44e52"],
        labels=["loss", "val_loss"],
        display_legend=True,
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
    timeline_fig = bqplot.Figure(
        marks=[band, zero, loss, mean, cursor, hit],
        axes=[
            bqplot.Axis(scale=tx, label="epoch"),
            bqplot.Axis(scale=ty, orientation="vertical", side="left", label="activation"),
            bqplot.Axis(
                scale=tloss,
                orientation="vertical",
                side="right",
                label="loss",
                grid_lines="none",
            ),
        ],
        title="timeline (click a point to jump)",
        layout=ipywidgets.Layout(**layout),
        fig_margin=margin,
        legend_location="top-right",
        legend_style={"fill-opacity": 0.7, "stroke-width": 0},
        min_aspect_ratio=0.01,
        max_aspect_ratio=100,
    )
    parts = {
        "bars": bars,
        "hist_y": hy,
        "hist_log": hlog,
        "hist_y_axis": hist_y_axis,
        "band": band,
        "mean": mean,
        "zero": zero,
        "loss": loss,
        "cursor": cursor,
        "tl_x": tx,
        "tl_y": ty,
        "tl_loss": tloss,
        "hit": hit,
    }
    return hist_fig, timeline_fig, parts


class TensorViewer(ipywidgets.VBox):
    """A widget that shows every layer's output on a probe batch, live while a model trains.

    The viewer evaluates the watched layers on `probe` through one cached extractor (one forward
    pass for all layers), keeps every snapshot in a bounded history and streams it to the front-end,
    which draws a heatmap and a histogram that can be scrubbed through epochs. Constructing the
    viewer records epoch 0 (the model before training) at once.

    Args:
        model: A built Keras 3 model (Sequential or Functional).
        probe: A small batch of model inputs, e.g. `x_val[:16]`.
        layers: Ids of the layers to watch. Defaults to `None`, every layer.
        bins: Histogram bins. Defaults to `64`.
        max_values: Most values per display array sent to the front-end. Defaults to `262_144`.
        budget_mb: Memory budget of the full-precision history, in MB. Defaults to `512`.

    Raises:
        ValueError: If the probe does not match the model's input, or a layer id is unknown.

    Example:

    >>> viewer = TensorViewer(model, probe=x_val[:16])
    >>> model.fit(x, y, epochs=2, callbacks=[viewer.callback()], verbose=0)
    >>> viewer.epochs
    [0, 1, 2]
    """

    def __init__(
        self,
        model: Any,
        probe: Any,
        *,
        layers: Sequence[str] | None = None,
        bins: int = DEFAULT_BINS,
        max_values: int = DEFAULT_MAX_VALUES,
        budget_mb: float = 512,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"TensorViewer got an unexpected keyword argument {next(iter(kwargs))!r}"
            )
        if bins < 2:
            raise ValueError(f"TensorViewer received bins={bins}; it must be an integer >= 2.")
        if max_values < 1:
            raise ValueError(f"TensorViewer received max_values={max_values}; it must be >= 1.")
        if budget_mb <= 0:
            raise ValueError(f"TensorViewer received budget_mb={budget_mb}; it must be > 0.")
        self._model = model
        self._probe = check_probe(model, probe)
        self._extractor = Extractor(model, layers)
        self._bins = int(bins)
        self._max_values = int(max_values)
        self._history = History(int(budget_mb * 2**20))
        self._warned = False

        hist_fig, timeline_fig, parts = _figures(self._bins)
        default_layer = next((i for i in self.layers if i != "input"), self.layers[0])
        self._canvas = _Canvas(
            _viewer_id=uuid.uuid4().hex, layer=default_layer, hist=parts.pop("bars"), _parts=parts
        )
        self._canvas.on_msg(self._on_front_end_msg)
        self._hist_figure = hist_fig
        self._timeline_figure = timeline_fig
        plots = ipywidgets.HBox(
            [hist_fig, timeline_fig], layout=ipywidgets.Layout(width="100%", overflow="hidden")
        )
        super().__init__(children=[self._canvas, plots], _dom_classes=["kerasviz-viewer"])
        self._send(*self._catalog_message())
        self._record(epoch=0, logs=None)

    # ----------------------------------------------------------------- public API

    @property
    def layers(self) -> list[str]:
        """Ids of the watched layers, in model order (`input` is the probe)."""
        return self._extractor.ids

    @property
    def layer(self) -> str:
        """Id of the layer on display (synced with the front-end)."""
        return self._canvas.layer

    @layer.setter
    def layer(self, value: str) -> None:
        if value not in self.layers:
            raise unknown_layer_error(value, self.layers)
        self._canvas.layer = value

    @property
    def epoch(self) -> float | int:
        """Epoch label on display (synced with the front-end)."""
        return _label(self._canvas.epoch)

    @epoch.setter
    def epoch(self, value: float) -> None:
        key = self._history.resolve(value)
        self._canvas.follow = key == self._history.resolve(-1)
        self._canvas.epoch = key

    @property
    def epochs(self) -> list[float | int]:
        """Epoch labels recorded in the history, ascending; 0 is before training."""
        return self._history.epochs

    def callback(self) -> ViewerCallback:
        """A Keras callback that records a snapshot before training and after every epoch.

        Example:

        >>> model.fit(x, y, epochs=3, callbacks=[viewer.callback()])
        """
        return ViewerCallback(self)

    def snapshot(self, label: float | None = None) -> float | int:
        """Record a step now, outside `fit`; returns its epoch label.

        Args:
            label: Epoch label of the step. Defaults to `None`: one more than the latest.
        """
        if label is None:
            label = (max(self.epochs) + 1) if self.epochs else 0
        self._record(epoch=label, logs=None, raise_errors=True)
        return _label(label)

    def values(self, layer: str, epoch: float = -1) -> np.ndarray:
        """Return the probe output of one layer at one recorded step.

        Args:
            layer: Layer id from `viewer.layers`, e.g. `"conv2d"`.
            epoch: Epoch label; `-1` means the latest. Defaults to `-1`.

        Returns:
            The layer output as a full-precision NumPy array.

        Raises:
            ValueError: If `layer` is unknown.
            KeyError: If `epoch` is not kept in the history.
        """
        if layer not in self.layers:
            raise unknown_layer_error(layer, self.layers)
        return self._history.values(layer, epoch)

    # ----------------------------------------------------------------- internals

    def _catalog_message(self) -> protocol.Message:
        probe = {"n": int(self._probe.shape[0]), "input_shapes": [list(self._probe.shape)]}
        return protocol.encode_catalog((info.to_json() for info in self._extractor.layers), probe)

    def _send(self, content: dict[str, Any], buffers: list[memoryview]) -> None:
        self._canvas.send(content, buffers=buffers or None)

    def _set_state(self, state: str, message: str = "") -> None:
        self._send(*protocol.encode_status(state, message))

    def _record(
        self, *, epoch: float, logs: dict[str, Any] | None, raise_errors: bool = False
    ) -> None:
        """Take one snapshot and stream it. Errors are shown and warned once unless asked to raise."""
        try:
            arrays = self._extractor(self._probe)
            snaps = {
                lid: reduce_array(
                    lid, a, epoch=_label(epoch), bins=self._bins, max_values=self._max_values
                )
                for lid, a in arrays.items()
            }
            step = Step(epoch=_label(epoch), logs={k: float(v) for k, v in (logs or {}).items()})
            thinned = self._history.add(step, arrays, snaps)
            self._send(*protocol.encode_step(step.epoch, step.batch, step.logs))
            for snap in snaps.values():
                self._send(*protocol.encode_snapshot(snap))
            if thinned:
                self._send(*protocol.encode_thinned(thinned))
        except Exception as exc:
            if raise_errors:
                raise
            message = f"kerasviz_widget could not record epoch {_label(epoch)}: {exc}"
            # The front-end may be gone; training goes on regardless.
            with contextlib.suppress(Exception):
                self._set_state("error", message)
            if not self._warned:
                self._warned = True
                warnings.warn(message + " Training goes on.", RuntimeWarning, stacklevel=2)

    def _on_front_end_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("kind") == "replay":
            self._send(*self._catalog_message())
            for step in self._history.steps:
                self._send(*protocol.encode_step(step.epoch, step.batch, step.logs))
            for snap in self._history.snapshots():
                self._send(*protocol.encode_snapshot(snap))
