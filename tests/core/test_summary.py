"""The one-line statistics strip per layer: sparkline, aligned columns, flags from the findings."""

from __future__ import annotations

import numpy as np
import pytest

from kerasviz_widget.core.history import History
from kerasviz_widget.core.reduce import reduce_many
from kerasviz_widget.core.step import Step
from kerasviz_widget.core.summary import LEVELS, resample, sparkline, summary_text


def record(arrays: dict, bounds: dict | None = None, epoch: int = 3, **logs: float) -> tuple:
    history = History(2**22)
    snapshots = reduce_many(arrays, epoch=epoch, bounds=bounds)
    history.add(Step(epoch=epoch, logs=logs, snapshots=snapshots, arrays=arrays))
    catalog = [
        {"id": lid, "strategy": "input" if lid == "input" else "graph", "bounds": None}
        for lid in arrays
    ]
    return history, catalog


@pytest.fixture
def run() -> tuple:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8)).astype(np.float32)
    dense = np.maximum(rng.normal(size=(16, 8)), 0).astype(np.float32)
    dense[:, :5] = 0  # 5 of 8 units dead
    broken = rng.normal(size=(16, 4)).astype(np.float32)
    broken[0, 0], broken[1, 1] = np.nan, -np.inf
    probs = np.where(rng.random((16, 4)) < 0.5, 0.999, 0.001).astype(np.float32)
    arrays = {
        "input": x,
        "a_much_longer_layer_name": dense,
        "broken": broken,
        "probs": probs,
        "same": np.ones((16, 2, 3), np.float32),
        "all_nan": np.full((16, 1), np.nan, np.float32),
    }
    return record(arrays, bounds={"probs": (0.0, 1.0)}, loss=0.41273)


# ------------------------------------------------------------------------------ sparkline


def test_the_sparkline_has_eight_levels_with_empty_at_the_bottom():
    assert sparkline([0, 1, 4, 9, 4, 1, 0, 0], width=8) == "▁▂▅█▅▂▁▁"
    assert sparkline([0] * 64) == LEVELS[0] * 10
    assert set(sparkline(np.arange(64))) <= set(LEVELS)
    assert len(sparkline(np.ones(3))) == 10


def test_resampling_conserves_the_counts_and_splits_bins_in_proportion():
    counts = np.random.default_rng(1).integers(0, 100, size=64)
    cells = resample(counts, 10)
    assert cells.shape == (10,) and cells.sum() == pytest.approx(counts.sum())
    assert cells[0] == pytest.approx(counts[:6].sum() + 0.4 * counts[6])
    assert resample([3, 0], 4).tolist() == [1.5, 1.5, 0.0, 0.0]


# ------------------------------------------------------------------------------ strip


def test_the_columns_of_every_strip_line_up(run):
    lines = summary_text(*run).splitlines()
    strips = lines[1:]
    assert len(strips) == 6
    for marker in ("(", "n=", "x∈[", "μ=", "σ=", "zeros="):
        assert len({line.index(marker) for line in strips}) == 1, marker
    # The sparklines start in one column too: the range's lower end is right-aligned before them.
    starts = set()
    for line in strips:
        at = line.index("x∈[")
        start = next(i for i in range(at, len(line)) if line[i] in LEVELS)
        assert line[start - 1] == " " and line[start + 10] == " "
        assert all(c in LEVELS for c in line[start : start + 10])
        starts.add(start)
    assert len(starts) == 1


def test_a_strip_holds_shape_count_range_moments_and_zeros(run):
    history, _ = run
    line = next(ln for ln in summary_text(*run).splitlines() if ln.startswith("input"))
    st = history.stats("input", 3)
    assert "(16, 8)" in line and "n=128" in line
    assert f"x∈[{st['min']:.4g} " in line and f" {st['max']:.4g}]" in line
    assert f"μ={st['mean']:.4g}" in line and f"σ={st['std']:.4g}" in line
    assert "zeros=0%" in line


def test_flags_shout_what_the_findings_say(run):
    lines = {ln.split()[0]: ln for ln in summary_text(*run).splitlines()[1:]}
    assert lines["broken"].endswith("NaN!, Inf!")
    assert lines["a_much_longer_layer_name"].endswith("dead 62%")
    assert lines["probs"].endswith("saturated 100%")
    assert lines["same"].endswith("constant, vanishing ×0")
    assert lines["all_nan"].endswith("NaN!, constant")  # NaN in the same places: constant
    assert "- ▁▁▁▁▁▁▁▁▁▁ -]" in lines["all_nan"]  # no finite values: no range, no bars
    assert lines["input"].endswith("zeros=0%")  # no flag


def test_flags_follow_the_thresholds_given(run):
    lines = {ln.split()[0]: ln for ln in summary_text(*run, dead=0.7).splitlines()[1:]}
    assert "dead" not in lines["a_much_longer_layer_name"]


def test_the_title_names_the_epoch_and_the_logs(run):
    assert summary_text(*run).splitlines()[0] == "epoch 3  loss 0.4127"


def test_an_empty_history_says_so():
    assert summary_text(History(2**20), []) == "No step recorded yet."


def test_an_epoch_never_recorded_is_a_key_error(run):
    with pytest.raises(KeyError, match="Recorded epochs: \\[3\\]"):
        summary_text(*run, epoch=1)
