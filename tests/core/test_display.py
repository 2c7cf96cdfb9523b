"""Display arrays on the backend (`core.display`, `Extractor.with_displays`) against the NumPy
reference (`reduce.display_array`), on whichever backend runs the suite.

Hypothesis settings: `max_examples=60`, `deadline=None` (each example runs eagerly on the backend).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kerasviz_widget.core.display import display_tensor, value_ranges
from kerasviz_widget.core.extract import Extractor
from kerasviz_widget.core.extract import _to_numpy as to_numpy
from kerasviz_widget.core.reduce import (
    FLOAT16_MAX,
    RANGE_DTYPES,
    arranged_shape,
    display_array,
    pool_factors,
    reduce_array,
    reduce_many,
)

PROPERTY = settings(max_examples=60, deadline=None)
WIDE = keras.backend.backend() != "jax"  # JAX (without x64) holds no float64 tensor
DTYPES = [np.float32, np.float16, np.int32, np.bool_] + ([np.float64] if WIDE else [])
SPECIAL = st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30, -1e-40, 7e4, -1e5, 1.0])


@st.composite
def outputs(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=6, min_side=1, max_side=7))
    if dtype == np.bool_:
        a = draw(hnp.arrays(np.bool_, shape))
    elif np.dtype(dtype).kind == "i":
        a = draw(hnp.arrays(np.int32, shape, elements=st.integers(-70_000, 70_000)))
    else:
        elements = st.one_of(
            (
                st.floats(-6e4, 6e4, width=16)
                if dtype == np.float16
                else st.floats(-1e6, 1e6, width=32)
            ),
            SPECIAL,
        )
        with np.errstate(over="ignore"):
            a = draw(hnp.arrays(np.float64, shape, elements=elements)).astype(dtype)
    max_values = draw(st.sampled_from([1, 2, 5, 16, 50, 10**6]))
    return a, max_values


def assert_display_close(got: np.ndarray, want: np.ndarray, a: np.ndarray, max_values: int):
    """Equal where not pooled; pooled: within one float16 step of the reference, plus the
    float32 rounding of a block's sum where its values cancel (docs/contract.md)."""
    assert got.dtype == np.float16 and got.shape == want.shape
    g, w = got.astype(np.float64), want.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
    np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w))
    np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w))
    finite = np.isfinite(w)
    shape, layout = arranged_shape(a.shape)
    block = math.prod(pool_factors(shape, layout, max_values))
    if block == 1:
        np.testing.assert_array_equal(g[finite], w[finite])
        return
    x = a.astype(np.float64)
    largest = float(np.abs(x[np.isfinite(x)]).max()) if np.isfinite(x).any() else 0.0
    # One float16 step at each reference value (2**-24 below float16's normal range).
    step = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(w[finite]), 2.0**-14))) - 10)
    tol = step + block * 2.0**-23 * largest
    assert np.all(np.abs(g[finite] - w[finite]) <= tol), np.abs(g[finite] - w[finite]).max()


@PROPERTY
@given(outputs())
def test_backend_display_agrees_with_the_reference(case):
    a, max_values = case
    got = to_numpy(display_tensor(keras.ops.convert_to_tensor(a), max_values))
    want, _ = display_array(a, max_values)
    x = a.astype(np.float64)
    if np.any(np.abs(x[np.isfinite(x)]) > FLOAT16_MAX):  # shown by the reference instead
        snap = reduce_many({"a": a, "b": a}, epoch=0, max_values=max_values, displays={"a": got})
        got = snap["a"].display
    assert_display_close(got, want, a, max_values)


SMALLEST_NORMAL = np.finfo(np.float32).smallest_normal


@PROPERTY
@given(outputs())
@example((np.array([-1e-40, -1e-40], np.float32), 1))  # XLA on a CPU: [-0.0, -0.0]
@example((np.array([-1e-40, 0.0, 2.0], np.float32), 1))  # XLA on a CPU: [0.0, 2.0]
@example((np.array([-3.0, 1e-40], np.float32), 1))  # XLA on a CPU: [-3.0, 0.0]
def test_a_backend_range_is_exact_or_checked_and_taken_again(case):
    a, _ = case
    (got,) = to_numpy(value_ranges([keras.ops.convert_to_tensor(a)])).tolist()
    x = a.astype(np.float64)
    if a.dtype.name not in RANGE_DTYPES:
        assert np.isnan(got).all()  # the host takes it
    elif not np.isnan(x).any():  # with NaN, XLA on a CPU gives NaN or leaves them out: checked
        want_range = [x.min(), x.max()]
        for end, want in zip(got, want_range, strict=True):  # exact, or a subnormal flushed
            assert end == want or (end == 0 and abs(want) < SMALLEST_NORMAL), (got, want)
    ref = reduce_array("a", a, epoch=0)
    finite = x[np.isfinite(x)]
    # As a backend that left NaN and infinities out of its range would give it: the kernel's
    # float64 sum is not finite, and the layer is reduced from a range taken on the host. As
    # one that flushed subnormal values to 0: the kernel counts a value outside the range.
    given_ranges = [got]
    if finite.size:
        flushed = np.where(np.abs(finite) < SMALLEST_NORMAL, 0.0, finite)
        given_ranges += [[finite.min(), finite.max()], [flushed.min(), flushed.max()]]
    for given_range in given_ranges:
        snap = reduce_many({"a": a}, epoch=0, ranges={"a": tuple(given_range)})["a"]
        np.testing.assert_array_equal(snap.counts, ref.counts)
        assert (snap.hist_lo, snap.hist_hi) == (ref.hist_lo, ref.hist_hi)
        for key in ("min", "max", "nan_count", "inf_count", "zero_fraction"):
            assert snap.stats[key] == ref.stats[key], key


def test_pooling_a_constant_gives_the_constant():
    a = np.full((2, 9, 9, 3), 0.1, dtype=np.float32)
    got = to_numpy(display_tensor(keras.ops.convert_to_tensor(a), 50))
    assert got.size <= 50
    np.testing.assert_array_equal(got, np.float16(0.1))


@pytest.mark.parametrize("value", [1e5, 3e38])
def test_a_display_of_values_beyond_float16_is_the_references_clipped_one(value):
    a = np.full((1, 8, 8, 1), value, dtype=np.float32)
    if value > 1e38:
        a[0, ::2, ::2, 0] = -value  # each 2x2 block's float32 sum overflows, its mean does not
    a[0, 0, 1, 0] = np.inf
    raw = to_numpy(display_tensor(keras.ops.convert_to_tensor(a), 16))
    assert np.isinf(raw).sum() > 1  # the backend's unclipped cast: not what is shown
    snap = reduce_many({"a": a, "b": a}, epoch=0, max_values=16, displays={"a": raw})["a"]
    np.testing.assert_array_equal(snap.display, display_array(a, 16)[0])
    shown = snap.display[np.isfinite(snap.display)]
    assert np.isinf(snap.display).sum() == 1 and np.abs(shown).max() == FLOAT16_MAX


def small_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="dense")(x))


def test_extractor_returns_outputs_and_their_displays_from_one_call():
    model = small_cnn()
    probe = np.random.default_rng(0).random((5, 12, 12, 3), dtype=np.float32)
    extractor = Extractor(model)
    outputs, displays, ranges = extractor.with_displays(probe, 64)
    plain = extractor(probe)
    assert list(outputs) == list(displays) == list(ranges) == extractor.ids
    for lid in extractor.ids:
        np.testing.assert_array_equal(outputs[lid], plain[lid])
        assert ranges[lid] == (plain[lid].min(), plain[lid].max())
        want, _ = display_array(outputs[lid], 64)
        assert displays[lid].size <= 64
        assert_display_close(displays[lid], want, outputs[lid], 64)
    again, _, _ = extractor.with_displays(probe, 64)
    np.testing.assert_array_equal(again["conv"], outputs["conv"])
    assert extractor.trace_count <= 3  # the plain function and one with displays, never per call


@pytest.mark.parametrize("max_values", [64, 10**6])
def test_snapshots_with_backend_displays_equal_the_reference_snapshot(max_values):
    model = small_cnn()
    probe = np.random.default_rng(1).random((3, 12, 12, 3), dtype=np.float32)
    outputs, displays, ranges = Extractor(model).with_displays(probe, max_values)
    snaps = reduce_many(outputs, epoch=0, max_values=max_values, displays=displays, ranges=ranges)
    for lid, a in outputs.items():
        ref = reduce_array(lid, a, epoch=0, max_values=max_values)
        np.testing.assert_array_equal(snaps[lid].counts, ref.counts)
        assert snaps[lid].layout == ref.layout
        assert_display_close(snaps[lid].display, ref.display, a, max_values)
