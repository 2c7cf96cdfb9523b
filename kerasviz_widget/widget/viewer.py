"""`TensorViewer`: the widget that shows layer outputs of a Keras model on a probe batch."""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import anywidget
import bqplot
import ipywidgets
import numpy as np
import traitlets as t

from ..core.callback import ViewerCallback
from ..core.extract import Extractor, check_probe, probe_info, unknown_layer_error
from ..core.history import History, Step
from ..core.history import label as _label
from ..core.reduce import DEFAULT_BINS, DEFAULT_MAX_VALUES, Snapshot, check_settings, reduce_many
from ..core.worker import FailureLog, Worker
from ..io import npz, protocol

_STATIC = pathlib.Path(__file__).parent.parent / "static"


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

    hist = anywidget.WidgetTrait().tag(sync=True)
    """The bqplot `Bars` mark of the histogram, driven by the front-end. Type: `bqplot.Bars`."""

    _parts = t.Dict().tag(sync=True, to_json=lambda parts, _: _widget_refs(parts))
    """The other bqplot models the front-end drives (log scale, axes, timeline marks)."""


def _fmt(value: Any) -> str:
    """A statistic for the summary table: 4 significant digits, `-` when undefined."""
    return "-" if value is None else f"{value:.4g}"


def _scalar_logs(logs: dict[str, Any] | None) -> dict[str, float]:
    """The scalar entries of Keras logs as floats; vectors (e.g. per-class metrics) are left out."""
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(Exception):
            array = np.asarray(value)
            if array.size == 1 and array.dtype.kind in "biuf":
                out[str(key)] = float(array.reshape(()))
    return out


# The timeline's key, as fixed text (bqplot's own legend lands on the axis labels when the figure
# is laid out before its width is known).
_TIMELINE_LEGEND = (
    '<span style="font-size: 12px; color: var(--jp-ui-font-color1, #333)">'
    '<span style="color: #4c72b0">&#9473; mean &#177; std</span> &nbsp; '
    '<span style="color: #8c8c8c">&#9476; zero fraction (0&#8211;1)</span> &nbsp; '
    '<span style="color: #dd8452">&#9473; loss</span> &nbsp; '
    '<span style="color: #c44e52">&#9473; val_loss</span> &nbsp; '
    '<span style="color: #e0a800">&#9475; cursor</span></span>'
)


def _figures(bins: int) -> tuple[bqplot.Figure, bqplot.Figure, dict[str, Any]]:
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


class TensorViewer(ipywidgets.VBox):
    """A widget that shows every layer's output on a probe batch, live while a model trains.

    The viewer evaluates the watched layers on `probe` through one cached extractor (one forward
    pass for all layers), keeps every snapshot in a bounded history and streams it to the front-end,
    which draws a heatmap and a histogram that can be scrubbed through epochs. Constructing the
    viewer records epoch 0 (the model before training) at once.

    Args:
        model: A built Keras 3 model: Sequential, Functional, nested or subclassed.
        probe: A small batch of model inputs, e.g. `x_val[:16]`.
        layers: Ids of the layers to watch. Defaults to `None`, every layer.
        bins: Histogram bins, an integer >= 2. Defaults to `64`.
        max_values: Most values per display array sent to the front-end, an integer >= 1.
            Defaults to `262_144`.
        budget_mb: Memory budget of the history (full-precision values and display arrays), in
            MB, > 0. Defaults to `512`.

    Raises:
        ValueError: If the probe does not match the model's input, a layer id is unknown, or
            `bins < 2`, `max_values < 1` or `budget_mb <= 0`.

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
        bins, max_values, budget_bytes = check_settings(bins, max_values, budget_mb)
        self._model = model
        self._probe = check_probe(model, probe)
        self._extractor = Extractor(model, layers, probe=self._probe, budget_bytes=budget_bytes)
        self._setup(
            catalog=[info.to_json() for info in self._extractor.layers],
            probe_info=probe_info(self._probe),
            bins=bins,
            max_values=max_values,
            history=History(budget_bytes),
        )
        self._send(*self._catalog_message())
        self._record(epoch=0, logs=None)
        # The first recording also builds and traces the extractor: not a snapshot's usual cost.
        self._last_record_seconds = 0.0

    @classmethod
    def _from_history(
        cls,
        history: History,
        *,
        catalog: list[dict[str, Any]],
        probe_info: dict[str, Any],
        bins: int,
        max_values: int,
    ) -> TensorViewer:
        """A viewer of a recorded history, with no model: it displays, it cannot record."""
        self = cls.__new__(cls)
        self._model = None
        self._probe = None
        self._extractor = None
        self._setup(
            catalog=catalog,
            probe_info=probe_info,
            bins=bins,
            max_values=max_values,
            history=history,
        )
        self._send(*self._catalog_message())
        self._replay()
        return self

    def _setup(
        self,
        *,
        catalog: list[dict[str, Any]],
        probe_info: dict[str, Any],
        bins: int,
        max_values: int,
        history: History,
    ) -> None:
        """The display setup shared by a live viewer and a loaded one."""
        self._catalog = [dict(c) for c in catalog]
        self._probe_info = dict(probe_info)
        self._bins = int(bins)
        self._max_values = int(max_values)
        self._history = history
        self._error = ""
        self._running = False
        self._last_record_seconds = 0.0
        self._background = True  # the callback reduces and sends on a worker thread
        self._worker = Worker("kerasviz-viewer")
        self._failures = FailureLog("viewer")

        hist_fig, timeline_fig, parts = _figures(self._bins)
        layer_ids = self.layers
        first = layer_ids[0] if layer_ids else ""
        default_layer = next((i for i in layer_ids if i != "input"), first)
        self._canvas = _Canvas(
            _viewer_id=uuid.uuid4().hex, layer=default_layer, hist=parts.pop("bars"), _parts=parts
        )
        self._canvas.on_msg(self._on_front_end_msg)
        self._hist_figure = hist_fig
        self._timeline_figure = timeline_fig
        plots = ipywidgets.HBox(
            [hist_fig, timeline_fig], layout=ipywidgets.Layout(width="100%", overflow="hidden")
        )
        legend = ipywidgets.HTML(_TIMELINE_LEGEND, layout=ipywidgets.Layout(margin="0 0 0 50%"))
        super().__init__(children=[self._canvas, plots, legend], _dom_classes=["kerasviz-viewer"])

    # ----------------------------------------------------------------- public API

    @property
    def layers(self) -> list[str]:
        """Ids of the watched layers, in model order (`input` is the probe)."""
        if self._extractor is None:
            return [str(info["id"]) for info in self._catalog]
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

    def callback(self, every_n_batches: int | None = None) -> ViewerCallback:
        """A Keras callback that records this viewer's steps while `fit` runs.

        It records epoch 0 before training (only if the history is still empty), a step after
        every epoch, and, when `every_n_batches` is given, a step every that many batches,
        labelled with a fractional epoch (`1.5` is halfway through the second epoch). Per-batch
        snapshots are throttled to at most 5% of training time; skipped ones are counted in the
        status line. Training logs (loss, metrics, `val_*`) travel with each step. A second
        `fit` continues the numbering. A viewer failure never stops training: it is shown in
        the status line and warned once.

        Args:
            every_n_batches: Also snapshot every this many training batches. Defaults to
                `None`, epoch ends only.

        Returns:
            A `keras.callbacks.Callback` to pass in `fit(..., callbacks=[...])`.

        Raises:
            ValueError: If `every_n_batches` is not a positive integer.

        Example:

        >>> model.fit(x, y, epochs=3, callbacks=[viewer.callback(every_n_batches=10)])
        """
        self._require_model("callback")
        return ViewerCallback(self, every_n_batches)

    def snapshot(
        self, label: float | None = None, *, logs: dict[str, Any] | None = None
    ) -> float | int:
        """Record a step now, outside `fit`; returns its epoch label.

        Use it in a custom training loop, e.g. after every epoch. Unlike the callback, it raises
        the viewer's errors, since it is called explicitly.

        Args:
            label: Epoch label of the step. Defaults to `None`: the next whole epoch after the
                latest recorded step.
            logs: Training logs to keep with the step, e.g. `{"loss": 0.3}`. Non-scalar values
                are left out. Defaults to `None`.

        Returns:
            The epoch label of the recorded step.

        Raises:
            ValueError: If `label` is negative or not a finite number.

        Example:

        >>> for epoch in range(3):
        ...     loss = train_one_epoch(model)
        ...     viewer.snapshot(logs={"loss": loss})
        3
        """
        self._require_model("snapshot")
        if label is None:
            label = (math.floor(max(self.epochs)) + 1) if self.epochs else 0
        try:
            ok = math.isfinite(float(label)) and float(label) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"TensorViewer.snapshot received label={label!r}; it must be a finite number "
                f">= 0, or `None` for the next epoch. Recorded epochs: {self.epochs}."
            )
        self._flush()
        self._record(epoch=float(label), logs=logs, raise_errors=True)
        return _label(label)

    def values(self, layer: str, epoch: float = -1) -> np.ndarray:
        """Return the probe output of one layer at one recorded step.

        Args:
            layer: Layer id from `viewer.layers`, e.g. `"conv2d"`.
            epoch: Epoch label from `viewer.epochs`; `-1` means the latest. Defaults to `-1`.

        Returns:
            The layer output as a full-precision NumPy array (batch first), read-only (the
            history keeps it as recorded); `.copy()` it to modify it.

        Raises:
            ValueError: If `layer` is unknown.
            KeyError: If `epoch` was never recorded, or its full values were thinned away to
                keep the history within `budget_mb` (the message lists the epochs still kept).

        Example:

        >>> viewer.values("dense", epoch=0).shape
        (16, 10)
        """
        self._check_layer(layer)
        return self._history.values(layer, epoch)

    def stats(self, layer: str, epoch: float = -1) -> dict[str, Any]:
        """Return the exact statistics of one layer's output at one recorded step.

        Statistics are kept for every step, also when the full values were thinned away.
        `min`, `max`, `mean` and `std` are over the finite values (`None` if there are none).

        Args:
            layer: Layer id from `viewer.layers`.
            epoch: Epoch label from `viewer.epochs`; `-1` means the latest. Defaults to `-1`.

        Returns:
            A dict with keys `shape`, `min`, `max`, `mean`, `std`, `zero_fraction`, `nan_count`
            and `inf_count`.

        Raises:
            ValueError: If `layer` is unknown.
            KeyError: If `epoch` was never recorded.

        Example:

        >>> viewer.stats("dense")["zero_fraction"]
        0.25
        """
        self._check_layer(layer)
        return self._history.stats(layer, epoch)

    def summary(self, epoch: float = -1) -> str:
        """Return a text table of every layer's statistics at one recorded step.

        One row per layer: id, shape, mean, std, min, max, percentage of zeros, and the counts
        of NaN and infinite values.

        Args:
            epoch: Epoch label from `viewer.epochs`; `-1` means the latest. Defaults to `-1`.

        Returns:
            The table as aligned text, with a title line naming the epoch.

        Raises:
            KeyError: If `epoch` was never recorded.

        Example:

        >>> print(viewer.summary(epoch=0))
        """
        key = self._history.resolve(epoch)
        step = self._history.step(key)
        header = ("layer", "shape", "mean", "std", "min", "max", "zero %", "NaN/Inf")
        rows = []
        for lid in self._history.layers(key):
            st = self._history.stats(lid, key)
            rows.append(
                (
                    lid,
                    "(" + ", ".join(str(d) for d in st["shape"]) + ")",
                    *(_fmt(st[k]) for k in ("mean", "std", "min", "max")),
                    f"{100 * st['zero_fraction']:.1f}",
                    f"{st['nan_count']}/{st['inf_count']}",
                )
            )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(row: tuple[str, ...]) -> str:
            cells = [
                row[i].ljust(widths[i]) if i < 2 else row[i].rjust(widths[i])
                for i in range(len(row))
            ]
            return "  ".join(cells).rstrip()

        title = f"epoch {_label(step.epoch)}" + (
            f" (batch {step.batch})" if step.batch is not None else ""
        )
        logs = "  ".join(f"{k} {_fmt(v)}" for k, v in step.logs.items())
        lines = [title + (f"  {logs}" if logs else ""), line(header)]
        lines.append("  ".join("-" * w for w in widths))
        lines += [line(r) for r in rows]
        return "\n".join(lines)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the kept history to one `.npz` file (never pickle).

        The file holds every step's logs, statistics and histograms, the display arrays and the
        full-precision values that are still kept, and the layer catalog, with a format version.
        `TensorViewer.load(path)` reads it back exactly.

        Args:
            path: Destination file, e.g. `"run.npz"`; replaced if it exists.

        Example:

        >>> viewer.save("run.npz")
        >>> TensorViewer.load("run.npz").epochs == viewer.epochs
        True
        """
        npz.write_history(
            path,
            self._history,
            settings={
                "bins": self._bins,
                "max_values": self._max_values,
                "budget_bytes": self._history.budget_bytes,
            },
            catalog=self._catalog_json(),
            probe=self._probe_info,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, budget_mb: float = 512) -> TensorViewer:
        """Load a saved history, or a `Recorder`'s run folder, into a viewer that needs no model.

        The loaded viewer displays every kept step (its front-end receives the catalog and all
        snapshots) and answers `values`, `stats`, `summary`, `save` and `save_html`; it cannot
        record new steps (`snapshot()` and `callback()` raise).

        Args:
            path: A `.npz` file written by `viewer.save`, or a run folder written by
                `Recorder(model, probe, logdir)`.
            budget_mb: Memory budget of the full-precision history of a run folder, in MB
                (a `.npz` keeps the budget it was saved with). Defaults to `512`.

        Returns:
            A `TensorViewer` of the saved history.

        Raises:
            FileNotFoundError: If `path` does not exist.
            ValueError: If the file is not a kerasviz_widget history, is damaged or truncated,
                was written by a newer version, or holds object arrays. Nothing in the file is
                ever executed (`allow_pickle=False`).

        Example:

        >>> viewer = TensorViewer.load("run.npz")
        >>> viewer.epochs
        [0, 1, 2]
        """
        from ..io import runfolder

        if runfolder.fs().isdir(str(path)) or (
            not runfolder.fs().exists(str(path)) and not pathlib.Path(path).suffix
        ):
            # A folder (or a missing path without a file suffix): a Recorder's run folder.
            return cls._open_run(str(path), budget_mb)
        data = npz.read_history(path)
        settings = data.settings
        bins = int(settings.get("bins", DEFAULT_BINS))
        max_values = int(settings.get("max_values", DEFAULT_MAX_VALUES))
        budget = int(settings.get("budget_bytes", 512 * 2**20))
        history = History(max(budget, 1))
        for item in data.steps:
            history.add(
                item.step, item.arrays, item.snapshots, keep_display=item.has_display, thin=False
            )
        catalog = data.catalog or [
            {"id": lid, "class_name": "", "output_shape": [], "params": 0, "strategy": "loaded"}
            for lid in (history.layers() if len(history) else ())
        ]
        return cls._from_history(
            history, catalog=catalog, probe_info=data.probe, bins=bins, max_values=max_values
        )

    def save_html(self, path: str | os.PathLike[str], *, title: str = "kerasviz_widget") -> None:
        """Save a self-contained HTML page of the kept history, scrubbable offline.

        The page inlines the widget's front-end (JavaScript and CSS) and every kept snapshot, so
        it opens in a browser without a kernel or a network: choose a layer, a sample, a channel,
        and scrub the epochs. The histogram figure (bqplot) is not part of the page.

        Args:
            path: Destination file, e.g. `"run.html"`; replaced if it exists.
            title: Title of the page. Defaults to `"kerasviz_widget"`.

        Example:

        >>> viewer.save_html("run.html")
        """
        from ..io.html import write_html

        state = {
            "layer": self._canvas.layer,
            "epoch": float(self._canvas.epoch),
            "sample": int(self._canvas.sample),
            "channel": int(self._canvas.channel),
            "follow": bool(self._canvas.follow),
        }
        write_html(path, list(self._replay_messages()), state=state, title=title)

    # ----------------------------------------------------------------- internals

    def _require_model(self, what: str) -> None:
        if self._extractor is None:
            raise RuntimeError(
                f"TensorViewer.{what}() needs a model, but this viewer shows a saved history or "
                "a recorded run and has no model to evaluate: it can only display and answer "
                "values(), stats(), summary(), save() and save_html(). To record new steps, "
                "create `TensorViewer(model, probe)`, or use `Recorder(model, probe, logdir)` "
                "in the training script."
            )

    def _check_layer(self, layer: str) -> None:
        if layer not in self.layers:
            raise unknown_layer_error(layer, self.layers)

    def _catalog_json(self) -> list[dict[str, Any]]:
        """The layer catalog: the extractor's when there is a model, else the loaded one."""
        if self._extractor is None:
            return self._catalog
        return [info.to_json() for info in self._extractor.layers]

    def _catalog_message(self) -> protocol.Message:
        return protocol.encode_catalog(self._catalog_json(), self._probe_info)

    def _replay_messages(self) -> Iterator[protocol.Message]:
        """The catalog, every step and every kept snapshot: what a new front-end needs."""
        yield self._catalog_message()
        for step in self._history.steps:
            yield protocol.encode_step(step.epoch, step.batch, step.logs)
        for snap in self._history.snapshots():
            yield protocol.encode_snapshot(snap)
        without_values = sorted(set(self._history.epochs) - set(self._history.kept_epochs))
        if without_values:
            yield protocol.encode_thinned(without_values)

    def _replay(self) -> None:
        for message in self._replay_messages():
            self._send(*message)

    def _send(self, content: dict[str, Any], buffers: list[memoryview]) -> None:
        self._canvas.send(content, buffers=buffers or None)

    def _set_state(self, state: str, message: str = "", skipped: int = 0) -> None:
        """Show a status in the widget; never raises (the front-end may be gone)."""
        with contextlib.suppress(Exception):
            self._send(*protocol.encode_status(state, message, skipped))

    def _begin_run(self) -> None:
        """A `fit` starts: forget the last run's error and watch for a run that never ends."""
        self._running = True
        self._failures.new_run()
        self._error = ""
        with contextlib.suppress(Exception):
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and self._after_cell not in shell.events.callbacks.get(
                "post_run_cell", []
            ):
                shell.events.register("post_run_cell", self._after_cell)

    def _end_run(self, skipped: int = 0, interrupted: bool = False) -> None:
        """A `fit` ended (or stopped by an exception): show the final status."""
        self._running = False
        self._flush()
        self._report_failures()
        with contextlib.suppress(Exception):
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                shell.events.unregister("post_run_cell", self._after_cell)
        note = f"{skipped} per-batch snapshots skipped to keep training fast." if skipped else ""
        if interrupted and self.epochs:
            note = (
                f"Training stopped early; every completed step is kept (latest: epoch "
                f"{self.epochs[-1]}). {note}"
            ).strip()
            # A step may have been half sent when the interrupt came: send the latest again.
            with contextlib.suppress(Exception):
                self._send_step(self._history.resolve(-1))
        if self._error:
            self._set_state("error", f"{self._error} {note}".strip(), skipped)
        else:
            self._set_state("idle", note, skipped)

    def _after_cell(self, *_args: Any) -> None:
        """IPython `post_run_cell` hook: a `fit` that raised (e.g. KeyboardInterrupt) never
        calls `on_train_end`, so the status would stay `live`."""
        if self._running:
            self._end_run(interrupted=True)

    def _send_step(self, key: float) -> None:
        step = self._history.step(key)
        self._send(*protocol.encode_step(step.epoch, step.batch, step.logs))
        for lid in self.layers:
            with contextlib.suppress(KeyError):
                self._send(*protocol.encode_snapshot(self._history.snapshot(lid, key)))

    def _record(
        self,
        *,
        epoch: float,
        batch: int | None = None,
        logs: dict[str, Any] | None = None,
        raise_errors: bool = False,
        background: bool = False,
    ) -> None:
        """Take one snapshot, keep it and stream it.

        The probe is evaluated at once (the weights are those of this moment). With
        `background`, the reductions, the history and the sends run on the viewer's worker
        thread, in parallel with training; `_flush()` waits for them. Errors are shown in the
        status line and warned once per run, unless `raise_errors`. A step enters the history
        only once it is complete, so an interrupt leaves the history consistent.
        """
        start = time.perf_counter()
        label = _label(epoch)
        try:
            arrays = self._extractor(self._probe)
            step = Step(epoch=label, batch=batch, logs=_scalar_logs(logs))
            if background and self._background:
                self._worker.submit(
                    lambda: self._commit(step, arrays), lambda exc: self._fail(step.epoch, exc)
                )
                return
            self._commit(step, arrays)
        except Exception as exc:
            if raise_errors:
                raise
            self._fail(label, exc)
            self._report_failures()
        finally:
            self._last_record_seconds = time.perf_counter() - start

    def _commit(self, step: Step, arrays: dict[str, np.ndarray]) -> None:
        """Reduce the arrays of one step, add it to the history and send it."""
        snaps = reduce_many(
            arrays, epoch=step.epoch, batch=step.batch, bins=self._bins, max_values=self._max_values
        )
        self._keep_and_send(step, arrays, snaps)

    def _keep_and_send(
        self,
        step: Step,
        arrays: dict[str, np.ndarray] | None,
        snaps: dict[str, Snapshot],
    ) -> None:
        """Add one reduced step to the history and stream it, with what thinning dropped."""
        thinned = self._history.add(step, arrays, snaps)
        self._send(*protocol.encode_step(step.epoch, step.batch, step.logs))
        for snap in snaps.values():
            self._send(*protocol.encode_snapshot(snap))
        if thinned:
            self._send(*protocol.encode_thinned(thinned))

    def _fail(self, label: float | int, exc: BaseException) -> None:
        message = f"kerasviz_widget could not record epoch {label}: {type(exc).__name__}: {exc}"
        self._error = message
        self._set_state("error", message)
        self._failures.add(message)

    def _report_failures(self) -> None:
        """Warn, on the training thread, about the first failure of this run."""
        self._failures.report()

    @property
    def _worker_seconds(self) -> float:
        """Total time of the worker thread's jobs (the callback's throttle counts it)."""
        return self._worker.seconds

    @property
    def _last_worker_seconds(self) -> float:
        return self._worker.last_seconds

    def _flush(self) -> None:
        """Wait until the worker has kept and sent every step handed to it."""
        self._worker.join()

    def _on_front_end_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("kind") == "replay":
            self._replay()

    # ----------------------------------------------------------------- run folders (Recorder)

    @classmethod
    def follow(
        cls, logdir: str, *, poll_seconds: float = 0.25, budget_mb: float = 512
    ) -> TensorViewer:
        """Show a run that a `Recorder` is writing, and stream its new steps as they arrive.

        The training script may run elsewhere (another process, another machine, a cluster)
        and write to any folder `tf.io.gfile` opens. The viewer shows every step written so far
        at once, then a background thread polls the folder every `poll_seconds` and sends each
        new step to the front-end, so the notebook stays usable. Closing the widget
        (`viewer.close()`) stops the polling.

        Args:
            logdir: The run folder given to `Recorder(model, probe, logdir)`.
            poll_seconds: Seconds between two looks at the folder. Defaults to `0.25`.
            budget_mb: Memory budget of this viewer's full-precision history, in MB. Defaults
                to `512`.

        Returns:
            A `TensorViewer` without a model: scrub, `values`, `stats` and `summary` work on the
            recorded steps.

        Raises:
            ValueError: If `logdir` is not a run folder, or was written by a newer version.

        Example:

        >>> viewer = TensorViewer.follow("runs/mnist")   # while `train.py` runs
        >>> viewer.epochs
        [0, 1, 2]
        """

        if not poll_seconds > 0:
            raise ValueError(
                f"TensorViewer.follow received poll_seconds={poll_seconds!r}; it must be > 0, "
                "e.g. `poll_seconds=0.25`."
            )
        viewer = cls._open_run(logdir, budget_mb)
        viewer._follow_stop = threading.Event()
        viewer._follower = threading.Thread(
            target=viewer._follow_loop,
            args=(poll_seconds,),
            name=f"kerasviz-follow-{viewer._run.logdir}",
            daemon=True,
        )
        viewer._set_state("live", f"Following the run in {viewer._run.logdir}.")
        viewer._follower.start()
        return viewer

    @classmethod
    def _open_run(cls, logdir: str, budget_mb: float) -> TensorViewer:
        from ..io import runfolder

        reader = runfolder.RunReader(logdir)
        manifest = reader.manifest
        bins, max_values, budget_bytes = check_settings(
            int(manifest.get("bins", DEFAULT_BINS)),
            int(manifest.get("max_values", DEFAULT_MAX_VALUES)),
            budget_mb,
        )
        viewer = cls._from_history(
            History(budget_bytes),
            catalog=[dict(info) for info in manifest["layers"]],
            probe_info=probe_info(reader.probe),
            bins=bins,
            max_values=max_values,
        )
        viewer._run = reader
        viewer._ingest_run()
        return viewer

    def _ingest_run(self) -> int:
        """Add the run's new steps to the history and send them; returns how many."""
        records = self._run.poll()
        for record in records:
            # A step thinned in the folder already comes without full arrays, and stays so.
            self._keep_and_send(record.step, record.arrays or None, record.snapshots)
        return len(records)

    def _follow_loop(self, poll_seconds: float) -> None:
        """Poll the run folder until the widget is closed; an error is shown, polling goes on."""
        stop = self._follow_stop
        shown = ""
        while not stop.wait(poll_seconds):
            if self.comm is None:  # the widget was closed
                break
            try:
                self._ingest_run()
                if shown:
                    shown = ""
                    self._set_state("live", f"Following the run in {self._run.logdir}.")
            except Exception as exc:  # noqa: BLE001 - keep following; show what went wrong
                message = f"Could not read the run in {self._run.logdir}: {exc}"
                if message != shown:
                    shown = message
                    self._set_state("error", message)
