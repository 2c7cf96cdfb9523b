"""The health statistics of a layer output (`mean_abs`, `dead_fraction`, `constant`,
`saturated_fraction`): the reference and the fast path, each against an oracle written here; and
`relative_change`, a statistic of two steps that a recording session sets.

The oracles walk the values one by one in plain Python, so they share no code with `reduce.py`.
Hypothesis settings: `max_examples=60`, `deadline=None`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kerasviz_widget.core.extract import Extractor
from kerasviz_widget.core.history import History
from kerasviz_widget.core.reduce import (
    STAT_KEYS,
    compute_stats,
    reduce_array,
    reduce_many,
    relative_change,
)
from kerasviz_widget.core.session import RecordingSession
from kerasviz_widget.core.settings import Settings
from kerasviz_widget.core.step import Step
from kerasviz_widget.io import npz

PROPERTY = settings(max_examples=60, deadline=None)
NEW_KEYS = ("mean_abs", "dead_fraction", "constant", "saturated_fraction")
BOUNDS = st.sampled_from([None, (0.0, 1.0), (-1.0, 1.0), (0.0, 6.0)])

# Values that sit on and around the saturation edges of the bounds above, and the specials.
EDGES = [0.0, -0.0, 0.01, 0.0099, 0.0101, 0.99, 0.9899, 1.0, -1.0, -0.98, 0.98, 5.94, 6.0, 3.0]
ELEMENTS = st.one_of(
    st.sampled_from(EDGES + [np.nan, np.inf, -np.inf]),
    st.floats(width=32, min_value=-10, max_value=10),
)


@st.composite
def outputs(draw: st.DrawFn) -> np.ndarray:
    """Layer outputs with the structure the statistics look for: dead units, repeated samples."""
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    a = draw(hnp.arrays(np.float32, shape, elements=ELEMENTS)).astype(dtype)
    if a.ndim >= 2 and a.shape[-1] and draw(st.booleans()):
        dead = draw(st.lists(st.integers(0, a.shape[-1] - 1), max_size=a.shape[-1]))
        a[..., dead] = 0
    if a.ndim >= 1 and a.shape[0] >= 2 and draw(st.booleans()):
        a[1:] = a[0]
    return a


# ------------------------------------------------------------------------------ oracles


def oracle(a: np.ndarray, bounds: tuple[float, float] | None) -> dict:
    values = [float(v) for v in a.reshape(-1)]
    finite = [v for v in values if math.isfinite(v)]
    out: dict = {"mean_abs": sum(abs(v) for v in finite) / len(finite) if finite else None}
    if a.ndim >= 2 and a.size:
        units = a.shape[-1]
        rows = a.reshape(-1, units)
        dead = [all(float(r[j]) == 0.0 for r in rows) for j in range(units)]
        out["dead_fraction"] = sum(dead) / units
    else:
        out["dead_fraction"] = None
    if a.ndim >= 1 and a.shape[0] >= 2 and a.size:
        first = [float(v) for v in a[0].reshape(-1)]

        def same(x: float, y: float) -> bool:
            return x == y or (math.isnan(x) and math.isnan(y))

        others = [[float(v) for v in s.reshape(-1)] for s in a[1:]]
        out["constant"] = float(
            all(all(same(x, y) for x, y in zip(s, first, strict=True)) for s in others)
        )
    else:
        out["constant"] = None
    if bounds is not None and a.size:
        lo, hi = bounds
        width = hi - lo
        near = [v for v in values if v <= lo + 0.01 * width or v >= hi - 0.01 * width]
        out["saturated_fraction"] = len(near) / len(values)
    else:
        out["saturated_fraction"] = None
    return out


def assert_new_stats(got: dict, want: dict) -> None:
    for key in ("dead_fraction", "constant", "saturated_fraction"):
        assert got[key] == want[key], key
    if want["mean_abs"] is None:
        assert got["mean_abs"] is None
    else:
        assert got["mean_abs"] == pytest.approx(want["mean_abs"], rel=1e-9, abs=1e-300)


# ------------------------------------------------------------------------------ properties


@PROPERTY
@given(outputs(), BOUNDS)
def test_reference_health_stats_equal_the_oracle(a, bounds):
    assert_new_stats(compute_stats(a, bounds), oracle(a, bounds))


@PROPERTY
@given(outputs(), BOUNDS)
def test_fast_path_health_stats_equal_the_oracle(a, bounds):
    snaps = reduce_many({"a": a, "b": a[..., :1] if a.ndim else a}, epoch=0, bounds={"a": bounds})
    assert_new_stats(snaps["a"].stats, oracle(a, bounds))
    assert snaps["b"].stats["saturated_fraction"] is None  # no bounds given for it


def test_fast_path_agrees_on_arrays_larger_than_a_chunk():
    """Several chunks, rows folded in wide groups with a ragged rest, a NaN in a live unit."""
    rng = np.random.default_rng(3)
    a = np.maximum(rng.normal(size=(7, 33, 31, 24)), 0).astype(np.float32)
    a[..., [2, 5, 23]] = 0
    a[3, 4, 5, 7] = np.nan
    a[..., 11] = np.where(a[..., 11] > 0, 1.0, a[..., 11])  # saturated values
    for arr in (a, np.tanh(a - 0.5), -a):
        fast = reduce_many({"a": arr, "b": arr[:1]}, epoch=0, bounds={"a": (0.0, 1.0)})["a"].stats
        ref = reduce_array("a", arr, epoch=0, bounds=(0.0, 1.0)).stats
        want = oracle(arr, (0.0, 1.0))
        assert_new_stats(fast, want)
        assert_new_stats(ref, want)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_])
def test_fast_path_health_stats_of_integer_and_boolean_outputs(dtype):
    a = np.array([[[0, 1, 0], [0, 2, 0]], [[0, 1, 0], [0, 0, 1]]]).astype(dtype)
    stats = reduce_many({"a": a, "b": a}, epoch=0, bounds={"a": (0.0, 1.0)})["a"].stats
    assert_new_stats(stats, oracle(a, (0.0, 1.0)))
    assert stats["dead_fraction"] == pytest.approx(1 / 3)


# ------------------------------------------------------------------------------ definitions


def test_a_nan_is_not_dead_and_an_infinity_is_not_zero():
    a = np.zeros((4, 3), dtype=np.float32)
    a[2, 0] = np.nan
    a[1, 1] = -np.inf
    for stats in (compute_stats(a), reduce_many({"a": a, "b": a}, epoch=0)["a"].stats):
        assert stats["dead_fraction"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8])
@pytest.mark.parametrize("rows", [15, 16, 17, 100])
def test_a_unit_that_wakes_in_the_last_row_is_not_dead(dtype, rows):
    # The compiled scan ORs the rows' bits together and counts the units left every 16 rows.
    a = np.zeros((rows, 5), dtype=dtype)
    a[:, 0] = 1  # alive from the first row
    a[-1, 1] = 1  # alive only in the last row
    a[rows // 2, 2] = -1  # alive in the middle
    if a.dtype.kind == "f":
        a[:, 3] = -0.0  # a negative zero is a zero: dead
    want = 2 / 5  # units 3 and 4
    for stats in (compute_stats(a), reduce_many({"a": a, "b": a}, epoch=0)["a"].stats):
        assert stats["dead_fraction"] == pytest.approx(want)


def test_nan_at_the_same_place_in_every_sample_is_still_constant():
    a = np.tile(np.array([[1.0, np.nan, np.inf]], dtype=np.float32), (3, 1))
    assert compute_stats(a)["constant"] == 1.0
    a[2, 0] = np.nan  # NaN against a number differs
    assert compute_stats(a)["constant"] == 0.0
    assert reduce_many({"a": a, "b": a}, epoch=0)["a"].stats["constant"] == 0.0


def test_statistics_that_do_not_apply_are_none():
    one_sample = compute_stats(np.ones((1, 4)), (0.0, 1.0))
    assert one_sample["constant"] is None and one_sample["dead_fraction"] == 0.0
    vector = compute_stats(np.zeros(5))
    assert vector["dead_fraction"] is None and vector["constant"] == 1.0
    assert compute_stats(np.float32(3.0))["constant"] is None
    assert compute_stats(np.ones((3, 2)))["saturated_fraction"] is None
    all_nan = compute_stats(np.full((2, 2), np.nan), (0.0, 1.0))
    assert all_nan["mean_abs"] is None and all_nan["saturated_fraction"] == 0.0


def test_saturation_counts_values_within_one_percent_of_either_bound():
    a = np.array([[-1.0, -0.98, -0.97, 0.0, 0.97, 0.98, 1.0, np.inf]])
    # -1, -0.98, 0.98, 1 and +inf are within 0.02 of a bound of (-1, 1); the rest are not.
    assert compute_stats(a, (-1.0, 1.0))["saturated_fraction"] == 5 / 8
    fast = reduce_many({"a": a, "b": a}, epoch=0, bounds={"a": (-1.0, 1.0)})["a"].stats
    assert fast["saturated_fraction"] == 5 / 8


def test_the_relu_family_saturates_at_its_upper_bound_only():
    a = np.array([[0.0, 0.0, 0.0, 0.01, 3.0, 5.94, 6.0, np.inf]])
    # 5.94 (= 0.99 * 6), 6 and +inf are near the upper bound; the zeros do not count.
    assert compute_stats(a, (None, 6.0))["saturated_fraction"] == 3 / 8
    fast = reduce_many({"a": a, "b": a}, epoch=0, bounds={"a": (None, 6.0)})["a"].stats
    assert fast["saturated_fraction"] == 3 / 8
    # Both bounds: the zeros and 0.01 count too.
    assert compute_stats(a, (0.0, 6.0))["saturated_fraction"] == 7 / 8


@pytest.mark.parametrize(
    "bounds", [(1.0, 0.0), (0.0, np.inf), "01", (0.0,), (None, 0.0), (None, None)]
)
def test_bad_bounds_are_an_error_that_says_what_bounds_are(bounds):
    with pytest.raises(ValueError, match=r"bounds=.*pair `\(lo, hi\)` of finite numbers"):
        compute_stats(np.zeros((2, 2)), bounds)


# ------------------------------------------------------------------------------ storage


def test_history_and_file_keep_every_statistic(tmp_path):
    a = np.array([[0.0, 0.995, 0.5], [0.0, 0.2, np.nan]], dtype=np.float32)
    snaps = reduce_many({"a": a, "b": a}, epoch=1, bounds={"a": (0.0, 1.0)})
    history = History(2**20)
    history.add(Step(epoch=1, snapshots=snaps))
    assert history.stats("a", 1) == snaps["a"].stats
    path = tmp_path / "run.npz"
    npz.write_history(path, history)
    assert npz.read_history(path).steps[0].snapshots["a"].stats == snaps["a"].stats


def test_a_file_written_with_the_first_seven_statistics_reads_the_others_as_none(tmp_path):
    a = np.array([[1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    history = History(2**20)
    history.add(Step(epoch=0, snapshots=reduce_many({"a": a, "b": a}, epoch=0)))
    path = tmp_path / "new.npz"
    npz.write_history(path, history)
    with np.load(path) as f:
        members = {k: f[k] for k in f.files}
    assert members["s0.stats"].shape == (2, len(STAT_KEYS))
    members["s0.stats"] = members["s0.stats"][:, :7]  # as the files of the first version
    old = tmp_path / "old.npz"
    np.savez(old, **members)
    stats = npz.read_history(old).steps[0].snapshots["a"].stats
    assert all(stats[k] is None for k in NEW_KEYS)
    assert (stats["min"], stats["max"], stats["nan_count"]) == (0.0, 2.0, 0)
    reloaded = History(2**20)
    step = npz.read_history(old).steps[0]
    reloaded.add(step)
    assert reloaded.stats("a", 0) == stats


# ------------------------------------------------------------------------------ relative change


def test_relative_change_is_the_l1_change_over_the_previous_l1_norm():
    p = np.array([[1.0, -2.0], [0.0, 4.0]], dtype=np.float16)
    d = np.array([[2.0, -2.0], [1.0, 2.0]], dtype=np.float16)
    assert relative_change(d, p) == (1 + 0 + 1 + 2) / (1 + 2 + 0 + 4)
    assert relative_change(p, p) == 0.0
    assert relative_change(p * 3, p) == pytest.approx(2.0)


def test_relative_change_skips_non_finite_positions_and_is_none_when_undefined():
    p = np.array([1.0, np.nan, 2.0, 5.0])
    d = np.array([2.0, 7.0, np.inf, 5.0])
    assert relative_change(d, p) == 1 / 6  # positions 0 and 3 only
    assert relative_change(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_change(np.ones(3), np.zeros(3)) is None  # an infinite change
    nan = np.full(3, np.nan)
    assert relative_change(nan, np.ones(3)) is None  # no position finite in both
    assert relative_change(nan, nan) is None
    assert relative_change(np.array([np.inf, 1.0]), np.array([1.0, np.nan])) is None
    assert relative_change(np.ones(3), np.ones(4)) is None  # shapes differ
    assert relative_change(np.ones(0), np.ones(0)) is None


def test_a_session_sets_the_relative_change_of_each_step_against_the_one_before():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    history = History(2**24)
    session = RecordingSession(Extractor(model, probe=x), x, Settings(), history)
    session.record(epoch=0)
    assert history.stats("d", 0)["relative_change"] is None  # the first step
    session.record(epoch=1)
    assert history.stats("d", 1)["relative_change"] == 0.0  # the same weights
    kernel, bias = model.layers[0].get_weights()
    model.layers[0].set_weights([kernel * 3, bias * 3])
    session.record(epoch=2)
    assert history.stats("d", 2)["relative_change"] == pytest.approx(2.0, rel=2e-3)
    assert history.stats("input", 2)["relative_change"] == 0.0
