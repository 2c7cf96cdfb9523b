"""Reductions: exact statistics, histograms and display arrays (property-based where it matters).

Hypothesis settings: every property test runs `max_examples=60` (the fast-path agreement test 40)
with `deadline=None`; the file takes a few seconds.
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kerasviz_widget.core.reduce import (
    FLOAT16_MAX,
    LAYOUTS,
    bin_index,
    compute_stats,
    default_channel,
    display_array,
    histogram,
    pool_factors,
    reduce_array,
    reduce_many,
)

PROPERTY = settings(max_examples=60, deadline=None)

# Float elements that include NaN, both infinities, subnormals, zeros and float32's extremes.
ELEMENTS = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
SPECIAL = st.sampled_from(
    [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-40, 3.4e38, -3.4e38, 65504.0, 7e4, 1.0]
)
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, ml_dtypes.bfloat16])
INT_DTYPES = st.sampled_from([np.int8, np.uint8, np.int32, np.int64, np.bool_])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6)


@st.composite
def float_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(DTYPES)
    shape = draw(SHAPES)
    kind = draw(st.sampled_from(["random", "special", "constant"]))
    if kind == "constant":
        value = draw(st.one_of(ELEMENTS, SPECIAL))
        with np.errstate(over="ignore"):
            return np.full(shape, value, dtype=dtype)
    elements = ELEMENTS if kind == "random" else st.one_of(ELEMENTS, SPECIAL)
    with np.errstate(over="ignore"):
        values = draw(hnp.arrays(np.float32, shape, elements=elements))
        return values.astype(dtype)


@st.composite
def int_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(INT_DTYPES))
    shape = draw(SHAPES)
    if dtype == np.bool_:
        return draw(hnp.arrays(dtype, shape))
    info = np.iinfo(dtype)
    return draw(hnp.arrays(dtype, shape, elements=st.integers(int(info.min), int(info.max))))


def numpy_stats(a: np.ndarray) -> dict:
    """What NumPy itself says, through its NaN-aware functions (infinities masked as NaN)."""
    x = a.astype(np.float64)
    masked = np.where(np.isfinite(x), x, np.nan)
    finite = int(np.isfinite(x).sum())
    with np.errstate(all="ignore"):
        return {
            "shape": a.shape,
            "min": float(np.nanmin(masked)) if finite else None,
            "max": float(np.nanmax(masked)) if finite else None,
            "mean": float(np.nanmean(masked)) if finite else None,
            "std": float(np.nanstd(masked)) if finite else None,
            "zero_fraction": float(np.mean(x == 0)) if x.size else 0.0,
            "nan_count": int(np.isnan(x).sum()),
            "inf_count": int(np.isinf(x).sum()),
        }


def assert_stats_close(got: dict, want: dict, scale: float) -> None:
    assert got["shape"] == want["shape"]
    assert got["nan_count"] == want["nan_count"]
    assert got["inf_count"] == want["inf_count"]
    assert got["zero_fraction"] == pytest.approx(want["zero_fraction"], rel=1e-12, abs=0)
    for key in ("min", "max", "mean", "std"):
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12 * scale), key


def finite_scale(a: np.ndarray) -> float:
    x = a.astype(np.float64)
    finite = x[np.isfinite(x)]
    return float(np.abs(finite).max()) if finite.size else 1.0


# ------------------------------------------------------------------------------ statistics


@PROPERTY
@given(float_arrays())
def test_stats_equal_numpy_on_any_array(a):
    assert_stats_close(compute_stats(a), numpy_stats(a), finite_scale(a))


@PROPERTY
@given(st.one_of(float_arrays(), int_arrays()))
def test_fast_path_stats_equal_numpy_on_any_array(a):
    snap = reduce_many({"a": a, "b": a[..., :1] if a.ndim else a}, epoch=0)["a"]
    assert_stats_close(snap.stats, numpy_stats(a), finite_scale(a))


def test_stats_of_an_empty_array_are_undefined_not_errors():
    stats = compute_stats(np.zeros((0, 3), dtype=np.float32))
    assert stats == {
        "shape": (0, 3),
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "zero_fraction": 0.0,
        "nan_count": 0,
        "inf_count": 0,
        "mean_abs": None,
        "dead_fraction": None,
        "constant": None,
        "saturated_fraction": None,
        "relative_change": None,
    }


def test_stats_count_nan_and_inf_and_skip_them_in_the_moments():
    a = np.array([[1.0, np.nan, np.inf], [-np.inf, 3.0, 0.0]], dtype=np.float32)
    stats = compute_stats(a)
    assert (stats["nan_count"], stats["inf_count"]) == (1, 2)
    assert (stats["min"], stats["max"], stats["mean"]) == (0.0, 3.0, pytest.approx(4 / 3))
    assert stats["zero_fraction"] == pytest.approx(1 / 6)


def test_stats_of_large_float32_values_do_not_overflow():
    a = np.full((4, 1000), 3.4e38, dtype=np.float32)
    a[0, 0] = -3.4e38
    stats = reduce_many({"a": a, "b": a}, epoch=0)["a"].stats
    assert math.isfinite(stats["mean"]) and math.isfinite(stats["std"])
    assert stats["mean"] == pytest.approx(float(a.astype(np.float64).mean()), rel=1e-12)


# ------------------------------------------------------------------------------ histogram


@PROPERTY
@given(float_arrays(), st.integers(2, 80))
def test_histogram_counts_sum_to_the_number_of_finite_values(a, bins):
    lo, hi, counts = histogram(a, bins)
    assert counts.dtype == np.uint32 and counts.shape == (bins,)
    assert int(counts.sum()) == int(np.isfinite(a).sum())
    assert lo < hi


@settings(max_examples=40, deadline=None)
@given(st.one_of(float_arrays(), int_arrays()), st.integers(2, 80))
def test_fast_path_agrees_with_the_reference(a, bins):
    ref = reduce_array("a", a, epoch=1, bins=bins, max_values=50)
    fast = reduce_many({"a": a, "b": np.zeros(3)}, epoch=1, bins=bins, max_values=50)["a"]
    np.testing.assert_array_equal(fast.counts, ref.counts)
    assert (fast.hist_lo, fast.hist_hi) == (ref.hist_lo, ref.hist_hi)
    np.testing.assert_array_equal(fast.display.view(np.uint16), ref.display.view(np.uint16))
    assert fast.layout == ref.layout
    assert_stats_close(fast.stats, ref.stats, finite_scale(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_fast_path_merges_chunks_without_cancelling(dtype):
    # Several of the kernels' 16 K-value chunks and a ragged rest, on a large offset: the std is
    # the spread of the noise, which a sum of squares would lose to the offset.
    rng = np.random.default_rng(7)
    noise = rng.integers(-3, 4, 3 * 16384 + 1001) if dtype == np.int32 else rng.normal(size=50153)
    a = (10_000 + noise).astype(dtype).reshape(1, -1)
    a[0, 20_000:20_100] = 0
    fast = reduce_many({"a": a, "b": a}, epoch=0, bounds={"a": (0.0, 10_003.0)})["a"]
    x = a.astype(np.float64)
    assert fast.stats["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert fast.stats["std"] == pytest.approx(x.std(), rel=1e-9)
    assert fast.stats["zero_fraction"] == 100 / a.size
    edges = (0.0 + 0.01 * 10_003.0, 10_003.0 * 0.99)
    saturated = np.count_nonzero((x <= edges[0]) | (x >= edges[1])) / a.size
    assert fast.stats["saturated_fraction"] == pytest.approx(saturated, rel=1e-12)
    np.testing.assert_array_equal(fast.counts, reduce_array("a", a, epoch=0).counts)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_fast_path_compares_samples_by_value_not_by_bits(dtype):
    # The compiled `constant` and `dead_fraction` scans read bits: -0.0 must equal 0.0 and be
    # dead, and a NaN must equal a NaN of another payload at the same position, as in the
    # reference; a NaN against a number differs.
    unsigned = np.dtype(f"u{np.dtype(dtype).itemsize}")
    other_nan = (np.array([np.nan], dtype).view(unsigned) | 1).view(dtype)[0]
    assert np.isnan(other_nan)
    same = np.array([[0.0, np.nan, 1.5], [-0.0, other_nan, 1.5]], dtype)
    differs = np.array([[0.0, np.nan, 1.5], [-0.0, 2.0, 1.5]], dtype)
    for a, constant in ((same, 1.0), (differs, 0.0)):
        fast = reduce_many({"a": a, "b": a}, epoch=0)["a"].stats
        ref = compute_stats(a)
        assert fast["constant"] == ref["constant"] == constant
        assert fast["dead_fraction"] == ref["dead_fraction"] == 1 / 3


def test_fast_path_agrees_on_large_layers_reduced_in_parallel(monkeypatch):
    from kerasviz_widget.core import reduce

    threads: set[str] = set()
    one = reduce._reduce_one

    def reduce_one(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return one(*args, **kwargs)

    monkeypatch.setattr(reduce, "_reduce_one", reduce_one)
    rng = np.random.default_rng(0)
    arrays = {
        "conv": rng.standard_normal((8, 40, 40, 16)).astype(np.float32) * 3 + 1,
        "relu": np.maximum(rng.standard_normal((8, 40, 40, 16)), 0).astype(np.float32),
        "dense": rng.standard_normal((8, 300)).astype(np.float32),
        "ints": rng.integers(0, 17, (8, 8, 8, 1)),
    }
    arrays["conv"][0, 0, 0, :2] = [np.nan, np.inf]
    monkeypatch.setattr(reduce, "_PARALLEL_MIN_VALUES", 1)  # these 0.4 M values go to the pool
    fast = reduce_many(arrays, epoch=2, max_values=4096)
    assert threads and all(t.startswith("kerasviz-reduce") for t in threads), threads
    monkeypatch.setattr(reduce, "_PARALLEL_MIN_VALUES", 1 << 40)
    serial = reduce_many(arrays, epoch=2, max_values=4096)
    assert "MainThread" in threads
    for lid in arrays:
        np.testing.assert_array_equal(serial[lid].counts, fast[lid].counts)
        assert serial[lid].stats == fast[lid].stats
    assert list(fast) == list(arrays)
    for lid, a in arrays.items():
        ref = reduce_array(lid, a, epoch=2, max_values=4096)
        np.testing.assert_array_equal(fast[lid].counts, ref.counts)
        np.testing.assert_array_equal(fast[lid].display, ref.display)
        assert_stats_close(fast[lid].stats, ref.stats, finite_scale(a))


def test_histogram_counts_match_numpy_on_integer_edges():
    a = np.arange(17, dtype=np.float32).reshape(1, 17)  # 0..16: values land exactly on edges
    fast = reduce_many({"a": a, "b": a}, epoch=0, bins=64)["a"]
    want, _ = np.histogram(a.astype(np.float64), bins=64, range=(0.0, 16.0))
    np.testing.assert_array_equal(fast.counts, want)


def exact_bins(x: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Bins with exact real edges `lo + i * (hi - lo) / bins` (rational arithmetic)."""
    flo, fhi = Fraction(lo), Fraction(hi)
    out = [min(bins - 1, math.floor((Fraction(float(v)) - flo) * bins / (fhi - flo))) for v in x]
    return np.array(out, dtype=np.intp)


@PROPERTY
@given(
    st.floats(-10, 10, width=32),
    st.floats(0.0625, 20, width=32),
    st.integers(2, 80),
    st.sampled_from([-1, 0, 1]),
)
def test_histogram_bins_values_on_and_next_to_every_edge_by_the_rule(lo, width, bins, side):
    # float32 values on every real edge (rounded) and one float32 step either side of it.
    edges = lo + np.arange(bins + 1) * (width / bins)
    x = edges.astype(np.float32)
    if side:
        x = np.nextafter(x, np.float32(side * np.inf))
    x = np.clip(x, x[0], x[-1])
    fast = reduce_many({"a": x[None], "b": x[None]}, epoch=0, bins=bins)["a"]
    _, _, ref = histogram(x[None], bins)
    np.testing.assert_array_equal(fast.counts, ref)
    # The rule's formula is the exact-edge histogram except within rounding of an edge.
    xlo, xhi = float(x.min()), float(x.max())
    got = bin_index(x, x.min(), x.max(), bins)
    want = exact_bins(x, xlo, xhi, bins)
    real_edges = xlo + np.arange(bins + 1) * ((xhi - xlo) / bins)
    near = np.abs(x[:, None] - real_edges[None, :]).min(axis=1) <= 4 * np.spacing(
        np.float32(max(abs(xlo), abs(xhi)))
    )
    np.testing.assert_array_equal(got[~near], want[~near])
    assert np.all(np.abs(got - want) <= 1)
    np.testing.assert_array_equal(ref, np.bincount(got, minlength=bins))


def test_histogram_puts_a_value_on_an_interior_edge_in_the_upper_bin_and_closes_the_last():
    a = np.array([0.0, 1.0, 2.0, 3.0, 4.0], dtype=np.float32)  # edges 0, 1, 2, 3, 4 exactly
    assert histogram(a, 4)[2].tolist() == [1, 1, 1, 2]
    assert histogram(np.array([0.0, 0.5, 1.0]), 2)[2].tolist() == [1, 2]


def test_histogram_range_that_overflows_float32_still_bins_by_the_rule():
    a = np.array([-3.4e38, -1e38, 0.0, 1e38, 3.4e38], dtype=np.float32)
    lo, hi, counts = histogram(a, 4)
    assert (lo, hi) == (float(np.float32(-3.4e38)), float(np.float32(3.4e38)))
    assert counts.tolist() == [1, 1, 2, 1]
    fast = reduce_many({"a": a, "b": a}, epoch=0, bins=4)["a"]
    np.testing.assert_array_equal(fast.counts, counts)


def test_histogram_of_a_constant_array_puts_everything_in_the_middle():
    lo, hi, counts = histogram(np.full((3, 4), 2.5, dtype=np.float32), bins=4)
    assert lo < 2.5 < hi
    assert counts.tolist() == [0, 0, 12, 0]


def test_histogram_without_finite_values_is_empty():
    lo, hi, counts = histogram(np.array([np.nan, np.inf]), bins=8)
    assert (lo, hi) == (0.0, 1.0) and counts.sum() == 0


# ------------------------------------------------------------------------------ display


@PROPERTY
@given(
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=9),
    st.integers(1, 400),
)
def test_display_size_is_within_max_values_for_every_rank(shape, max_values):
    a = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    display, layout = display_array(a, max_values)
    assert display.size <= max_values
    assert display.dtype == np.float16 and display.flags.c_contiguous
    assert layout == LAYOUTS[max(len(shape), 1)]
    assert display.ndim == max(len(shape), 1)


@PROPERTY
@given(
    hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=9),
    st.integers(1, 300),
    st.floats(-6e4, 6e4, allow_subnormal=True),
)
def test_pooling_a_constant_array_gives_the_constant(shape, max_values, value):
    a = np.full(shape, value, dtype=np.float32)
    display, _ = display_array(a, max_values)
    want = np.float16(np.float32(value))
    np.testing.assert_allclose(display.astype(np.float64), float(want), rtol=2**-10, atol=0)


def test_display_of_a_small_array_is_the_array_in_float16():
    a = np.random.default_rng(1).standard_normal((4, 5, 6, 3)).astype(np.float32)
    display, layout = display_array(a, max_values=10_000)
    assert layout == "NHWC"
    np.testing.assert_array_equal(display, a.astype(np.float16))


def test_pooling_takes_block_means_and_a_ragged_block_averages_what_it_has():
    a = np.arange(10, dtype=np.float32).reshape(2, 5)  # ND: units pooled first
    display, _ = display_array(a, max_values=6)
    np.testing.assert_array_equal(display, [[0.5, 2.5, 4.0], [5.5, 7.5, 9.0]])


def test_pooling_keeps_the_aspect_and_the_dimension_order_of_an_image():
    a = np.zeros((2, 96, 48, 5), dtype=np.float32)
    display, layout = display_array(a, max_values=2 * 24 * 12 * 5)
    assert layout == "NHWC"
    assert display.shape == (2, 24, 12, 5)  # H and W by one factor; samples and channels kept


def test_pooling_gives_way_to_channels_then_samples_only_when_the_image_is_one_pixel():
    assert pool_factors((4, 3, 3, 10), "NHWC", 40) == (1, 3, 3, 1)
    assert pool_factors((4, 3, 3, 10), "NHWC", 20) == (1, 3, 3, 2)
    assert pool_factors((4, 3, 3, 10), "NHWC", 2) == (2, 3, 3, 10)


def test_display_layout_by_rank():
    assert display_array(np.float32(3.0))[0].shape == (1,)
    assert display_array(np.zeros(7))[1] == "bars"
    assert display_array(np.zeros((2, 3)))[1] == "ND"
    assert display_array(np.zeros((2, 3, 4)))[1] == "NTD"
    assert display_array(np.zeros((2, 3, 4, 5)))[1] == "NHWC"
    assert display_array(np.zeros((2, 3, 4, 5, 6)))[1] == "NDHWC"
    display, layout = display_array(np.zeros((2, 3, 4, 5, 6, 7)))
    assert (display.shape, layout) == ((2, 3 * 4 * 5 * 6 * 7), "ND")


def test_display_clips_finite_values_to_float16_and_keeps_real_infinities():
    a = np.array([[1e6, -1e6, np.inf, -np.inf, np.nan, 1.0]], dtype=np.float32)
    display, _ = display_array(a)
    assert display[0, :2].tolist() == [FLOAT16_MAX, -FLOAT16_MAX]
    assert display[0, 2] == np.inf and display[0, 3] == -np.inf
    assert np.isnan(display[0, 4]) and display[0, 5] == 1.0


def test_pooled_large_values_are_clipped_not_infinite():
    a = np.full((1, 64, 64, 1), 3e38, dtype=np.float32)
    display, _ = display_array(a, max_values=16)
    assert np.all(display == FLOAT16_MAX)


def test_reduce_array_keeps_the_step_labels():
    snap = reduce_array("dense", np.ones((2, 3)), epoch=1.5, batch=7, bins=8)
    assert (snap.layer, snap.epoch, snap.batch, snap.counts.size) == ("dense", 1.5, 7, 8)


@PROPERTY
@given(
    hnp.arrays(
        np.float16,
        st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5)),
        elements=st.one_of(
            st.floats(-100, 100, width=16),
            SPECIAL.filter(lambda v: not math.isfinite(v) or abs(v) <= 65504).map(np.float16),
        ),
    )
)
def test_default_channel_is_the_channel_of_largest_finite_spread(display):
    """The first-view channel, against float64 NumPy: the channel whose finite values have the
    largest variance (NaN and infinities left out; 0 when none spreads)."""
    values = display.astype(np.float64).reshape(-1, display.shape[-1])
    var = np.array([np.var(c[np.isfinite(c)]) if np.isfinite(c).any() else -1.0 for c in values.T])
    channel = default_channel(display, "NHWC")
    if var.max() <= 0:
        assert channel == 0
    else:  # the chosen channel spreads as much as the largest, up to float32 rounding
        assert var[channel] >= var.max() * (1 - 1e-5) - 1e-9, (channel, var)
    assert default_channel(display, "ND") == 0
