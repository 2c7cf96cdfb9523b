"""The bounded store of snapshots, by (layer, step).

Every step keeps, always: its logs, and for every layer the exact statistics and the histogram
(small, packed into one float64 and one uint32 array per step). Two heavier parts of a step can be
thinned away to stay within the byte budget:

1. the full-precision layer outputs (for `viewer.values`), and
2. the float16 display arrays (for the heatmap of a new front-end view, `save` and `save_html`).

Thinning rule: while the bytes held exceed the budget, the full-precision outputs of old steps are
dropped first, evenly: the tier keeps every `stride`-th recorded step plus the latest; the oldest
step off the stride goes, and when every interior step is on it the stride doubles (so the kept
steps stay evenly spread over the run, like TensorBoard's reservoir, first and last kept). Only
when just those two keep full outputs do display arrays get thinned, by the same rule. If that is
still not enough, the first step's full outputs go, then the last step's, then the first step's
display. The latest step's display array is never dropped (the widget always has a picture), so a
budget smaller than one step's display arrays plus the always-kept statistics is exceeded by that
much.

Accounting: `History.nbytes` is the exact number of bytes of every NumPy array held
(`ndarray.nbytes` summed). The budget also charges a small fixed estimate of the Python objects
per step and per array (`STEP_OVERHEAD_BYTES`, `ARRAY_OVERHEAD_BYTES`), so that the process memory
of the history, not only its array data, stays within the budget.
"""

from __future__ import annotations

import bisect
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from .reduce import Snapshot
from .sink import Store
from .step import StatsTable, Step, label

STEP_OVERHEAD_BYTES = 768
"""Estimated Python-object bytes per recorded step (record, step, logs dict, keys)."""

ARRAY_OVERHEAD_BYTES = 160
"""Estimated Python-object bytes per held array (`ndarray` header and dict entry)."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Run a `History` method under the history's lock: a step being added or thinned on the
    worker thread is never seen half done by a reader on another thread."""

    @functools.wraps(method)
    def locked(self: History, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class _Record:
    """Everything kept of one step, packed; see the module docstring."""

    __slots__ = ("epoch", "batch", "logs", "table", "index", "displays", "arrays")

    def __init__(self, step: Step) -> None:
        self.epoch, self.batch, self.logs = step.epoch, step.batch, dict(step.logs)
        self.table = StatsTable.pack(step.snapshots)
        self.index = {lid: i for i, lid in enumerate(self.table.layers)}
        self.displays: dict[str, np.ndarray] | None = (
            {lid: s.display for lid, s in step.snapshots.items()} if step.has_display else None
        )
        arrays = step.arrays
        self.arrays: dict[str, np.ndarray] | None = (
            None
            if arrays is None
            else {lid: arrays[lid] for lid in self.table.layers if lid in arrays}
        )

    def share_layout(self, other: _Record) -> None:
        """Reuse the layer tuples of another record when equal, to save memory per step."""
        mine, theirs = self.table, other.table
        if theirs.layers == mine.layers:
            mine.layers, self.index = theirs.layers, other.index
        if theirs.shapes == mine.shapes:
            mine.shapes = theirs.shapes
        if theirs.layouts == mine.layouts:
            mine.layouts = theirs.layouts

    def display_nbytes(self) -> int:
        return sum(int(a.nbytes) for a in (self.displays or {}).values())

    def values_nbytes(self) -> int:
        return sum(int(a.nbytes) for a in (self.arrays or {}).values())

    def snapshot(self, layer: str) -> Snapshot:
        display = None if self.displays is None else self.displays.get(layer)
        return self.table.snapshot(
            self.index[layer], epoch=self.epoch, batch=self.batch, display=display
        )

    def step(self) -> Step:
        return Step(
            epoch=label(self.epoch),
            batch=self.batch,
            logs=dict(self.logs),
            snapshots={lid: self.snapshot(lid) for lid in self.table.layers},
            arrays=None if self.arrays is None else dict(self.arrays),
            has_display=self.displays is not None,
        )


class History(Store):
    """Snapshots and full-precision arrays by (layer, epoch label), within `budget_bytes`.

    See the module docstring for what is kept and the thinning rule. Every public method runs
    under one lock: the worker thread adds and thins steps while the notebook reads them.

    Args:
        budget_bytes: Most bytes to hold, `> 0`.
        values_only: Charge only the full-precision arrays against the budget, and thin only
            them: the ledger of a run folder, which keeps every step's statistics, histograms
            and display arrays on disk whatever the budget. Defaults to `False`.

    Raises:
        ValueError: If `budget_bytes <= 0`.

    Example:

    >>> history = History(64 * 2**20)
    >>> thinned = history.add(Step(epoch=0, snapshots=snapshots, arrays=arrays))
    """

    inline = True
    """Only memory: a short step may be written from the training thread."""

    def __init__(self, budget_bytes: int, *, values_only: bool = False) -> None:
        if not budget_bytes > 0:
            raise ValueError(
                f"History received budget_bytes={budget_bytes!r}; it must be a number of bytes > 0."
            )
        self.budget_bytes = int(budget_bytes)
        self.values_only = values_only
        self._values_bytes = 0
        self._lock = threading.RLock()
        self._records: dict[float, _Record] = {}
        self._keys: list[float] = []  # ascending
        self._with_values: list[float] = []  # ascending keys whose full arrays are kept
        self._with_display: list[float] = []  # ascending keys whose display arrays are kept
        self.nbytes = 0
        """Exact bytes of every NumPy array held."""
        self._n_arrays = 0
        self._stride = {"values": 1, "display": 1}  # thinning strides, in recorded steps

    # ------------------------------------------------------------------ reading

    @property
    @_locked
    def epochs(self) -> list[float | int]:
        """Labels of every recorded step, ascending."""
        return [label(k) for k in self._keys]

    @property
    @_locked
    def kept_epochs(self) -> list[float | int]:
        """Labels of the steps whose full-precision arrays are still kept, ascending."""
        return [label(k) for k in self._with_values]

    @property
    @_locked
    def display_epochs(self) -> list[float | int]:
        """Labels of the steps whose display arrays are still kept, ascending."""
        return [label(k) for k in self._with_display]

    @property
    @_locked
    def charged_bytes(self) -> int:
        """The bytes counted against the budget: `nbytes` plus the Python-object estimate (with
        `values_only`: the bytes of the full arrays kept)."""
        if self.values_only:
            return self._values_bytes
        return (
            self.nbytes
            + STEP_OVERHEAD_BYTES * len(self._keys)
            + ARRAY_OVERHEAD_BYTES * self._n_arrays
        )

    @_locked
    def __len__(self) -> int:
        return len(self._keys)

    @_locked
    def layers(self, epoch: float = -1) -> tuple[str, ...]:
        """Layer ids recorded at a step."""
        return self._records[self.resolve(epoch)].table.layers

    @_locked
    def ever_recorded(self, layer: Any) -> bool:
        """Whether any step recorded `layer` (steps of one model share their layer tuple)."""
        seen: set[int] = set()
        for record in self._records.values():
            layers = record.table.layers
            if id(layers) not in seen:
                seen.add(id(layers))
                if layer in layers:
                    return True
        return False

    @_locked
    def resolve(self, epoch: float) -> float:
        """The stored key of an epoch label; `-1` means the latest step.

        Raises:
            KeyError: If the history is empty or `epoch` was never recorded.
        """
        if not self._keys:
            raise KeyError("The history is empty: no step has been recorded yet.")
        try:
            key = float(epoch)
        except (TypeError, ValueError):
            raise TypeError(
                f"The epoch must be a number (an epoch label from `viewer.epochs`, or -1 for the "
                f"latest); received {epoch!r}."
            ) from None
        if key == -1:
            return self._keys[-1]
        if key not in self._records:
            raise KeyError(
                f"Epoch {epoch!r} was never recorded. Recorded epochs: {self.epochs}. Pass one "
                "of these, or -1 for the latest."
            )
        return key

    def _layer_index(self, record: _Record, layer: str) -> int:
        try:
            return record.index[layer]
        except KeyError:
            raise KeyError(
                f"Layer {layer!r} was not recorded at epoch {label(record.epoch)}. Layers "
                f"recorded there: {', '.join(record.table.layers)}."
            ) from None

    @_locked
    def values(self, layer: str, epoch: float = -1) -> np.ndarray:
        """The full-precision output of `layer` at a step, as a read-only view.

        Raises:
            KeyError: If the step was never recorded, or its full outputs were thinned away.
        """
        record = self._records[self.resolve(epoch)]
        self._layer_index(record, layer)
        if record.arrays is None or layer not in record.arrays:
            raise KeyError(
                f"The full values of epoch {label(record.epoch)} were thinned away to keep "
                f"the history under its budget of {self.budget_bytes / 2**20:g} MB; its "
                f"statistics are still available with `stats()`. Epochs with full values: "
                f"{self.kept_epochs}. Pass one of these, or a larger `budget_mb` to keep more."
            )
        view = record.arrays[layer].view()
        view.flags.writeable = False  # the history's copy stays as recorded
        return view

    @_locked
    def stats(self, layer: str, epoch: float = -1) -> dict[str, Any]:
        """The exact statistics of `layer` at a step (always kept)."""
        record = self._records[self.resolve(epoch)]
        return record.table.stats_of(self._layer_index(record, layer))

    @_locked
    def snapshot(self, layer: str, epoch: float = -1) -> Snapshot:
        """The snapshot of `layer` at a step; its `display` is empty if it was thinned away."""
        record = self._records[self.resolve(epoch)]
        self._layer_index(record, layer)
        return record.snapshot(layer)

    def snapshots(self) -> Iterator[Snapshot]:
        """Every snapshot whose display array is kept, in step order, then layer order (as they
        were when the call was made)."""
        with self._lock:
            kept = [
                self._records[key].snapshot(lid)
                for key in self._with_display
                for lid in self._records[key].table.layers
            ]
        yield from kept

    @_locked
    def step(self, epoch: float = -1) -> Step:
        """A recorded step, whole: snapshots (empty displays if thinned) and kept arrays."""
        return self._records[self.resolve(epoch)].step()

    @_locked
    def logs(self) -> dict[float | int, dict[str, float]]:
        """Training logs by epoch label."""
        return {label(k): dict(self._records[k].logs) for k in self._keys}

    # ------------------------------------------------------------------ writing

    @_locked
    def write(self, step: Step) -> None:
        """Keep a finished step of a recording session (`Sink.write`), thinning old ones."""
        self.add(step)

    @_locked
    def add(self, step: Step, *, thin: bool = True) -> list[float | int]:
        """Record a step, then thin old steps to stay within the budget.

        Args:
            step: The step: label, batch, logs, snapshots by layer id (all with the same number
                of bins), full arrays (`None` to keep none), and whether its display arrays are
                kept (`has_display`).
            thin: Whether to thin to the budget afterwards; `False` restores a saved history
                as it was. Defaults to `True`.

        Returns:
            The labels of the steps whose full-precision arrays were thinned away by this call.
        """
        key = float(step.epoch)
        if key in self._records:
            self._remove(key)
        record = _Record(step)
        if self._keys:
            record.share_layout(self._records[self._keys[-1]])
        self._records[key] = record
        bisect.insort(self._keys, key)
        self.nbytes += record.table.nbytes
        self._n_arrays += 3
        if record.displays is not None:
            bisect.insort(self._with_display, key)
            self.nbytes += record.display_nbytes()
            self._n_arrays += len(record.displays)
        if record.arrays is not None:
            bisect.insort(self._with_values, key)
            self.nbytes += record.values_nbytes()
            self._values_bytes += record.values_nbytes()
            self._n_arrays += len(record.arrays)
        return self._thin() if thin else []

    def _remove(self, key: float) -> None:
        record = self._records.pop(key)
        self._keys.remove(key)
        self.nbytes -= record.table.nbytes
        self._n_arrays -= 3
        if record.displays is not None:
            self._drop_display(key, record)
        if record.arrays is not None:
            self._drop_values(key, record)

    def _drop_values(self, key: float, record: _Record | None = None) -> None:
        record = record or self._records[key]
        self.nbytes -= record.values_nbytes()
        self._values_bytes -= record.values_nbytes()
        self._n_arrays -= len(record.arrays or ())
        record.arrays = None
        self._with_values.remove(key)

    def _drop_display(self, key: float, record: _Record | None = None) -> None:
        record = record or self._records[key]
        self.nbytes -= record.display_nbytes()
        self._n_arrays -= len(record.displays or ())
        record.displays = None
        self._with_display.remove(key)

    def _interior_victim(self, keys: list[float], tier: str) -> float | None:
        """The oldest interior key off the tier's stride; the stride doubles when none is.

        Positions count every recorded step (statistics are kept for all), so the kept steps are
        exactly every `stride`-th step, plus the latest: evenly spread, whatever the labels.
        """
        if len(keys) < 3:
            return None
        positions = [bisect.bisect_left(self._keys, k) for k in keys[1:-1]]
        while True:
            stride = self._stride[tier]
            for key, position in zip(keys[1:-1], positions, strict=True):
                if position % stride:
                    return key
            self._stride[tier] = 2 * stride

    def _thin(self) -> list[float | int]:
        dropped: list[float | int] = []
        while self.charged_bytes > self.budget_bytes:
            victim = self._interior_victim(self._with_values, "values")
            if victim is not None:
                self._drop_values(victim)
                dropped.append(label(victim))
                continue
            victim = None
            if not self.values_only:
                victim = self._interior_victim(self._with_display, "display")
            if victim is not None:
                self._drop_display(victim)
                continue
            if self._with_values:  # the first step's, then the last step's
                victim = self._with_values[0]
                self._drop_values(victim)
                dropped.append(label(victim))
            elif len(self._with_display) == 2 and not self.values_only:
                self._drop_display(self._with_display[0])
            else:
                break  # only the always-kept data and the latest display remain
        return sorted(dropped)
