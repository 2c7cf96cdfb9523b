"""Reductions of one layer output: statistics, histogram and display array.

This module is the reference implementation, in pure NumPy (it never imports Keras). The tests use
it as their oracle, and loaded histories are reduced with it. `reduce_many` is the fast path the
widget uses during training; it computes the same numbers (the tests hold it to the reference).

Display layouts, by the rank of a layer output (batch first):

| rank | layout  | display shape     | view                              | pooled, in order     |
|------|---------|-------------------|-----------------------------------|----------------------|
| 0, 1 | `bars`  | `(N,)`            | one bar per sample                | N                    |
| 2    | `ND`    | `(N, D)`          | samples x units                   | D, then N            |
| 3    | `NTD`   | `(N, T, D)`       | time x features of one sample     | (T, D), then N       |
| 4    | `NHWC`  | `(N, H, W, C)`    | one channel, or a channel montage | (H, W), C, then N    |
| 5    | `NDHWC` | `(N, D, H, W, C)` | like `NHWC`, with a slice control | (D, H, W), C, then N |
| > 5  | `ND`    | `(N, prod(rest))` | flattened                         | like `ND`            |

A rank-0 output becomes one bar. The display array keeps this dimension order.

Pooling rule: when the arranged array has more than `max_values` values, it is reduced by
block-mean pooling. The image axes of the layout (the parenthesised group) are pooled first, all by
one common integer factor `f` (blocks of `f` neighbours per axis, so the aspect of the image is
kept), with the smallest `f` that fits the budget. Only if the image is down to one pixel and the
array is still too large does the next group give way (channels, then samples). A ragged last block
(the length is not a multiple of `f`) averages the values it has. Sums are taken in float64, so
pooling a constant gives the constant. The result is cast to float16 with finite values clipped to
float16's range, so an infinity is only ever shown where a block held one (a block holding both
infinities, or a NaN, shows NaN).

Bin rule of the histogram (`histogram`, `bin_index`; the fast path `reduce_many` computes the same
formula):

- Only finite values are binned. NaN and +-Inf are never counted in a bin; they are counted in the
  statistics' `nan_count` and `inf_count`. No finite values: range `[0, 1]`, all counts 0.
- Values are binned in the *bin precision*: float64 for float64 arrays, float32 for every other
  dtype (float16, bfloat16 and float32 convert exactly; integers are rounded to float32, so
  integers beyond 2**24 are binned by their float32 value). `lo` and `hi` are the smallest and
  largest finite values in that precision.
- A constant array (`lo == hi`) puts every finite value in bin `bins // 2`; its range shown is
  `[v - p, v + p]` with `p = max(0.5, |v| * 2**-20)`, so `v` is that bin's lower edge (even
  `bins`) or inside it (odd `bins`).
- Otherwise the bin of `x` is `min(bins - 1, floor((x*k - lo*k) * s))` with
  `s = bins / (hi*k - lo*k)`, every operation rounded to nearest in the bin precision, and `k = 1`;
  `k = 1/2` when `hi - lo` overflows that precision, `k = 2**64` when `bins / (hi - lo)` does (a
  range of subnormal size). Multiplying by `k` is exact in both cases. In exact arithmetic this is `bins` equal
  bins with edges `lo + i * (hi - lo) / bins`: a value exactly on an interior edge goes to the
  upper bin, and the last bin is closed, `[edge, hi]`. The rounded formula moves each edge by at
  most about two units in the last place of `x - lo`; because the formula itself is the rule, the
  reference and the fast paths agree exactly, not only up to that rounding.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .settings import DEFAULT_BINS, DEFAULT_MAX_VALUES

FLOAT16_MAX = float(np.finfo(np.float16).max)

LAYOUTS = {0: "bars", 1: "bars", 2: "ND", 3: "NTD", 4: "NHWC", 5: "NDHWC"}

# Axes pooled together with one common factor, in the order in which they give way.
POOL_GROUPS: dict[str, tuple[tuple[int, ...], ...]] = {
    "bars": ((0,),),
    "ND": ((1,), (0,)),
    "NTD": ((1, 2), (0,)),
    "NHWC": ((1, 2), (3,), (0,)),
    "NDHWC": ((1, 2, 3), (4,), (0,)),
}

STAT_KEYS = (
    "min",
    "max",
    "mean",
    "std",
    "zero_fraction",
    "nan_count",
    "inf_count",
    "mean_abs",
    "dead_fraction",
    "constant",
    "saturated_fraction",
    "relative_change",
)
"""The statistics of one layer output at one step, in the order of a stored row
(`step.StatsTable`). Only ever appended to: a row stored with fewer columns (an older file) reads
its missing statistics as `None`. See `compute_stats` for each definition."""

Bounds = tuple[float | None, float]
"""A layer's activation bounds `(lo, hi)`, or `(None, hi)` to count the upper bound only."""

COUNT_KEYS = ("nan_count", "inf_count")
"""The statistics that are counts (`int`); every other one is a `float` or `None`."""

SATURATION_MARGIN = 0.01
"""A value is saturated within this fraction of the output range `hi - lo` from either bound."""


@dataclass
class Snapshot:
    """The reduced form of one layer output at one step, as the front-end receives it.

    Attributes:
        layer: Layer id.
        epoch: Epoch label: an `int` at an epoch end (0 is before training), a `float` for a
            snapshot taken inside an epoch.
        batch: Batch index inside the epoch, or `None` at an epoch end.
        stats: Exact statistics, see `compute_stats`.
        hist_lo: Lower edge of the histogram.
        hist_hi: Upper edge of the histogram.
        counts: `bins` uint32 histogram counts over the finite values.
        display: The display array, float16, at most `max_values` values.
        layout: Display layout, one of `bars`, `ND`, `NTD`, `NHWC`, `NDHWC`.
    """

    layer: str
    epoch: float
    batch: int | None
    stats: dict[str, Any]
    hist_lo: float
    hist_hi: float
    counts: np.ndarray
    display: np.ndarray
    layout: str

    @property
    def axes(self) -> list[dict[str, Any]]:
        """The display axes, in display order, with the pool factor of each; see `display_axes`."""
        return display_axes(self.stats["shape"], self.layout, self.display.shape)


# ------------------------------------------------------------------------------ reference


def compute_stats(array: np.ndarray, bounds: Bounds | None = None) -> dict[str, Any]:
    """Exact statistics over all values of `array` (the reference; `reduce_many` agrees with it).

    - `min`, `max`, `mean`, `std`: over the finite values, accumulated in float64; `None` when
      there are none.
    - `zero_fraction`: values equal to 0, over all values; 0.0 for an empty array.
    - `nan_count`, `inf_count`: the number of NaN and of infinite (either sign) values.
    - `mean_abs`: the mean of `|x|` over the finite values, in float64; `None` when there are
      none.
    - `dead_fraction`: the units are the entries of the last axis; a unit is dead when it is
      exactly 0 (`-0.0` included) at every probe sample and position, that is
      `all(x[..., j] == 0)`; a NaN or infinity is not 0. The fraction of dead units. `None` for a
      rank below 2 (there is no unit axis apart from the batch) and for an empty array.
    - `constant`: 1.0 when every probe sample's output equals the first sample's, position by
      position, else 0.0. NaN equals NaN at the same position (NaN against a number differs), so
      `all((x[i] == x[0]) | (isnan(x[i]) & isnan(x[0])))` over samples `i >= 1`. `None` for a
      rank-0 output, a probe of fewer than 2 samples, and an empty array.
    - `saturated_fraction`: with `bounds = (lo, hi)` of a bounded activation, the fraction of all
      values within `SATURATION_MARGIN` (1%) of the range from a bound:
      `count(x <= lo + 0.01 * (hi - lo) or x >= hi - 0.01 * (hi - lo)) / size`, compared in
      float64. NaN never counts; a value beyond a bound (an infinity included) does. Bounds
      `(None, hi)` (the ReLU family) count the upper bound only: `count(x >= 0.99 * hi)`, and
      -Inf. `None` without `bounds`, and for an empty array.
    - `relative_change`: how much the layer's output changed since the previous recorded step;
      a statistic of two steps, so `None` here: `relative_change` defines it and a recording
      session sets it (`set_relative_changes`).

    Args:
        array: A layer output, any shape, batch first.
        bounds: `(lo, hi)`, the output range of the layer's activation, or `None` when it is not
            bounded (see `core.health.activation_bounds`). Defaults to `None`.

    Returns:
        A dict with keys `shape` (tuple) and every key of `STAT_KEYS`.

    Raises:
        ValueError: If `bounds` is not a pair of finite numbers `lo < hi`.
    """
    edges = saturation_edges(bounds)
    a = np.asarray(array)
    finite_mask = np.isfinite(a)
    finite = a[finite_mask].astype(np.float64, copy=False)
    size = int(a.size)
    nan_count = 0 if a.dtype.kind in "iub" else int(np.isnan(a).sum())  # bfloat16 is kind "V"
    inf_count = int(size - finite.size - nan_count)
    stats: dict[str, Any] = {"shape": tuple(int(d) for d in a.shape), **dict.fromkeys(STAT_KEYS)}
    stats["zero_fraction"] = float(np.count_nonzero(a == 0) / size) if size else 0.0
    stats["nan_count"], stats["inf_count"] = nan_count, inf_count
    if finite.size:
        stats["min"] = float(finite.min())
        stats["max"] = float(finite.max())
        stats["mean"] = float(finite.mean())
        stats["std"] = float(finite.std())
        stats["mean_abs"] = float(np.abs(finite).mean())
    if size and a.ndim >= 2:
        dead = np.all(a.reshape(-1, a.shape[-1]) == 0, axis=0)
        stats["dead_fraction"] = float(dead.mean())
    if size and a.ndim >= 1 and a.shape[0] >= 2:
        same = a == a[0]
        if nan_count:
            same |= np.isnan(a) & np.isnan(a[0])
        stats["constant"] = 1.0 if bool(same.all()) else 0.0
    if size and edges is not None:
        x = a.astype(np.float64, copy=False)
        near = (x <= edges[0]) | (x >= edges[1])
        stats["saturated_fraction"] = float(np.count_nonzero(near) / size)
    return stats


def saturation_edges(
    bounds: Bounds | None,
) -> tuple[float, float] | None:
    """The saturation thresholds `(lo + m, hi - m)`, `m = SATURATION_MARGIN * (hi - lo)`.

    Bounds `(None, hi)` saturate at the upper bound only (the ReLU family, see
    `core.health.activation_bounds`): the thresholds are `(-inf, hi - m)` with
    `m = SATURATION_MARGIN * hi`, the range starting at 0.

    Raises:
        ValueError: If `bounds` is not `None`, a pair of finite numbers `lo < hi`, nor
            `(None, hi)` with a finite `hi > 0`.
    """
    if bounds is None:
        return None
    upper_only = False
    try:
        if isinstance(bounds, (str, bytes)):
            raise TypeError
        first, second = bounds
        upper_only = first is None
        lo, hi = (0.0 if upper_only else float(first)), float(second)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(
            f"Received bounds={bounds!r}; they must be `None` or a pair `(lo, hi)` of finite "
            "numbers with lo < hi (the output range of a bounded activation, e.g. `(0, 1)` for "
            "a sigmoid), or `(None, hi)` with hi > 0 to count the upper bound only."
        )
    margin = SATURATION_MARGIN * (hi - lo)
    return (-math.inf if upper_only else lo + margin), hi - margin


def histogram_range(lo: float, hi: float) -> tuple[float, float]:
    """The histogram range for finite values spanning `[lo, hi]`; widened when `lo == hi`."""
    if lo == hi:
        pad = max(0.5, abs(lo) * 2.0**-20)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def bin_precision(dtype: Any) -> type:
    """The floating type in which values of `dtype` are binned: float64 for float64, else float32."""
    return np.float64 if np.dtype(dtype).char == "d" else np.float32


def bin_factor(lo: Any, hi: Any, bins: int) -> Any:
    """The bin rule's `k` for the range `[lo, hi]`, both of the bin precision."""
    ct = type(lo)
    low, high = float(lo), float(hi)
    if abs(low) < 1e30 and abs(high) < 1e30 and high - low > bins * 1e-30:
        return ct(1.0)  # neither test below can overflow: the usual range, without np.errstate
    with np.errstate(over="ignore", divide="ignore"):
        if not np.isfinite(hi - lo):
            return ct(0.5)
        if not np.isfinite(ct(bins) / (hi - lo)):
            return ct(2.0**64)
    return ct(1.0)


def bin_index(x: np.ndarray, lo: Any, hi: Any, bins: int) -> np.ndarray:
    """Bin of each value of `x` by the bin rule (module docstring).

    Args:
        x: Finite values, already in the bin precision (float32 or float64), any shape.
        lo: The smallest finite value, in the same precision.
        hi: The largest finite value, in the same precision; `hi > lo`.
        bins: Number of bins.

    Returns:
        Integer bin indices in `[0, bins - 1]`, the shape of `x`.
    """
    ct = x.dtype.type
    lo, hi = ct(lo), ct(hi)
    k = bin_factor(lo, hi, bins)
    scale = ct(bins) / (hi * k - lo * k)
    t = (x * k - lo * k) * scale if k != 1 else (x - lo) * scale
    idx = np.floor(t).astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)
    return idx


def histogram(array: np.ndarray, bins: int = DEFAULT_BINS) -> tuple[float, float, np.ndarray]:
    """Histogram counts of the finite values of `array` over `bins` equal bins.

    The bins follow the bin rule of the module docstring: they span the finite values'
    `[min, max]`, a value on an interior edge counts in the upper bin, the last bin is closed, and
    a constant array gets the range `[v - p, v + p]` with `p = max(0.5, |v| * 2**-20)` and all its
    values in bin `bins // 2`. No finite values give the range `[0, 1]` and zero counts.

    Args:
        array: A layer output, any shape.
        bins: Number of bins. Defaults to `64`.

    Returns:
        `(lo, hi, counts)`: the range covered and `bins` uint32 counts that sum to the number of
        finite values.
    """
    a = np.asarray(array)
    finite = a[np.isfinite(a)]
    counts = np.zeros(bins, dtype=np.uint32)
    if finite.size == 0:
        return 0.0, 1.0, counts
    exact = finite.astype(np.float64, copy=False)
    lo, hi = histogram_range(float(exact.min()), float(exact.max()))
    x = finite.astype(bin_precision(a.dtype), copy=False)
    blo, bhi = x.min(), x.max()
    if blo == bhi:
        counts[bins // 2] = x.size
    else:
        counts[:] = np.bincount(bin_index(x, blo, bhi, bins).reshape(-1), minlength=bins)
    return lo, hi, counts


def layout_of(shape: Sequence[int]) -> str:
    """The display layout of a layer output of `shape` (batch first): the rule `arrange` applies.

    Example:

    >>> layout_of((16, 28, 28, 8)), layout_of((16,)), layout_of((2, 3, 4, 5, 6, 7))
    ('NHWC', 'bars', 'ND')
    """
    rank = len(shape)
    return LAYOUTS[max(1, rank) if rank <= 5 else 2]


def arranged_shape(shape: Sequence[int]) -> tuple[tuple[int, ...], str]:
    """The shape and layout `arrange` gives a layer output of `shape` (batch first)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        shape = (1,)
    if len(shape) > 5:
        shape = (shape[0], math.prod(shape[1:]))
    return shape, layout_of(shape)


def arrange(array: np.ndarray) -> tuple[np.ndarray, str]:
    """Arrange a layer output (batch first) for viewing; see the module docstring.

    Returns:
        `(array, layout)`: a view of `array` reshaped for its layout, and the layout name.
    """
    a = np.asarray(array)
    shape, layout = arranged_shape(a.shape)
    return a.reshape(shape), layout


def pool_factors(shape: tuple[int, ...], layout: str, max_values: int) -> tuple[int, ...]:
    """The block size along each axis that brings an arranged array within `max_values` values.

    See the pooling rule in the module docstring.

    Args:
        shape: Shape of the arranged array.
        layout: Its layout name.
        max_values: Most values allowed, `>= 1`.

    Returns:
        One factor per axis; 1 means the axis is not pooled.
    """
    factors = [1] * len(shape)
    current = list(shape)
    for group in POOL_GROUPS[layout]:
        size = math.prod(current)
        if size <= max_values:
            break
        rest = size // math.prod(current[i] for i in group)
        dims = [shape[i] for i in group]

        def pooled(f: int, dims: list[int] = dims, rest: int = rest) -> int:
            return rest * math.prod(-(-d // f) for d in dims)

        lo, hi = 1, max(dims)
        if pooled(hi) > max_values:
            f = hi  # the whole group goes down to one value; the next group gives way too
        else:
            while lo < hi:  # the smallest factor that fits
                mid = (lo + hi) // 2
                if pooled(mid) <= max_values:
                    hi = mid
                else:
                    lo = mid + 1
            f = lo
        for i in group:
            factors[i] = min(f, shape[i]) if shape[i] else 1
            current[i] = -(-shape[i] // factors[i])
    return tuple(factors)


def display_axes(
    shape: tuple[int, ...], layout: str, display_shape: tuple[int, ...]
) -> list[dict[str, Any]]:
    """The axes of a display array: what each one shows and by which factor it was pooled.

    The front-end reads these to map a display index back to the layer output; it derives no
    factor of its own. The factor of each axis is recovered from the shapes alone, so a snapshot
    read back from a history file describes itself just as a fresh one does.

    Why the shapes suffice: `pool_factors` pools the axes of a group (see `POOL_GROUPS`) by one
    common factor `f`, so an axis of length `n` (arranged) is shown as `d = ceil(n / f)`. Let
    `g = max(ceil(n_i / d_i))` over the group. (1) `f >= g`: `ceil(n_i / f) = d_i` means
    `n_i / f <= d_i`, so `f >= ceil(n_i / d_i)` for every axis. (2) `g` gives the same display
    shape: `g >= ceil(n_i / d_i)` makes `ceil(n_i / g) <= d_i`, and `g <= f` makes
    `ceil(n_i / g) >= ceil(n_i / f) = d_i`. The size pooled by a factor depends on the display
    shape only, so `g` fits the budget whenever `f` does; the rule takes the smallest factor that
    fits, hence `f <= g`, and `f = g`. (When not even one value per axis fits, the rule pools the
    group by its longest axis, `max(n_i)`, which is `g` again, as every `d_i` is 1.) Each axis
    reports `min(f, n)`, the block size `pool_factors` uses; both give the same blocks.

    Args:
        shape: Shape of the layer output, batch first (`stats["shape"]`).
        layout: The display layout, one of `bars`, `ND`, `NTD`, `NHWC`, `NDHWC`.
        display_shape: Shape of the display array.

    Returns:
        One dict per display axis, in display order: `name` (`sample`, `unit`, `time`, `depth`,
        `y`, `x` or `channel`), `size` (its length in the arranged layer output) and `pool` (the
        block length: display index `i` covers `[i * pool, min(size, (i + 1) * pool))`). The
        axis of a flattened output (rank 0, or rank > 5) also has `flattened`: the lengths of the
        layer output's axes it holds, in C order (`[]` for a scalar).

    Raises:
        ValueError: If `layout` or `display_shape` does not fit `shape`.

    Example:

    >>> [(a["name"], a["pool"]) for a in display_axes((1, 100, 100, 1), "NHWC", (1, 34, 34, 1))]
    [('sample', 1), ('y', 3), ('x', 3), ('channel', 1)]
    """
    axes = _display_axes(tuple(map(int, shape)), layout, tuple(map(int, display_shape)))
    return [{**a, "flattened": list(a["flattened"])} if "flattened" in a else dict(a) for a in axes]


@functools.lru_cache(maxsize=1024)
def _display_axes(
    shape: tuple[int, ...], layout: str, display_shape: tuple[int, ...]
) -> tuple[dict[str, Any], ...]:
    """`display_axes`, remembered: every step of a layer has the same shapes (the caller copies
    the dicts, so none is shared)."""
    sizes, arranged_layout = arranged_shape(shape)
    if layout != arranged_layout or len(display_shape) != len(sizes):
        raise ValueError(
            f"display_axes received layout {layout!r} and display shape {display_shape} for a "
            f"layer output of shape {shape}, which is shown as {arranged_layout!r} with "
            f"{len(sizes)} axes. Pass the snapshot's own `layout` and `display.shape`."
        )
    names = {
        "bars": ("sample",),
        "ND": ("sample", "unit"),
        "NTD": ("sample", "time", "unit"),
        "NHWC": ("sample", "y", "x", "channel"),
        "NDHWC": ("sample", "depth", "y", "x", "channel"),
    }[layout]
    pools = [1] * len(sizes)
    for group in POOL_GROUPS[layout]:
        f = max((-(-sizes[i] // display_shape[i]) for i in group if display_shape[i]), default=1)
        for i in group:
            pools[i] = min(f, sizes[i]) if sizes[i] else 1
    axes: list[dict[str, Any]] = [
        {"name": name, "size": n, "pool": f} for name, n, f in zip(names, sizes, pools, strict=True)
    ]
    if len(shape) == 0 or len(shape) > 5:
        axes[-1]["flattened"] = list(shape[1:])
    return tuple(axes)


def _pool_axis(a: np.ndarray, axis: int, f: int) -> np.ndarray:
    """Block sums of `f` neighbours along `axis`, in float64, by `f` strided additions."""
    n = a.shape[axis]
    shape = list(a.shape)
    shape[axis] = -(-n // f)
    out = np.zeros(shape, dtype=np.float64)
    head = (slice(None),) * axis
    # A block holding +inf and -inf pools to NaN, as its mean is undefined: no warning for that.
    with np.errstate(invalid="ignore"):
        for i in range(f):
            part = a[(*head, slice(i, None, f))]
            out[(*head, slice(0, part.shape[axis]))] += part
    return out


def pooled_axes(factors: Sequence[int]) -> list[int]:
    """The axes with a factor above 1, in the order they are pooled: the axis that shrinks most
    goes first, so the later passes work on less data."""
    return [i for i in sorted(range(len(factors)), key=lambda i: -factors[i]) if factors[i] > 1]


def block_sizes(shape: Sequence[int], factors: Sequence[int]) -> np.ndarray:
    """How many values each pooling block of an array of `shape` holds (a ragged last block
    fewer): float64, broadcastable against the pooled array."""
    sizes = np.ones([1] * len(shape))
    for axis, f in enumerate(factors):
        if f > 1:
            n = int(shape[axis])
            starts = np.arange(0, n, f)
            view = [1] * len(shape)
            view[axis] = starts.size
            sizes = sizes * (np.minimum(starts + f, n) - starts).reshape(view)
    return sizes


def _pool(a: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Block means of `a` with the given block size per axis; a ragged last block averages what
    it has. Sums are taken in float64."""
    out: np.ndarray = a
    axes = pooled_axes(factors)
    for axis in axes:
        out = _pool_axis(out, axis, factors[axis])
    if axes:
        out /= block_sizes(a.shape, factors)
    return out


def _to_float16(a: np.ndarray, clip: bool) -> np.ndarray:
    """Cast to float16 with finite values clipped to its range; infinities and NaN kept."""
    if clip:
        clipped = np.clip(a, -FLOAT16_MAX, FLOAT16_MAX)
        np.copyto(clipped, a, where=np.isinf(a))
        a = clipped
    return np.ascontiguousarray(a, dtype=np.float16)


def _display(
    array: np.ndarray, max_values: int, needs_clip: bool | None = None
) -> tuple[np.ndarray, str]:
    a, layout = arrange(array)
    if a.dtype.kind not in "f" or a.dtype.itemsize > 8:
        a = a.astype(np.float64)
    factors = pool_factors(a.shape, layout, max_values)
    if any(f > 1 for f in factors):
        a = _pool(a, factors)
    if needs_clip is None:
        needs_clip = a.dtype.itemsize > 2 and a.size > 0
    return _to_float16(a, needs_clip), layout


def display_array(
    array: np.ndarray, max_values: int = DEFAULT_MAX_VALUES
) -> tuple[np.ndarray, str]:
    """The display tensor of a layer output: arranged by rank, pooled, float16.

    Args:
        array: A layer output, batch first.
        max_values: Most values in the result. Defaults to `262_144`.

    Returns:
        `(display, layout)` with `display.size <= max_values`, C-contiguous float16.
    """
    return _display(array, max_values)


def reduce_array(
    layer: str,
    array: np.ndarray,
    *,
    epoch: float,
    batch: int | None = None,
    bins: int = DEFAULT_BINS,
    max_values: int = DEFAULT_MAX_VALUES,
    bounds: Bounds | None = None,
) -> Snapshot:
    """Reduce one layer output to the `Snapshot` the front-end draws (reference path).

    Args:
        layer: Layer id.
        array: The layer output, batch first.
        epoch: Epoch label of the step.
        batch: Batch index inside the epoch. Defaults to `None` (an epoch end).
        bins: Histogram bins. Defaults to `64`.
        max_values: Most values of the display array. Defaults to `262_144`.
        bounds: Output range of the layer's activation, for `saturated_fraction`; see
            `compute_stats`. Defaults to `None` (not bounded).

    Returns:
        The `Snapshot`.
    """
    lo, hi, counts = histogram(array, bins)
    display, layout = display_array(array, max_values)
    return Snapshot(
        layer=layer,
        epoch=epoch,
        batch=batch,
        stats=compute_stats(array, bounds),
        hist_lo=lo,
        hist_hi=hi,
        counts=counts,
        display=display,
        layout=layout,
    )


# ------------------------------------------------------------------------------ two steps


def relative_change(display: np.ndarray, previous: np.ndarray) -> float | None:
    """How much a layer's display array changed since the previous step: `|d - p|_1 / |p|_1`.

    The sums run in float64 over the positions where both arrays are finite, in one compiled
    loop over their float16 bits (`kernels.l1_change`; an array of another dtype is rounded to
    float16 first, as a display array is). The display arrays
    (see `display_array`: the output as drawn, pooled to at most `max_values` values) stand for
    the output, so the cost stays small for every layer; a change of the whole output by a
    factor `k` gives `|k - 1|` (to float16 rounding), as it would on the full output.

    Args:
        display: The layer's display array at this step.
        previous: Its display array at the previous recorded step.

    Returns:
        The relative change, `>= 0`; `0.0` when both are all zeros; `None` when the shapes
        differ, when either is empty, when no position is finite in both (a layer that went to
        NaN or Inf did not stay the same), or when the previous step is all zeros and this one is
        not (an infinite change).
    """
    if display.shape != previous.shape or display.size == 0:
        return None
    kernels = _kernels()
    change, base, finite = kernels.l1_change(
        _float16_bits(display), _float16_bits(previous), kernels.FLOAT16_TABLE
    )
    if not finite:
        return None
    if base > 0:
        return change / base
    return 0.0 if change == 0 else None


def _float16_bits(a: np.ndarray) -> np.ndarray:
    """The bits of a display array (float16; another dtype is rounded to float16), flat."""
    return np.ascontiguousarray(a, dtype=np.float16).reshape(-1).view(np.uint16)


def set_relative_changes(
    snapshots: Mapping[str, Snapshot], previous: Mapping[str, Snapshot] | None
) -> None:
    """Set `stats["relative_change"]` of each snapshot against the previous step's.

    A recording session calls it with the snapshots of the step it recorded just before (it
    holds them until the next step, whatever a store keeps), so live, saved and recorded runs
    carry the same values. A layer that was not recorded at the previous step, or whose display
    array is missing there, gets `None`; so does every layer of the first step.

    Args:
        snapshots: This step's snapshots, by layer id; changed in place.
        previous: The previous step's snapshots, or `None` for the first step.
    """
    for lid, snap in snapshots.items():
        before = None if previous is None else previous.get(lid)
        snap.stats["relative_change"] = (
            None
            if before is None or before.display.size == 0
            else relative_change(snap.display, before.display)
        )


# ------------------------------------------------------------------------------ fast path

_PARALLEL_MIN_VALUES = 3 << 19
"""Values in a step (1.5 M) from which its layers are reduced on the thread pool. Below it one
thread is as fast: handing the layers to the pool costs about what the second thread saves
(ReLU outputs of the small CNN's shapes, 2 cores: 0.53 M values 1.21 ms on one thread, 1.23 ms
on two; 1.05 M values 1.86 and 2.07 ms; 2.10 M values 3.32 and 2.16 ms)."""
_POOL: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(
            max_workers=max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="kerasviz-reduce"
        )
    return _POOL


_EMPTY_STATS: dict[str, Any] = {**dict.fromkeys(STAT_KEYS), "zero_fraction": 0.0}
_EMPTY_STATS.update(nan_count=0, inf_count=0)
"""The statistics of a layer before its values are read (the statistics of an empty output)."""

RANGE_DTYPES = ("float32", "float16")
"""Output dtypes whose minimum and maximum the backend computes (`display.value_ranges`) and the
statistics here take as given (`_fast_stats_histogram`); any other dtype's range is taken here."""

_RANGE_CHARS = frozenset(np.dtype(d).char for d in RANGE_DTYPES)

_KERNEL_DTYPES = frozenset("?bBhHiIlLqQfd")
"""Dtype characters `kernels.stats_counts` reads as they are; numba has no float16, so a float16
output is converted to float32 first (exact)."""


def _fast_stats_histogram(
    array: np.ndarray,
    bins: int,
    bounds: Bounds | None = None,
    value_range: tuple[float, float] | None = None,
) -> tuple[dict[str, Any], float, float, np.ndarray]:
    """Statistics and histogram in one compiled read of the values, agreeing with the reference.

    One native pass gives `min` and `max` (and tells whether any value is not finite; if one is,
    the finite values are gathered first), unless the backend took them in the extractor's call
    (`value_range`, see `display.value_ranges`): a finite range of a float32 or float16 output
    says that every value is finite, and is used as it is, then checked by the kernel's own read:
    should a value lie outside it, an end at 0 be no value of the output (XLA on a CPU flushes
    subnormal values to 0 in its minimum and maximum), or the backend not have propagated a NaN
    into it (the kernel's float64 sum is not finite), the layer is reduced again from a range
    taken here; meanwhile the kernel sends a value outside the range to a bin of the table, never
    past it. Then the compiled kernel of `core/kernels.py` reads the finite values once more, in
    cache-sized chunks (`kernels.stats_counts`): the float64 sums behind `mean`, `mean_abs` and
    `std`, the zero count and the saturated count (compared in float64, only when the output
    reaches a threshold), and the histogram by the bin rule in the bin precision (the formula of
    `bin_index`, so the counts equal the reference's exactly).
    `dead_fraction` and `constant` see `_dead_fraction` and `_constant`.
    """
    a = np.asarray(array)
    shape = tuple(map(int, a.shape))
    flat = a.reshape(-1)
    size = flat.size
    stats: dict[str, Any] = {"shape": shape, **_EMPTY_STATS}
    counts = np.zeros(bins, dtype=np.uint32)
    if size == 0:
        return stats, 0.0, 1.0, counts
    ct = bin_precision(a.dtype)
    given = (
        value_range is not None
        and a.dtype.char in _RANGE_CHARS
        and math.isfinite(value_range[0])
        and math.isfinite(value_range[1])
    )
    if given:
        mn, mx = a.dtype.type(value_range[0]), a.dtype.type(value_range[1])
    else:
        mn, mx = np.minimum.reduce(flat), np.maximum.reduce(flat)
    finite = flat
    if a.dtype.kind == "f" and not (math.isfinite(mn) and math.isfinite(mx)):
        finite = flat[np.isfinite(flat)]
        nan_count = int(np.count_nonzero(np.isnan(flat)))
        stats["nan_count"] = nan_count
        stats["inf_count"] = int(size - finite.size - nan_count)
        if finite.size:
            mn, mx = finite.min(), finite.max()
    edges = saturation_edges(bounds)
    saturated = stats["inf_count"]  # infinities lie beyond a bound
    zeros = 0
    hist_lo, hist_hi = 0.0, 1.0
    if finite.size:
        n = finite.size
        stats["min"], stats["max"] = float(mn), float(mx)
        hist_lo, hist_hi = histogram_range(stats["min"], stats["max"])
        below = edges is not None and mn <= edges[0]
        above = edges is not None and mx >= edges[1]
        low, high = (float(edges[0]), float(edges[1])) if edges is not None else (0.0, 0.0)
        read = finite if finite.dtype.char in _KERNEL_DTYPES else finite.astype(np.float32)
        binned = read if read.dtype == ct else finite.astype(ct)
        lo, hi = ct(mn), ct(mx)
        k = lok = scale = ct(0)  # a constant array: counted below, not binned
        if lo < hi:
            k = bin_factor(lo, hi, bins)
            lok = lo * k
            scale = ct(bins) / (hi * k - lok)
        total, abs_total, zeros, more, outside, m2, binned_counts = _kernels().stats_counts(
            read, binned, k, lok, scale, bins, float(mn), float(mx), low, high, below, above
        )
        # A backend's minimum and maximum are values of the output, or subnormal ones flushed to
        # 0: the range is the output's when no value lies outside it, an end at 0 is a value
        # (a zero was counted), and the sum is finite (no NaN was left out).
        flushed = zeros == 0 and (mn == 0 or mx == 0)
        if given and (outside or flushed or not math.isfinite(total)):
            return _fast_stats_histogram(array, bins, bounds)
        saturated += int(more)
        stats["mean"] = total / n
        stats["std"] = math.sqrt(max(m2, 0.0) / n)
        stats["mean_abs"] = abs_total / n
        if lo < hi:
            counts[:] = binned_counts
        else:
            counts[bins // 2] = n
    stats["zero_fraction"] = float(zeros / size)
    stats["dead_fraction"] = _dead_fraction(a, zeros)
    stats["constant"] = _constant(a)
    if edges is not None:
        stats["saturated_fraction"] = float(saturated / size)
    return stats, hist_lo, hist_hi, counts


def _kernels() -> Any:
    """`core/kernels.py`, imported on first use: numba loads with the first recording, not with
    the package."""
    global _KERNELS
    if _KERNELS is None:
        from . import kernels

        _KERNELS = kernels
    return _KERNELS


_KERNELS: Any = None
_BIT_RULES: dict[np.dtype, tuple[np.dtype, Any, Any]] = {}


def _bit_rule(dtype: np.dtype) -> tuple[np.dtype, Any, Any]:
    """How the compiled scans tell 0 and NaN from a value's bits (numba has no float16).

    Returns:
        `(unsigned dtype of the same width, mask, infinity)`: a float is 0 when its bits without
        the sign bit (`bits & mask`) are 0, and NaN when they are above `infinity`, its infinity's
        bits; an integer or a boolean has a mask of all ones and never holds NaN (`infinity` is
        its largest value).
    """
    rule = _BIT_RULES.get(dtype)
    if rule is None:
        unsigned = np.dtype(f"u{dtype.itemsize}")
        ones = (1 << (8 * dtype.itemsize)) - 1
        if dtype.kind == "f":
            mask = ones >> 1
            infinity = int(np.array(np.inf, dtype).view(unsigned))
        else:
            mask = infinity = ones
        rule = _BIT_RULES[dtype] = (unsigned, unsigned.type(mask), unsigned.type(infinity))
    return rule


def _dead_fraction(a: np.ndarray, zeros: int) -> float | None:
    """`dead_fraction` (see `compute_stats`) of a C-contiguous array with `zeros` zero values.

    Fewer zeros than rows leave no dead unit. Otherwise `kernels.dead_units` reads the rows, by
    their bits (`_bit_rule`), until every unit has shown a value that is not 0 (NaN and
    infinities are not 0), which in a live layer is the first rows; a layer with a dead unit is
    read to its end, in a SIMD loop.
    """
    if a.ndim < 2 or a.size == 0:
        return None
    dim = a.shape[-1]
    rows = a.size // dim
    if zeros < rows:
        return 0.0
    unsigned, mask, _ = _bit_rule(a.dtype)
    return float(_kernels().dead_units(a.reshape(rows, dim).view(unsigned), mask) / dim)


def _constant(a: np.ndarray) -> float | None:
    """`constant` (see `compute_stats`) of a C-contiguous array: `kernels.same_samples` compares
    each sample with the first by their bits (`_bit_rule`), stopping at the first difference."""
    if a.ndim == 0 or a.shape[0] < 2 or a.size == 0:
        return None
    unsigned, mask, infinity = _bit_rule(a.dtype)
    same = _kernels().same_samples(a.reshape(a.shape[0], -1).view(unsigned), mask, infinity)
    return 1.0 if same else 0.0


def _reduce_one(
    layer: str,
    array: np.ndarray,
    epoch: float,
    batch: int | None,
    bins: int,
    max_values: int,
    bounds: Bounds | None = None,
    display: np.ndarray | None = None,
    value_range: tuple[float, float] | None = None,
) -> Snapshot:
    a = np.asarray(array)
    if a.dtype.kind not in "fiub" or a.dtype.itemsize > 8:
        return reduce_array(
            layer, a, epoch=epoch, batch=batch, bins=bins, max_values=max_values, bounds=bounds
        )
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    stats, lo, hi, counts = _fast_stats_histogram(a, bins, bounds, value_range)
    largest = 0.0 if stats["min"] is None else max(abs(stats["min"]), abs(stats["max"]))
    if display is not None and largest <= FLOAT16_MAX:  # see core/display.py
        layout = layout_of(a.shape)
    else:
        needs_clip = stats["inf_count"] > 0 or largest > FLOAT16_MAX
        display, layout = _display(a, max_values, needs_clip=needs_clip)
    return Snapshot(
        layer=layer,
        epoch=epoch,
        batch=batch,
        stats=stats,
        hist_lo=lo,
        hist_hi=hi,
        counts=counts,
        display=display,
        layout=layout,
    )


def reduce_many(
    arrays: Mapping[str, np.ndarray],
    *,
    epoch: float,
    batch: int | None = None,
    bins: int = DEFAULT_BINS,
    max_values: int = DEFAULT_MAX_VALUES,
    bounds: Mapping[str, Bounds | None] | None = None,
    displays: Mapping[str, np.ndarray] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Snapshot]:
    """Reduce the outputs of every layer of one step, fast; the path of every recording.

    Each layer is reduced in cache-sized chunks (see `_fast_stats_histogram`; the dead-unit check
    only when a layer has at least as many zeros as rows, and the constant check stops at the
    first sample that differs), and from `_PARALLEL_MIN_VALUES` values a step the layers are
    reduced in parallel on a thread pool (NumPy releases the GIL in its loops). The results
    agree with `reduce_array`: the same histogram counts, statistics to float64 rounding, and
    the same display array (one from the backend within one float16 step, see `core/display.py`).

    Args:
        arrays: Layer id to layer output, batch first.
        epoch: Epoch label of the step.
        batch: Batch index inside the epoch. Defaults to `None` (an epoch end).
        bins: Histogram bins. Defaults to `64`.
        max_values: Most values of each display array. Defaults to `262_144`.
        bounds: Layer id to the output range of its activation (the catalog's `bounds`), for
            `saturated_fraction`; a layer not in it is not bounded. Defaults to `None` (none is).
        displays: Layer id to its display array as the backend computed it
            (`Extractor.with_displays`, `core.display`), used instead of pooling here unless the
            layer holds a finite value beyond float16's range. Defaults to `None` (every display
            pooled here).
        ranges: Layer id to `(min, max)` of its output as the backend computed it
            (`Extractor.with_displays`, `display.value_ranges`), used instead of a pass here
            where it is finite. Defaults to `None` (every range taken here).

    Returns:
        Layer id to `Snapshot`, in the order of `arrays`.
    """
    bounds = bounds or {}
    displays = displays or {}
    ranges = ranges or {}
    items = list(arrays.items())

    def one(i: int) -> Snapshot:
        lid, a = items[i]
        return _reduce_one(
            lid,
            a,
            epoch,
            batch,
            bins,
            max_values,
            bounds.get(lid),
            displays.get(lid),
            ranges.get(lid),
        )

    total = sum(int(np.size(a)) for _, a in items)
    if len(items) < 2 or total < _PARALLEL_MIN_VALUES:
        return {items[i][0]: one(i) for i in range(len(items))}
    # Largest first, so the pool ends evenly.
    order = sorted(range(len(items)), key=lambda i: -int(np.size(items[i][1])))
    futures = {i: _executor().submit(one, i) for i in order}
    return {items[i][0]: futures[i].result() for i in range(len(items))}


# ------------------------------------------------------------------------------ first view


def default_channel(display: np.ndarray, layout: str) -> int:
    """The channel a new view shows of a 4-D or 5-D display array: the one with the largest std.

    Under the default colour range (the layer over every step), a channel that barely varies
    draws as one flat colour, and channel 0 of a convolution is often such a channel. The channel
    whose values spread most (the standard deviation over every sample and position of the
    display array, NaN and infinities left out, in float64: `kernels.widest_channel`, one
    compiled loop over its float16 bits) shows the layer's structure. A front-end uses it
    until the user picks a channel; the viewer takes it from the latest step, so it does not
    change while the user scrubs back.

    Args:
        display: A display array (as in a `Snapshot`).
        layout: Its layout; only `NHWC` and `NDHWC` have channels.

    Returns:
        The channel index; `0` for layouts without channels, or when no channel has a finite
        spread.
    """
    if layout not in ("NHWC", "NDHWC") or display.size == 0:
        return 0
    kernels = _kernels()
    return int(
        kernels.widest_channel(_float16_bits(display), display.shape[-1], kernels.FLOAT16_TABLE)
    )
