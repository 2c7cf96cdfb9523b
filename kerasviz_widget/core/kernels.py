"""Compiled kernels of the recording path (numba).

`reduce_many` reduces every layer output of every step. In NumPy each statistic is a pass of its
own over the values, with a temporary array per pass; `stats_counts` reads the values once, in
cache-sized chunks, and takes every sum and count of a chunk while it is in cache. It releases the
GIL, so `reduce_many`'s threads run it side by side.

- The sums behind `mean`, `mean_abs` and `std` (squared deviations about each chunk's mean, merged
  by Chan's rule, so `std` never cancels), the zero count and the saturated count are taken in
  float64 by functions compiled with the `reassoc` flag (the compiler may reorder a sum across
  SIMD lanes, which changes it only by float64 rounding); NaN and infinities keep their meaning
  (no `nnan`/`ninf` flag).
- The histogram follows the bin rule of `core/reduce.py` and is compiled with no fast-math flag:
  every operation of `min(bins - 1, floor((x*k - lo*k) * s))` is rounded as written, in the bin
  precision, so the counts equal the NumPy reference's exactly. The bin indices are unsigned
  (numba tests a signed index for wrap-around at every increment) and counted into `TABLES`
  tables side by side: 0.43 ns per value instead of 0.71 with four signed-index tables.
- `l1_change` and `widest_channel` read a display array's float16 bits (numba has no float16)
  through `FLOAT16_TABLE`, for `reduce.relative_change` and `reduce.default_channel`.
- `dead_units` counts the units that are 0 everywhere, for `dead_fraction` (an OR of each
  unit's bits, a SIMD loop over whole rows, counted every `DEAD_ROWS` rows), and `same_samples`
  tells whether every probe sample's output equals the first's, for `constant`; both read the
  output's bits (any dtype alike) and stop as soon as the answer is known.

Each kernel is compiled for a dtype the first time it meets one (about a second) and cached on
disk beside this module, or in numba's user-wide cache folder when the package folder is
read-only; with no writable folder at all, it is compiled in every process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

CHUNK = 1 << 14
"""Values per chunk: 64 KB of float32, which stays in cache while the chunk's sums, deviations and
bin indices are taken (4 K to 64 K values measured alike)."""

TABLES = 8
"""Histogram tables `stats_counts` counts into, one per position mod 8 (the loop is unrolled by
hand for 8)."""

_SUMS = frozenset({"reassoc", "nsz", "contract"})


def _jit(**flags: Any) -> Callable[[Callable[..., Any]], Any]:
    """`numba.njit` without the GIL, cached on disk where a cache folder is writable."""

    def compile_(function: Callable[..., Any]) -> Any:
        try:
            return numba.njit(nogil=True, cache=True, **flags)(function)
        except RuntimeError:  # numba found no writable cache folder: compile in every process
            return numba.njit(nogil=True, cache=False, **flags)(function)

    return compile_


@_jit(fastmath=set(_SUMS))
def _sums(
    x: np.ndarray, lo: float, hi: float
) -> tuple[float, float, int, int]:  # pragma: no cover - compiled
    """Sum, sum of |x|, zero count of a chunk, in float64, and the count of values outside
    `[lo, hi]` (the range the values were said to lie in)."""
    s = 0.0
    sa = 0.0
    z = 0
    out = 0
    for i in range(x.size):
        w = np.float64(x[i])
        s += w
        sa += abs(w)
        z += w == 0.0
        out += (w < lo) | (w > hi)
    return s, sa, z, out


@_jit(fastmath=set(_SUMS))
def _sums_saturated(
    x: np.ndarray, lo: float, hi: float, low: float, high: float
) -> tuple[float, float, int, int, int]:  # pragma: no cover - compiled
    """`_sums` and, in the same loop, the saturated count of a chunk: values `<= low` or
    `>= high`, compared in float64 (`-inf` and `inf` count nothing: the values are finite)."""
    s = 0.0
    sa = 0.0
    z = 0
    out = 0
    n = 0
    for i in range(x.size):
        w = np.float64(x[i])
        s += w
        sa += abs(w)
        z += w == 0.0
        out += (w < lo) | (w > hi)
        n += (w <= low) | (w >= high)
    return s, sa, z, out, n


@_jit(fastmath=set(_SUMS))
def _squared_deviations(x: np.ndarray, mean: float) -> float:  # pragma: no cover - compiled
    """Sum of squared deviations of a chunk from `mean`, in float64."""
    q = 0.0
    for i in range(x.size):
        d = np.float64(x[i]) - mean
        q += d * d
    return q


@_jit()
def stats_counts(
    x: np.ndarray,
    binned: np.ndarray,
    k: Any,
    lok: Any,
    scale: Any,
    bins: int,
    range_lo: float,
    range_hi: float,
    low: float,
    high: float,
    below: bool,
    above: bool,
) -> tuple[float, float, int, int, int, float, np.ndarray]:  # pragma: no cover - compiled
    """The sums and the histogram counts of a layer's finite values, in one read of them.

    Each chunk is read from memory once; its sums, its squared deviations and its bin indices
    are then taken while it is in cache.

    Args:
        x: The finite values, 1-D and contiguous, in any real dtype numba knows.
        binned: The same values in the bin precision (float32 or float64); may be `x` itself.
        k: The bin rule's `k`, in the bin precision.
        lok: `lo * k`, in the bin precision.
        scale: `bins / (hi*k - lo*k)`, in the bin precision; `0` for a constant array, whose
            counts are not taken here.
        bins: Number of bins.
        range_lo: The minimum the bins were laid out from, in float64.
        range_hi: The maximum, in float64; values outside `[range_lo, range_hi]` are counted
            (a range taken by a backend is checked this way: `reduce._fast_stats_histogram`).
        low: Values `<= low` are saturated when `below`.
        high: Values `>= high` are saturated when `above`.
        below: Whether to count values at or below `low`.
        above: Whether to count values at or above `high`.

    Returns:
        `(sum, sum of |x|, zero count, saturated count, count outside the range, sum of squared
        deviations from the mean, counts)`: the sums in float64 (each chunk's squared deviations
        taken about its own mean and merged by Chan's rule, so `std` never cancels), the `bins`
        counts in int64 (all zero when `scale` is 0).
    """
    n = x.size
    zero = scale - scale  # 0 and bins - 1 in the bin precision
    last = zero + np.float32(bins - 1)
    # Unsigned indices: numba adds no wrap-around test for a negative index to each increment.
    index = np.empty(min(n, CHUNK), np.uint32)
    # TABLES tables, one per position mod TABLES, side by side in one array: runs of equal bins
    # (a ReLU's zeros) do not wait on one counter's previous increment.
    tables = np.zeros(TABLES * bins, np.int64)
    offsets = np.arange(TABLES).astype(np.uint32) * np.uint32(bins)
    o1, o2, o3 = offsets[1], offsets[2], offsets[3]
    o4, o5, o6, o7 = offsets[4], offsets[5], offsets[6], offsets[7]
    count = scale != 0
    saturating = below or above
    low = low if below else -np.inf
    high = high if above else np.inf
    total = 0.0
    abs_total = 0.0
    zeros = 0
    outside = 0
    saturated = 0
    mean = 0.0
    m2 = 0.0
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        m = stop - start
        chunk = x[start:stop]
        if saturating:
            s, sa, z, out, more = _sums_saturated(chunk, range_lo, range_hi, low, high)
        else:
            s, sa, z, out = _sums(chunk, range_lo, range_hi)
            more = 0
        part_mean = s / m
        q = _squared_deviations(chunk, part_mean)
        delta = part_mean - mean
        mean += delta * m / stop
        m2 += q + delta * delta * start * m / stop
        total += s
        abs_total += sa
        zeros += z
        outside += out
        saturated += more
        if not count:
            continue
        # The bin rule, every operation rounded as written (no fast-math flag on this function);
        # t = (x*k - lo*k) * s >= 0, so truncation is floor. A value outside the range (only
        # if the range given was wrong, e.g. a subnormal value a backend flushed to 0) goes
        # to the first or last bin, never past the table; `outside` tells the caller.
        values = binned[start:stop]
        for i in range(m):
            t = (values[i] * k - lok) * scale
            t = t if t > zero else zero  # NaN too
            index[i] = np.uint32(np.int32(t if t < last else last))
        whole = m - m % TABLES
        for i in range(0, whole, TABLES):
            tables[index[i]] += 1
            tables[index[i + 1] + o1] += 1
            tables[index[i + 2] + o2] += 1
            tables[index[i + 3] + o3] += 1
            tables[index[i + 4] + o4] += 1
            tables[index[i + 5] + o5] += 1
            tables[index[i + 6] + o6] += 1
            tables[index[i + 7] + o7] += 1
        for i in range(whole, m):
            tables[index[i]] += 1
    counts = tables.reshape(TABLES, bins).sum(axis=0)
    return total, abs_total, zeros, saturated, outside, m2, counts


# ----------------------------------------------------------------- display arrays (float16)

FLOAT16_TABLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
"""The value of every float16 bit pattern, as float32 (exact): numba has no float16, so the
display kernels read a display array's bits and look its values up here."""


@_jit(fastmath=set(_SUMS))
def l1_change(
    bits: np.ndarray, previous_bits: np.ndarray, table: np.ndarray
) -> tuple[float, float, int]:  # pragma: no cover - compiled; tested through reduce.relative_change
    """`(sum |d - p|, sum |p|, n)` in float64 over the `n` positions where both float16 arrays
    (given by their bits, flat, of one size) are finite."""
    change = 0.0
    base = 0.0
    n = 0
    for i in range(bits.size):
        d = np.float64(table[bits[i]])
        p = np.float64(table[previous_bits[i]])
        if np.isfinite(d) and np.isfinite(p):
            change += abs(d - p)
            base += abs(p)
            n += 1
    return change, base, n


@_jit()
def widest_channel(
    bits: np.ndarray, channels: int, table: np.ndarray
) -> int:  # pragma: no cover - compiled; tested through reduce.default_channel
    """The channel (last axis) of a float16 array, given by its bits in C order, whose finite
    values have the largest variance; 0 when none is above 0.

    One pass of float64 sums of the values and of their squares: a float16 value has 11
    significant bits, so its square is exact in float64, and the sums round at float64's 53
    bits, far below the spread of any channel that differs from another by a float16 step
    (`E[x^2] - E[x]^2`; a constant channel gives exactly 0).
    """
    rows = bits.size // channels
    count = np.zeros(channels, np.int64)
    total = np.zeros(channels)
    squares = np.zeros(channels)
    for r in range(rows):
        row = r * channels
        for c in range(channels):
            b = bits[row + c]
            if (b & 0x7C00) != 0x7C00:  # finite: the exponent bits are not all ones
                v = np.float64(table[b])
                count[c] += 1
                total[c] += v
                squares[c] += v * v
    best = 0
    widest = 0.0
    for c in range(channels):
        if count[c] > 0:
            mean = total[c] / count[c]
            variance = squares[c] / count[c] - mean * mean
            if variance > widest:
                widest = variance
                best = c
    return best


# ----------------------------------------------------------------- dead units


DEAD_ROWS = 16
"""Rows `dead_units` reads between two counts of the units still without a value that is not 0."""


@_jit()
def dead_units(bits: np.ndarray, mask: Any) -> int:  # pragma: no cover - compiled; tested
    """How many columns of a C-contiguous `(rows, units)` array, given by its bits as unsigned
    integers, hold only zeros: a value is 0 when `bits & mask` is 0 (`mask` leaves out a float's
    sign bit, so `-0.0` is a zero; NaN and infinities are not).

    The bits of each column are OR-ed together (a SIMD loop over whole rows): a column holds only
    zeros when its OR has no bit of `mask`. Every `DEAD_ROWS` rows the columns left are counted,
    and the scan stops when none is: in a live layer that is after the first rows. A layer with
    a dead unit is read to its end, at the speed of memory.
    """
    rows, units = bits.shape
    seen = np.zeros(units, bits.dtype)
    left = units
    for start in range(0, rows, DEAD_ROWS):
        for r in range(start, min(rows, start + DEAD_ROWS)):
            for u in range(units):
                seen[u] |= bits[r, u]
        left = 0
        for u in range(units):
            left += (seen[u] & mask) == 0
        if left == 0:
            break
    return left


@_jit()
def same_samples(bits: np.ndarray, mask: Any, infinity: Any) -> bool:  # pragma: no cover - tested
    """Whether every row of a C-contiguous `(samples, values)` array, given by its bits as
    unsigned integers, equals the first row value by value: equal bits, or both zero
    (`bits & mask == 0`: `-0.0` equals `0.0`), or both NaN (`bits & mask > infinity`, the bits of
    the dtype's infinity; NaN equals NaN at the same position). An integer or boolean array passes
    a `mask` of all ones and the largest value as `infinity`. Stops at the first difference."""
    samples, values = bits.shape
    for s in range(1, samples):
        for i in range(values):
            b = bits[s, i]
            f = bits[0, i]
            if b == f:
                continue
            mb = b & mask
            mf = f & mask
            if (mb == 0 and mf == 0) or (mb > infinity and mf > infinity):
                continue
            return False
    return True
