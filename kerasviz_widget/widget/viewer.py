"""`TensorViewer`: the widget that shows layer outputs of a Keras model on a probe batch.

The viewer holds the public API and owns the widget (`viewer.widget`, an anywidget `Canvas`),
through which it displays; its steps come from a source (`widget.sources`: a model it records, a
saved history, a run folder) into its `History` and its front-end (`widget.frontend.FrontEnd`).
Beside the widget, a notebook output carries its static picture (`widget.static`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import health as _health
from ..core.callback import RecordingCallback
from ..core.extract import unknown_layer_error
from ..core.history import History
from ..core.settings import (
    DEFAULT_BINS,
    DEFAULT_BUDGET_MB,
    DEFAULT_MAX_VALUES,
    Settings,
    refuse_other_keywords,
)
from ..core.step import label
from ..core.summary import summary_text
from ..io import npz, protocol
from ..io.files import check_path
from .canvas import Canvas
from .frontend import FrontEnd
from .sources import HistoryFile, ModelSource, RunFolder, Source
from .static import StaticOutput, picture, picture_key


class TensorViewer:
    """A widget that shows every layer's output on a probe batch, live while a model trains.

    The viewer evaluates the watched layers on `probe` through one cached extractor (one forward
    pass for all layers), keeps every snapshot in a bounded history and streams it to the front-end,
    which draws a heatmap, a histogram and a timeline that can be scrubbed through epochs.
    Constructing the viewer records epoch 0 (the model before training) at once.

    The viewer displays through its widget (`viewer.widget`, an anywidget), so it renders
    wherever anywidget does: JupyterLab, Notebook 7, Voila, marimo (and VS Code and Colab). In a
    Jupyter kernel its output also carries a static picture (the current layer's heatmap and
    histogram, per-layer statistics), which is what nbconvert, nbviewer and GitHub show.

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
        budget_mb: float = DEFAULT_BUDGET_MB,
        **kwargs: Any,
    ) -> None:
        refuse_other_keywords("TensorViewer", kwargs, ("layers", "bins", "max_values", "budget_mb"))
        settings = Settings.check(bins, max_values, budget_mb)
        self._build(ModelSource(model, probe, layers, settings))

    @classmethod
    def _of(cls, source: Source) -> TensorViewer:
        """A viewer of the steps of `source`."""
        self = cls.__new__(cls)
        self._build(source)
        return self

    def _build(self, source: Source) -> None:
        """Compose the widget, then let the source deliver its steps."""
        self._source = source
        self._history = History(source.settings.budget_bytes)
        ids = source.layers
        self._canvas = Canvas(
            _viewer_id=uuid.uuid4().hex,
            layer=next((i for i in ids if i != "input"), ids[0] if ids else ""),
        )
        self._front_end = FrontEnd(
            self._canvas,
            self._history,
            lambda: protocol.encode_catalog(source.catalog(), source.probe_info),
        )
        self._static = StaticOutput(
            self._canvas._viewer_id,
            lambda: picture(self._history, self._canvas, source.catalog()),
            lambda: picture_key(self._history, self._canvas),
        )
        self._front_end.after_run = self._static.refresh
        self._front_end.send(self._front_end.catalog())
        source.start(self._history, self._front_end)

    # ----------------------------------------------------------------- display

    @property
    def widget(self) -> Canvas:
        """The anywidget this viewer displays through (its view state is synced traits)."""
        return self._canvas

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget's view, with this viewer's one-line repr as `text/plain`; in a Jupyter
        kernel, the static picture goes out first as an output of its own."""
        self._static.show()
        bundle = self._canvas._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        epochs = self.epochs
        if not epochs:
            steps = "no steps"
        elif len(epochs) == 1:
            steps = f"epoch {epochs[0]}"
        else:
            steps = f"epochs {epochs[0]}\u2013{epochs[-1]}"
        shapes = [tuple(s) for s in self._source.probe_info.get("input_shapes", [])]
        probe = str(shapes[0]) if len(shapes) == 1 else str(shapes)
        n = len(self.layers)
        return (
            f"TensorViewer({n} layer{'s' if n != 1 else ''}, {steps}, probe {probe}, "
            f"{_megabytes(self._history.nbytes)} kept)"
        )

    def close(self) -> None:
        """Close everything the viewer owns: the widget (its views disappear), the static
        picture's refresh, and the source (a model's recording session, whose worker thread
        ends; a followed run's polling thread). The recorded steps stay readable; a closed and
        deleted viewer lets its model go."""
        self._static.close()
        self._source.close()
        self._canvas.close()

    # ----------------------------------------------------------------- public API

    @property
    def layers(self) -> list[str]:
        """Ids of the watched layers, in model order (`input` is the probe)."""
        return self._source.layers

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
        return label(self._canvas.epoch)

    @epoch.setter
    def epoch(self, value: float) -> None:
        key = self._history.resolve(value)
        self._canvas.follow = key == self._history.resolve(-1)
        self._canvas.epoch = key

    @property
    def epochs(self) -> list[float | int]:
        """Epoch labels recorded in the history, ascending; 0 is before training."""
        return self._history.epochs

    def callback(self, every_n_batches: int | None = None) -> RecordingCallback:
        """A Keras callback that records this viewer's steps while `fit` runs.

        It records epoch 0 before training (only if the history is still empty), a step after
        every epoch, and, when `every_n_batches` is given, a step every that many batches,
        labelled with a fractional epoch (`1.5` is halfway through the second epoch). Per-batch
        snapshots are throttled: one is skipped when recording (epoch snapshots included) would
        take more than 5% of training time; skipped ones are counted in the status line. Training logs (loss, metrics, `val_*`) travel with each step. A second
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
        return RecordingCallback(self._source.recording("callback"), every_n_batches)

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
        session = self._source.recording("snapshot")
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
        session.flush()
        return session.record(epoch=float(label), logs=logs, raise_errors=True)

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
        """Return one aligned line of statistics per layer at one recorded step, as text.

        In the manner of lovely-tensors, each line reads: layer id, shape, value count, the
        range of the finite values with a sparkline of the histogram between its ends, mean
        (`μ`), standard deviation (`σ`), the fraction of zeros, and flags from the step's health
        findings (`NaN!`, `Inf!`, `dead 62%`, `saturated 70%`, `constant`, `exploding ×…`,
        `vanishing ×…`; see `health`, default thresholds). A title line names the epoch and
        the training logs. Readable in a terminal and in a notebook (`print` it).

        Args:
            epoch: Epoch label from `viewer.epochs`; `-1` means the latest. Defaults to `-1`.

        Returns:
            The text, one line per layer in model order after the title line.

        Raises:
            KeyError: If `epoch` was never recorded.

        Example:

        >>> print(viewer.summary(epoch=0))
        epoch 0
        input  (4, 8)  n=32  x∈[-1.92 ▁▂▅█▇▂▁▁▂▁ 2.14]  μ=0.0412  σ=0.97   zeros=0%
        dense  (4, 3)  n=12  x∈[    0 █▁▁▂▁▁▁▂▁▂ 1.3]   μ=0.317   σ=0.442  zeros=50%
        """
        return summary_text(self._history, self._source.catalog(), epoch)

    def health(
        self,
        epoch: float | None = -1,
        *,
        dead: float = _health.DEFAULT_DEAD,
        saturated: float = _health.DEFAULT_SATURATED,
        scale: float = _health.DEFAULT_SCALE,
    ) -> list[dict[str, Any]]:
        """Return what is wrong with which layer, at one recorded step or at every one.

        Each finding is a dict `{"layer", "epoch", "kind", "fraction", "message"}`, listed in
        model order (and, with `epoch=None`, each layer's steps in ascending order). The kinds:

        - `"nan"`, `"inf"`: the layer output holds NaN / ±Inf; `fraction` of values.
        - `"dead"`: at least `dead` of the units (the last axis) are exactly 0 for every probe
          sample and position; `fraction` of units.
        - `"saturated"`: a layer whose activation is bounded (sigmoid, tanh, softmax,
          hard_sigmoid and the like, as `activation=` or an `Activation` layer) has more than
          `saturated` of its values within 1% of the range from a bound (the ReLU family,
          relu6 and `ReLU(max_value=...)`, only counts its upper bound: its zeros are `dead`);
          `fraction` of values.
        - `"constant"`: the output is the same for every probe sample (probes of 2+ samples);
          `fraction` is 1.
        - `"exploding"` / `"vanishing"`: the output's standard deviation is above `scale` times,
          or below `1 / scale` of, the probe input's; `fraction` is the ratio of the two.

        The findings are computed from the statistics kept for every step, so they work the
        same on a viewer that records, a loaded `.npz`, and a loaded or followed run folder.
        The widget shows them too: a banner naming the first bad layer, a mark next to each
        flagged layer in the layer menu, and the current step's findings under the heatmap.

        Args:
            epoch: Epoch label from `viewer.epochs`; `-1` means the latest step, `None` every
                recorded step. Defaults to `-1`.
            dead: Fraction of dead units from which a layer is `dead`. Defaults to `0.5`.
            saturated: Fraction of saturated values above which a layer is `saturated`.
                Defaults to `0.5`.
            scale: Ratio of standard deviations beyond which a layer is `exploding` or
                `vanishing`. Defaults to `1e3`.

        Returns:
            The list of findings; empty for a healthy model.

        Raises:
            KeyError: If `epoch` was never recorded.
            ValueError: If a threshold is out of range.

        Example:

        >>> viewer.health()
        [{'layer': 'dense_2', 'epoch': 3, 'kind': 'dead', 'fraction': 0.625,
          'message': 'dense_2: 62% of units are dead (always 0) at epoch 3'}]
        """
        return _health.findings(
            self._history,
            self._source.catalog(),
            epoch=epoch,
            dead=dead,
            saturated=saturated,
            scale=scale,
        )

    def first_bad_layer(self) -> tuple[str, float | int] | None:
        """Return where a numerical failure starts: the first layer with NaN or Inf.

        Of the layers whose output holds a NaN or an infinity at the earliest recorded step
        where any does, the first in model order. The widget's banner names it.

        Returns:
            `(layer, epoch)`, or `None` when no recorded step holds a NaN or an infinity.

        Example:

        >>> viewer.first_bad_layer()
        ('lambda', 2)
        """
        return _health.first_bad_layer(self._history, self._source.catalog())

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
            settings=dataclasses.replace(
                self._source.settings, budget_bytes=self._history.budget_bytes
            ),
            catalog=self._source.catalog(),
            probe=self._source.probe_info,
        )

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, budget_mb: float = DEFAULT_BUDGET_MB
    ) -> TensorViewer:
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
        Settings.check(budget_mb=budget_mb, who="TensorViewer.load")
        path = check_path(path)
        if RunFolder.holds_run(path):
            return cls._of(RunFolder(str(path), budget_mb))
        return cls._of(HistoryFile(path))

    def save_html(self, path: str | os.PathLike[str], *, title: str = "kerasviz_widget") -> None:
        """Save a self-contained HTML page of the kept history, scrubbable offline.

        The page inlines the widget's front-end (JavaScript and CSS) and every kept snapshot, so
        it opens in a browser without a kernel or a network: choose a layer, a sample, a channel,
        and scrub the epochs; the histogram, the timeline and every control work as in the
        notebook (following live, which has nothing to follow, is left out). The page holds the
        display arrays and histograms only (not the full-precision values), compressed: the
        quickstart run (7 layers, 4 steps) makes a page of about 275 KB.

        Args:
            path: Destination file, e.g. `"run.html"`; replaced if it exists.
            title: Title of the page. Defaults to `"kerasviz_widget"`.

        Example:

        >>> viewer.save_html("run.html")
        """
        from ..io.html import write_html

        state = {name: getattr(self._canvas, name) for name in protocol.VIEW_TRAITS}
        state["epoch"] = float(state["epoch"])
        write_html(path, list(self._front_end.messages()), state=state, title=title)

    @classmethod
    def follow(
        cls, logdir: str, *, poll_seconds: float = 0.25, budget_mb: float = DEFAULT_BUDGET_MB
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
        source = RunFolder(logdir, budget_mb)
        viewer = cls._of(source)
        source.follow(
            viewer._history, viewer._front_end, poll_seconds, lambda: viewer.widget.comm is not None
        )
        return viewer

    def _check_layer(self, layer: str) -> None:
        """Refuse a layer id that is neither watched now nor recorded at any step (a layer
        removed from the model since is still answered at the steps that recorded it)."""
        if layer not in self.layers and not self._history.ever_recorded(layer):
            raise unknown_layer_error(layer, self.layers)


def _megabytes(nbytes: int) -> str:
    """Bytes as people read them in a one-line repr: `310 MB`, `4.2 MB`, `0.35 MB`."""
    mb = nbytes / 1e6
    if mb >= 10:
        return f"{mb:.0f} MB"
    if mb >= 1:
        return f"{mb:.1f} MB"
    return f"{mb:.2g} MB"
