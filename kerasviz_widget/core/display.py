"""Display arrays and value ranges computed by the backend, inside the extractor's compiled
function.

The display array of a layer output (`reduce.display_array` is the reference: arranged by rank,
block-mean pooled to at most `max_values` values, cast to float16 with finite values clipped to
float16's range) is written here once more in `keras.ops`, so the extractor's compiled function
(`Extractor.with_displays`) returns it beside the outputs: pooling and the float16 cast run
where the tensor lives, fused with the forward pass, and only `max_values` float16 values per
layer come back for drawing. On a CPU this is also the fast way: NumPy's own float32 -> float16
cast costs about 3 ns per value, and up to 80 ns per value for outputs of tiny magnitude (each
underflow raises a floating-point flag), where the backends' cast costs 0.3-0.5 ns.

Agreement with the reference (held by `tests/core/test_display.py` on every backend):

- Not pooled: the same float16 values (one rounding of the same number; a backend that flushes
  subnormal float32 values to zero gives zero where the reference gives zero too, as float16
  cannot hold them).
- Pooled: block sums in the bin precision (float32, float64 for float64 outputs; the reference
  sums in float64), divided by the block's size: within one float16 step of the reference, plus
  `block * 2**-23 * max|x|` where a block's values cancel.
- The float16 cast does not clip (each operation is a pass over the output on TensorFlow's
  graph executor), so the display of an output with a finite value beyond float16's range
  (`max|x| > 65504`, known exactly from the statistics) is not used: `reduce.reduce_many`
  computes that layer's display with the reference instead. Below that bound no block sum can
  overflow either.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from .reduce import RANGE_DTYPES, arranged_shape, block_sizes, pool_factors, pooled_axes


def _pool_axis(x: Any, axis: int, f: int) -> Any:
    """Block sums of `f` neighbours along `axis` (a ragged last block sums what it has)."""
    shape = tuple(int(d) for d in x.shape)
    before, n, after = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
    q, r = divmod(n, f)
    flat = ops.reshape(x, (before, n, after))
    parts = []
    if q:
        head = flat[:, : q * f] if r else flat
        parts.append(ops.sum(ops.reshape(head, (before * q, f, after)), axis=1))
        parts[-1] = ops.reshape(parts[-1], (before, q, after))
    if r:
        parts.append(ops.sum(flat[:, q * f :], axis=1, keepdims=True))
    out = ops.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    return ops.reshape(out, (*shape[:axis], q + (1 if r else 0), *shape[axis + 1 :]))


def display_tensor(x: Any, max_values: int) -> Any:
    """The display array of one layer output, in `keras.ops` (static shapes only).

    Args:
        x: A layer output tensor, batch first, of a real, integer or bool dtype.
        max_values: Most values of the display array.

    Returns:
        The float16 display tensor, arranged and pooled as `reduce.display_array` does, cast
        without clipping: a finite value beyond float16's range becomes an infinity here, so the
        display of an output with such values is not used (see the module docstring).
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    ct = "float64" if dtype == "float64" else "float32"
    arranged, layout = arranged_shape(x.shape)
    a = ops.reshape(x, arranged)
    factors = pool_factors(arranged, layout, max_values)
    axes = pooled_axes(factors)
    if dtype == "float16" and not axes:
        return a
    a = ops.cast(a, ct)
    for axis in axes:  # in the reference's order
        a = _pool_axis(a, axis, factors[axis])
    if axes:
        sizes = block_sizes(arranged, factors)
        if np.all(sizes == sizes.flat[0]):
            a = a / ops.cast(float(sizes.flat[0]), ct)
        else:
            a = a / ops.convert_to_tensor(sizes.astype(ct))
    return ops.cast(a, "float16")


def value_ranges(tensors: list[Any]) -> Any:
    """The minimum and maximum of each tensor, as one `(L, 2)` float32 tensor.

    Computed inside the extractor's compiled function, right after each output is produced, so
    the host's statistics (`reduce.reduce_many`) skip their own pass for the range. A minimum is
    one of the values and float16 widens to float32 exactly, but XLA on a CPU flushes subnormal
    values to 0 (an output holding only `-1e-40` gets `[-0.0, -0.0]`), so the host checks the
    range in its own read of the values and takes it again when it is wrong; taking the range
    over the values' bits as ordered integers instead (exact everywhere) cost TensorFlow 57 ms a
    MobileNetV2 snapshot instead of 10. A tensor of another dtype (`reduce.RANGE_DTYPES`), or an
    empty one, gets a NaN row: the host takes its range itself. A non-finite row tells the host that
    the output holds NaN or infinities, which it then counts; but XLA on a CPU leaves NaN out of
    a long output's minimum and maximum (5,000 NaN give `[inf, -inf]`, one NaN among finite
    values gives their range), so the host also checks a finite row (a NaN makes its float64 sum
    non-finite) and then takes the range itself.

    Args:
        tensors: Layer output tensors, batch first.

    Returns:
        A float32 tensor of shape `(len(tensors), 2)`: `[min, max]` per tensor.
    """
    rows = []
    for x in tensors:
        dtype = keras.backend.standardize_dtype(x.dtype)
        if dtype in RANGE_DTYPES and all(int(d) > 0 for d in x.shape):
            rows.append(
                ops.stack([ops.cast(ops.min(x), "float32"), ops.cast(ops.max(x), "float32")])
            )
        else:
            rows.append(ops.convert_to_tensor(np.full(2, np.nan, np.float32)))
    return ops.stack(rows) if rows else ops.zeros((0, 2), "float32")
