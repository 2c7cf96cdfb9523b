"""Reductions of one layer output: statistics, histogram and display array.

This module is the reference implementation, in pure NumPy (it never imports Keras). The tests use
it as their oracle, and loaded histories are reduced with it.

Display layouts, by the rank of a layer output (batch first):

| rank | layout  | display shape           | view                                   |
|------|---------|-------------------------|----------------------------------------|
| 0, 1 | `bars`  | `(N,)`                  | one bar per sample                     |
| 2    | `ND`    | `(N, D)`                | samples x units                        |
| 3    | `NTD`   | `(N, T, D)`             | time x features of one sample          |
| 4    | `NHWC`  | `(N, H, W, C)`          | one channel, or a montage of channels  |
| 5    | `NDHWC` | `(N, D, H, W, C)`       | like `NHWC`, with a slice control      |
| > 5  | `ND`    | `(N, prod(rest))`       | flattened                              |

The display array keeps this dimension order and is reduced to at most `max_values` values by
block-mean pooling (the longest axis first, so the aspect is kept), then cast to float16 with finite
values clipped to float16's range (an infinity is only ever shown where the output had one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BINS = 64
DEFAULT_MAX_VALUES = 262_144
FLOAT16_MAX = float(np.finfo(np.float16).max)

LAYOUTS = {0: "bars", 1: "bars", 2: "ND", 3: "NTD", 4: "NHWC", 5: "NDHWC"}


@dataclass
class Snapshot:
    """The reduced form of one layer output at one step, as the front-end receives it."""

    layer: str
    epoch: float
    batch: int | None
    stats: dict[str, Any]
    hist_lo: float
    hist_hi: float
    counts: np.ndarray
    display: np.ndarray
    layout: str


def compute_stats(array: np.ndarray) -> dict[str, Any]:
    """Exact statistics over all values of `array`.

    `min`, `max`, `mean` and `std` are over the finite values (`None` when there are none);
    `zero_fraction` is over all values.
    """
    a = np.asarray(array)
    finite_mask = np.isfinite(a)
    finite = a[finite_mask].astype(np.float64, copy=False)
    size = int(a.size)
    nan_count = int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0
    inf_count = int(size - finite.size - nan_count)
    stats: dict[str, Any] = {
        "shape": tuple(int(d) for d in a.shape),
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "zero_fraction": float(np.count_nonzero(a == 0) / size) if size else 0.0,
        "nan_count": nan_count,
        "inf_count": inf_count,
    }
    if finite.size:
        stats["min"] = float(finite.min())
        stats["max"] = float(finite.max())
        stats["mean"] = float(finite.mean())
        stats["std"] = float(finite.std())
    return stats


def histogram(array: np.ndarray, bins: int = DEFAULT_BINS) -> tuple[float, float, np.ndarray]:
    """Histogram counts of the finite values of `array` over `bins` equal bins.

    Returns:
        `(lo, hi, counts)`: the range covered and `bins` uint32 counts that sum to the number of
        finite values. A constant array gets the range `[v - 0.5, v + 0.5]`.
    """
    a = np.asarray(array)
    finite = a[np.isfinite(a)].astype(np.float64, copy=False)
    if finite.size == 0:
        return 0.0, 1.0, np.zeros(bins, dtype=np.uint32)
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, _ = np.histogram(finite, bins=bins, range=(lo, hi))
    return lo, hi, counts.astype(np.uint32)


def arrange(array: np.ndarray) -> tuple[np.ndarray, str]:
    """Arrange a layer output (batch first) for viewing; see the module docstring."""
    a = np.asarray(array)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim > 5:
        a = a.reshape(a.shape[0], -1)
    return a, LAYOUTS[a.ndim]


def _pool_axis(a: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Block mean over `factor` neighbours along `axis`; a ragged last block averages what it has."""
    n = a.shape[axis]
    blocks = -(-n // factor)
    pad = blocks * factor - n
    if pad:
        widths = [(0, 0)] * a.ndim
        widths[axis] = (0, pad)
        a = np.pad(a, widths, mode="edge")
    shape = a.shape[:axis] + (blocks, factor) + a.shape[axis + 1 :]
    return a.reshape(shape).mean(axis=axis + 1)


def display_array(
    array: np.ndarray, max_values: int = DEFAULT_MAX_VALUES
) -> tuple[np.ndarray, str]:
    """The display tensor of a layer output: arranged by rank, pooled, float16.

    Returns:
        `(display, layout)` with `display.size <= max_values`.
    """
    a, layout = arrange(array)
    a = a.astype(np.float32, copy=False)
    while a.size > max_values:
        # Pool the longest axis, sparing the batch axis while another axis can still shrink.
        lengths = [a.shape[i] if i > 0 or a.ndim == 1 else 0 for i in range(a.ndim)]
        axis = int(np.argmax(lengths))
        if a.shape[axis] <= 1:
            axis = 0
        a = _pool_axis(a, axis, 2)
    finite = np.isfinite(a)
    a = np.where(finite, np.clip(a, -FLOAT16_MAX, FLOAT16_MAX), a)
    return np.ascontiguousarray(a, dtype=np.float16), layout


def reduce_array(
    layer: str,
    array: np.ndarray,
    *,
    epoch: float,
    batch: int | None = None,
    bins: int = DEFAULT_BINS,
    max_values: int = DEFAULT_MAX_VALUES,
) -> Snapshot:
    """Reduce one layer output to the `Snapshot` the front-end draws."""
    lo, hi, counts = histogram(array, bins)
    display, layout = display_array(array, max_values)
    return Snapshot(
        layer=layer,
        epoch=epoch,
        batch=batch,
        stats=compute_stats(array),
        hist_lo=lo,
        hist_hi=hi,
        counts=counts,
        display=display,
        layout=layout,
    )
