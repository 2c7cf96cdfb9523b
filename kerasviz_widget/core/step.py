"""One recorded step, and the one codec of its statistics.

A `Step` is what a recording session produces and what every store of steps holds or writes: the
in-memory `History`, a `.npz` history file, a run folder. `StatsTable` packs the statistics and
histograms of every layer of a step into three arrays (the form the history keeps in memory and
the files store) and unpacks them again.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .reduce import COUNT_KEYS, STAT_KEYS, Snapshot, layout_of


def label(epoch: float) -> float | int:
    """The epoch label as a person reads it: an `int` when whole, else a `float`."""
    value = float(epoch)
    return int(value) if value.is_integer() else value


def scalar_logs(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """The scalar entries of Keras logs as floats; vectors (e.g. per-class metrics) are left out.

    Raises:
        TypeError: If `logs` is neither `None` nor a mapping.
    """
    if logs is not None and not isinstance(logs, Mapping):
        raise TypeError(
            f"`logs` must be a dict of training logs, e.g. `logs={{'loss': 0.3}}`, or None; "
            f"received {logs!r}."
        )
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(Exception):
            array = np.asarray(value)
            if array.size == 1 and array.dtype.kind in "biuf":
                out[str(key)] = float(array.reshape(()))
    return out


@dataclass(eq=False)
class Step:
    """One recorded step: its label, training logs, every layer's snapshot and full arrays.

    Attributes:
        epoch: Epoch label: an `int` at an epoch end (0 is before training, 1 after the first
            epoch), a `float` (fractional epoch) for a snapshot inside an epoch.
        batch: Batch index inside the epoch, or `None` at an epoch end.
        logs: Training logs at that step, e.g. `{"loss": 0.3}`.
        snapshots: The reduced snapshot of every layer, by layer id.
        arrays: The full-precision layer outputs by layer id, or `None` where they are not kept
            (thinned away, or never stored).
        has_display: Whether the snapshots carry their display arrays; `False` once thinned (the
            snapshots' `display` is then empty).
    """

    epoch: float
    batch: int | None = None
    logs: dict[str, float] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] | None = None
    has_display: bool = True


class StatsTable:
    """The statistics and histograms of every layer of one step, packed in three arrays.

    | array    | dtype   | shape    | content                                                    |
    |----------|---------|----------|------------------------------------------------------------|
    | `stats`  | float64 | `(L, K)` | `STAT_KEYS` in order; NaN where a statistic is `None`      |
    | `ranges` | float64 | `(L, 2)` | lo, hi of the histogram                                    |
    | `counts` | uint32  | `(L, B)` | histogram counts                                           |

    with `layers`, `shapes` and `layouts` (one entry per row) beside them. A statistic is never
    NaN when defined, so NaN reads back as `None`. `STAT_KEYS` is only appended to: a `stats`
    array of fewer columns (a file written before the later statistics existed; the first
    version had 7) reads the missing ones as `None`, and columns past `STAT_KEYS` are ignored.

    Raises:
        ValueError: If the arrays do not have one row per layer.
    """

    __slots__ = ("layers", "shapes", "layouts", "stats", "ranges", "counts")

    def __init__(
        self,
        layers: Sequence[str],
        shapes: Sequence[Sequence[int]],
        layouts: Sequence[str],
        stats: np.ndarray,
        ranges: np.ndarray,
        counts: np.ndarray,
    ) -> None:
        n = len(layers)
        if len(shapes) != n or len(layouts) != n:
            raise ValueError("the layers, shapes and layouts of a step differ in number")
        if stats.ndim != 2 or stats.shape[0] != n or ranges.shape != (n, 2) or counts.shape[0] != n:
            raise ValueError(f"the statistics do not match the step's {n} layers")
        k = len(STAT_KEYS)
        if stats.shape[1] != k:  # an older (or newer) file: missing statistics are NaN, so None
            stats = np.concatenate(
                [stats[:, :k], np.full((n, max(0, k - stats.shape[1])), np.nan)], 1
            )
        self.layers = tuple(str(lid) for lid in layers)
        self.shapes = tuple(tuple(map(int, s)) for s in shapes)
        self.layouts = tuple(str(x) for x in layouts)
        for lid, shape, layout in zip(self.layers, self.shapes, self.layouts, strict=True):
            if layout != layout_of(shape):
                raise ValueError(
                    f"layer {lid!r} of shape {shape} is listed with layout {layout!r}; a layer "
                    f"of that shape is shown as {layout_of(shape)!r}"
                )
        self.stats, self.ranges, self.counts = stats, ranges, counts

    @classmethod
    def pack(cls, snapshots: Mapping[str, Snapshot]) -> StatsTable:
        """The table of a step's snapshots (in their order)."""
        snaps = list(snapshots.values())
        n = len(snaps)
        # Built whole (no reshaped views, which would keep a second array object per step).
        stats = np.zeros((n, len(STAT_KEYS)), dtype=np.float64)
        ranges = np.zeros((n, 2), dtype=np.float64)
        if n:
            stats[:] = [[math.nan if s.stats.get(k) is None else s.stats[k] for k in STAT_KEYS]
                        for s in snaps]  # fmt: skip
            ranges[:] = [(s.hist_lo, s.hist_hi) for s in snaps]
        counts = np.zeros((n, snaps[0].counts.size if snaps else 0), dtype=np.uint32)
        for i, s in enumerate(snaps):
            counts[i] = s.counts
        return cls(
            list(snapshots), [s.stats["shape"] for s in snaps], [s.layout for s in snaps],
            stats, ranges, counts,
        )  # fmt: skip

    @property
    def nbytes(self) -> int:
        return int(self.stats.nbytes + self.ranges.nbytes + self.counts.nbytes)

    def stats_of(self, i: int) -> dict[str, Any]:
        """The statistics of row `i`, as `compute_stats` gives them."""
        out: dict[str, Any] = {"shape": self.shapes[i]}
        for k, v in zip(STAT_KEYS, self.stats[i].tolist(), strict=True):
            out[k] = None if math.isnan(v) else int(v) if k in COUNT_KEYS else v
        return out

    def snapshot(
        self, i: int, *, epoch: float, batch: int | None, display: np.ndarray | None
    ) -> Snapshot:
        """The snapshot of row `i`; an empty display array stands for one thinned away."""
        return Snapshot(
            layer=self.layers[i],
            epoch=label(epoch),
            batch=batch,
            stats=self.stats_of(i),
            hist_lo=float(self.ranges[i, 0]),
            hist_hi=float(self.ranges[i, 1]),
            counts=self.counts[i].astype(np.uint32),
            display=display if display is not None else np.zeros(0, dtype=np.float16),
            layout=self.layouts[i],
        )
