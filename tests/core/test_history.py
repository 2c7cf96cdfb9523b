"""The bounded history: budget, thinning, reading back."""

from __future__ import annotations

import numpy as np
import pytest

from kerasviz_widget.core.history import ARRAY_OVERHEAD_BYTES, STEP_OVERHEAD_BYTES, History
from kerasviz_widget.core.reduce import STAT_KEYS, reduce_array
from kerasviz_widget.core.step import Step

BINS = 8


def make_step(epoch, n=10_000, layers=("a", "b"), fill=None, batch=None):
    """Arrays of known size (`n` float32 values per layer) and their snapshots."""
    rng = np.random.default_rng(int(float(epoch) * 1000))
    arrays = {
        lid: (
            rng.standard_normal((10, n // 10)).astype(np.float32)
            if fill is None
            else np.full((10, n // 10), fill, dtype=np.float32)
        )
        for lid in layers
    }
    snaps = {
        lid: reduce_array(lid, a, epoch=epoch, batch=batch, bins=BINS, max_values=50)
        for lid, a in arrays.items()
    }
    logs = {"loss": 1.0 / (1 + float(epoch))}
    return Step(epoch=epoch, batch=batch, logs=logs, snapshots=snaps, arrays=arrays)


def fixed_bytes(n_layers):
    return n_layers * (len(STAT_KEYS) * 8 + 2 * 8 + BINS * 4)  # stats, histogram range, counts


def test_nbytes_is_exact_for_arrays_of_known_size():
    history = History(2**30)
    step = make_step(0, n=1000)
    snaps = step.snapshots
    history.add(step)
    display = sum(s.display.nbytes for s in snaps.values())
    assert display == 2 * 50 * 2  # two layers, 50 float16 values each
    assert history.nbytes == 2 * 1000 * 4 + display + fixed_bytes(2)


def test_nbytes_goes_back_when_a_step_is_replaced():
    history = History(2**30)
    history.add(make_step(0))
    before = history.nbytes
    history.add(make_step(0))
    assert history.nbytes == before and len(history) == 1


def test_charged_bytes_add_the_object_estimate():
    history = History(2**30)
    history.add(make_step(0))
    arrays_held = 3 + 2 + 2  # stats, ranges, counts; two displays; two full arrays
    assert history.charged_bytes == (
        history.nbytes + STEP_OVERHEAD_BYTES + arrays_held * ARRAY_OVERHEAD_BYTES
    )


def test_history_never_exceeds_its_budget_and_keeps_first_and_last():
    history = History(600_000)  # about six steps of full values
    for epoch in range(40):
        history.add(make_step(epoch))
        assert history.charged_bytes <= history.budget_bytes
    kept = history.kept_epochs
    assert kept[0] == 0 and kept[-1] == 39
    assert 3 <= len(kept) < 40


def assert_every_stride_th(labels, kept):
    """Kept: every stride-th recorded step, then only steps newer than the last of those."""
    positions = [labels.index(e) for e in kept]
    stride = positions[1] - positions[0]
    on = [p for p in positions if p % stride == 0]
    assert len(on) >= 4 and stride > 1
    assert on == list(range(0, on[-1] + 1, stride))
    assert all(p > on[-1] for p in positions if p % stride)
    assert positions[-1] == len(labels) - 1


def test_thinning_keeps_steps_evenly_spread():
    history = History(1_000_000)
    for epoch in range(64):
        history.add(make_step(epoch))
    assert_every_stride_th(list(range(64)), history.kept_epochs)


def test_thinning_is_even_in_steps_whatever_the_labels():
    history = History(1_000_000)
    labels = [0, 0.25, 0.5, 0.75, 1, 1.1, 1.2, 1.3, 2, 2.5, 3, 3.5, 4, 4.01, 4.02, 4.03, 5]
    labels += [5 + i / 8 for i in range(1, 40)]
    for epoch in labels:
        history.add(make_step(epoch))
    assert_every_stride_th(labels, history.kept_epochs)


def test_statistics_of_every_step_survive_thinning():
    history = History(400_000)
    for epoch in range(30):
        history.add(make_step(epoch))
    assert history.epochs == list(range(30))
    thinned = sorted(set(history.epochs) - set(history.kept_epochs))
    assert thinned
    arrays = make_step(thinned[0]).arrays
    assert history.stats("a", thinned[0])["mean"] == pytest.approx(float(arrays["a"].mean()))
    assert history.snapshot("b", thinned[0]).counts.sum() == 10_000


def test_add_returns_the_labels_it_thinned():
    history = History(40_000)
    reported = []
    for epoch in range(30):
        reported += history.add(make_step(epoch))
    assert sorted(reported) == sorted(set(history.epochs) - set(history.kept_epochs))


def test_display_arrays_are_thinned_only_after_full_values():
    # Room for the statistics of 20 steps and a few steps' displays, not for any full values.
    per_step = STEP_OVERHEAD_BYTES + 3 * ARRAY_OVERHEAD_BYTES + fixed_bytes(2)
    per_display = 2 * (100 + ARRAY_OVERHEAD_BYTES)
    history = History(20 * per_step + 6 * per_display)
    for epoch in range(20):
        history.add(make_step(epoch))
        assert history.charged_bytes <= history.budget_bytes
    assert history.kept_epochs == []
    assert history.display_epochs[-1] == 19
    assert 2 <= len(history.display_epochs) < 20
    assert [s.epoch for s in history.snapshots()][-2:] == [19, 19]


def test_the_latest_display_is_kept_even_above_a_tiny_budget():
    history = History(1)
    history.add(make_step(0))
    history.add(make_step(1))
    assert history.kept_epochs == [] and history.display_epochs == [1]


def test_values_of_a_thinned_step_give_an_error_listing_what_is_kept():
    history = History(400_000)
    for epoch in range(30):
        history.add(make_step(epoch))
    thinned = sorted(set(history.epochs) - set(history.kept_epochs))[0]
    with pytest.raises(KeyError, match=r"thinned away.*Epochs with full values: \[0, .*29\]"):
        history.values("a", thinned)


def test_values_of_an_unrecorded_epoch_list_the_recorded_ones():
    history = History(2**30)
    history.add(make_step(0))
    with pytest.raises(KeyError, match=r"Epoch 5 was never recorded. Recorded epochs: \[0\]"):
        history.values("a", 5)


def test_unknown_layer_lists_the_layers_of_that_step():
    history = History(2**30)
    history.add(make_step(0))
    with pytest.raises(KeyError, match="Layers recorded there: a, b"):
        history.stats("nope")


def test_fractional_epoch_labels_key_batch_snapshots():
    history = History(2**30)
    history.add(make_step(0))
    history.add(make_step(0.5, batch=3))
    history.add(make_step(1))
    assert history.epochs == [0, 0.5, 1]
    assert history.step(0.5).batch == 3
    assert not np.array_equal(history.values("a", -1), history.values("a", 0.5))


@pytest.mark.parametrize("budget", [0, -5])
def test_non_positive_budget_is_rejected(budget):
    with pytest.raises(ValueError, match=f"budget_bytes={budget}; it must be"):
        History(budget)
