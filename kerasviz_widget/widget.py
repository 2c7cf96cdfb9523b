"""`TensorViewer`: the widget that shows layer outputs of a Keras model on a probe batch."""

from __future__ import annotations

import contextlib
import math
import pathlib
import time
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

    hist = anywidget.WidgetTrait().tag(sync=True)
    """The bqplot `Bars` mark of the histogram, driven by the front-end. Type: `bqplot.Bars`."""


def _label(epoch: float) -> float | int:
    return int(epoch) if float(epoch).is_integer() else float(epoch)


def _scalar_logs(logs: dict[str, Any] | None) -> dict[str, float]:
    """The scalar entries of Keras logs as floats; vectors (e.g. per-class metrics) are left out."""
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(Exception):
            array = np.asarray(value)
            if array.size == 1 and array.dtype.kind in "biuf":
                out[str(key)] = float(array.reshape(()))
    return out


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
        if getattr(model, "is_kerasviz_run", False):  # `load`/`follow` of a run folder: no model
            self._probe, self._extractor = model.probe, model.catalog
        else:
            self._probe = check_probe(model, probe)
            self._extractor = Extractor(model, layers)
        self._bins = int(bins)
        self._max_values = int(max_values)
        self._history = History(int(budget_mb * 2**20))
        self._warned = False
        self._error = ""
        self._running = False
        self._last_record_seconds = 0.0

        bars = bqplot.Bars(
            x=np.linspace(0.0, 1.0, self._bins),
            y=np.zeros(self._bins),
            scales={"x": bqplot.LinearScale(), "y": bqplot.LinearScale()},
            padding=0.0,
            colors=["#4c72b0"],
        )
        hist_fig = bqplot.Figure(
            marks=[bars],
            axes=[
                bqplot.Axis(scale=bars.scales["x"], label="value", num_ticks=5),
                bqplot.Axis(scale=bars.scales["y"], side="left", label="count"),
            ],
            title="histogram",
            layout=ipywidgets.Layout(width="100%", height="240px"),
            fig_margin={"top": 30, "bottom": 40, "left": 60, "right": 10},
        )
        default_layer = next((i for i in self.layers if i != "input"), self.layers[0])
        self._canvas = _Canvas(_viewer_id=uuid.uuid4().hex, layer=default_layer, hist=bars)
        self._canvas.on_msg(self._on_front_end_msg)
        self._hist_figure = hist_fig
        super().__init__(children=[self._canvas, hist_fig], _dom_classes=["kerasviz-viewer"])
        self._send(*self._catalog_message())
        if not getattr(model, "is_kerasviz_run", False):
            self._record(epoch=0, logs=None)
        # The first recording also builds and traces the extractor: not a snapshot's usual cost.
        self._last_record_seconds = 0.0

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
        self._record(epoch=float(label), logs=logs, raise_errors=True)
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

    def _set_state(self, state: str, message: str = "", skipped: int = 0) -> None:
        """Show a status in the widget; never raises (the front-end may be gone)."""
        with contextlib.suppress(Exception):
            self._send(*protocol.encode_status(state, message, skipped))

    def _begin_run(self) -> None:
        """A `fit` starts: forget the last run's error and watch for a run that never ends."""
        self._running = True
        self._warned = False
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
    ) -> None:
        """Take one snapshot, keep it and stream it.

        Errors are shown in the status line and warned once per run, unless `raise_errors`.
        The step enters the history only once it is complete, so an interrupt leaves the
        history consistent.
        """
        start = time.perf_counter()
        label = _label(epoch)
        try:
            arrays = self._extractor(self._probe)
            snaps = {
                lid: reduce_array(
                    lid, a, epoch=label, batch=batch, bins=self._bins, max_values=self._max_values
                )
                for lid, a in arrays.items()
            }
            step = Step(epoch=label, batch=batch, logs=_scalar_logs(logs))
            thinned = self._history.add(step, arrays, snaps)
            self._send(*protocol.encode_step(step.epoch, step.batch, step.logs))
            for snap in snaps.values():
                self._send(*protocol.encode_snapshot(snap))
            if thinned:
                self._send(*protocol.encode_thinned(thinned))
        except Exception as exc:
            if raise_errors:
                raise
            message = f"kerasviz_widget could not record epoch {label}: {type(exc).__name__}: {exc}"
            self._error = message
            self._set_state("error", message)
            if not self._warned:
                self._warned = True
                warnings.warn(
                    message + " Training goes on; the viewer keeps trying at the next step.",
                    RuntimeWarning,
                    stacklevel=3,
                )
        finally:
            self._last_record_seconds = time.perf_counter() - start

    def _on_front_end_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("kind") == "replay":
            self._send(*self._catalog_message())
            for step in self._history.steps:
                self._send(*protocol.encode_step(step.epoch, step.batch, step.logs))
            for snap in self._history.snapshots():
                self._send(*protocol.encode_snapshot(snap))

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
        import threading

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
    def load(cls, path: str, *, budget_mb: float = 512) -> TensorViewer:
        """Open a recorded run (a `Recorder`'s folder) as a viewer without a model.

        Args:
            path: The run folder.
            budget_mb: Memory budget of the full-precision history, in MB. Defaults to `512`.

        Returns:
            A `TensorViewer` showing every step of the run.

        Raises:
            ValueError: If `path` is not a run folder, or was written by a newer version.
        """
        return cls._open_run(path, budget_mb)

    @classmethod
    def _open_run(cls, logdir: str, budget_mb: float) -> TensorViewer:
        from . import runlog

        reader = runlog.RunReader(logdir)
        manifest = reader.manifest
        viewer = cls(
            reader,
            reader.probe,
            bins=int(manifest.get("bins", DEFAULT_BINS)),
            max_values=int(manifest.get("max_values", DEFAULT_MAX_VALUES)),
            budget_mb=budget_mb,
        )
        viewer._run = reader
        viewer._ingest_run()
        return viewer

    def _ingest_run(self) -> int:
        """Add the run's new steps to the history and send them; returns how many."""
        from . import runlog

        records = self._run.poll()
        for record in records:
            thinned = runlog.add_to_history(self._history, record)
            step = record.step
            self._send(*protocol.encode_step(step.epoch, step.batch, step.logs))
            for snap in record.snapshots.values():
                self._send(*protocol.encode_snapshot(snap))
            if thinned:
                self._send(*protocol.encode_thinned(thinned))
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
