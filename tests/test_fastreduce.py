"""The fast reduction path agrees with the pure-NumPy reference in `snapshot.py`."""

from __future__ import annotations

import numpy as np
import pytest

from kerasviz_widget.fastreduce import fast_display_array, reduce_many, stats_and_histogram
from kerasviz_widget.snapshot import compute_stats, display_array, histogram, reduce_array


def _cases():
    rng = np.random.default_rng(0)
    relu = np.maximum(rng.normal(size=(8, 12, 12, 5)), 0).astype("float32")
    offset = (1000.0 + rng.normal(scale=1e-2, size=(4, 300))).astype("float32")
    with_special = rng.normal(size=(3, 50)).astype("float32")
    with_special[0, :3] = [np.nan, np.inf, -np.inf]
    edges = np.linspace(-1, 1, 65).astype("float32")  # values on the bin edges
    return {
        "relu": relu,
        "offset": offset,
        "signed": rng.normal(size=(5, 7, 9)).astype("float32"),
        "constant": np.full((4, 3), 2.5, "float32"),
        "float16": rng.normal(size=(6, 40)).astype("float16"),
        "float64": rng.normal(size=(6, 40)),
        "int": rng.integers(-3, 4, size=(5, 9)),
        "nan_inf": with_special,
        "all_nan": np.full((2, 3), np.nan, "float32"),
        "edges": np.tile(edges, (3, 1)),
        "one": np.array([0.0], "float32"),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_stats_match_the_reference(name):
    array = CASES[name]
    stats, *_ = stats_and_histogram(array)
    ref = compute_stats(array)
    assert stats.keys() == ref.keys()
    for key in ("shape", "min", "max", "zero_fraction", "nan_count", "inf_count"):
        assert stats[key] == ref[key], key
    if ref["mean"] is None:
        assert stats["mean"] is None and stats["std"] is None
    else:
        assert stats["mean"] == pytest.approx(ref["mean"], rel=1e-12, abs=1e-15)
        assert stats["std"] == pytest.approx(ref["std"], rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_histogram_counts_are_identical_to_the_reference(name):
    array = CASES[name]
    _, lo, hi, counts = stats_and_histogram(array, bins=64)
    ref_lo, ref_hi, ref_counts = histogram(array, 64)
    assert (lo, hi) == (ref_lo, ref_hi)
    assert counts.dtype == np.uint32
    np.testing.assert_array_equal(counts, ref_counts)


def test_reduce_many_matches_reduce_array_for_every_layer():
    arrays = {name: CASES[name] for name in ("relu", "signed", "nan_inf", "int")}
    snaps = reduce_many(arrays, epoch=3, batch=None, bins=16, max_values=64)
    assert list(snaps) == list(arrays)
    for name, snap in snaps.items():
        ref = reduce_array(name, arrays[name], epoch=3, bins=16, max_values=64)
        assert (snap.layer, snap.epoch, snap.layout) == (ref.layer, ref.epoch, ref.layout)
        np.testing.assert_array_equal(snap.counts, ref.counts)
        ref_display = display_array(arrays[name], 64)[0]
        np.testing.assert_allclose(snap.display, ref_display, rtol=2**-10, atol=2**-24)
        assert snap.stats["shape"] == ref.stats["shape"]
        assert snap.stats["std"] == pytest.approx(ref.stats["std"], rel=1e-6)


@pytest.mark.parametrize(
    "shape, max_values",
    [((8, 48, 48, 16), 4096), ((4, 30, 7), 50), ((3, 5, 5, 2), 10), ((16, 100), 64), ((5,), 2)],
)
def test_fast_display_array_matches_the_reference(shape, max_values):
    array = np.random.default_rng(1).normal(size=shape).astype("float32")
    display, layout = fast_display_array(array, max_values)
    ref, ref_layout = display_array(array, max_values)
    assert layout == ref_layout
    assert display.shape == ref.shape and display.dtype == np.float16
    # Equal, or one float16 step apart (float32 rounding of the block means).
    np.testing.assert_allclose(display, ref, rtol=2**-10, atol=2**-24)
