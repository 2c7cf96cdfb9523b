"""Regressions the rest of the suite let through, each caught here.

- The throttle must count the worker thread's time (every other throttle test turns it off).
- `fit` must wait for the worker at its end: `epochs` read right after `fit` has the last epoch.
- Nothing sent to the front-end may hold NaN or an infinity (Jupyter's packer refuses them), also
  when the loss is NaN; the offline page of such a run loads.
- Display pooling agrees with an oracle written here from the documented rule, by slicing blocks.
"""

from __future__ import annotations

import json
import math
import re
import time

import keras
import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from tests.adversarial import support
from tests.adversarial.support import Wire

FLOAT16_MAX = float(np.finfo(np.float16).max)


@pytest.fixture(scope="module")
def reusable() -> support.Reusable:
    return support.Reusable()


@pytest.fixture
def model(reusable):
    return reusable.fresh()


class Slow(keras.callbacks.Callback):
    """Training that takes `seconds` per batch (a model much larger than the probe's)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


def fractional(epochs):
    return [e for e in epochs if not float(e).is_integer()]


# ----------------------------------------------------------------------------- the throttle


@pytest.mark.timeout(60)
def test_the_throttle_counts_the_worker_threads_time(model, monkeypatch):
    """Reductions of 60 ms on the worker against batches of 20 ms: per-batch snapshots would
    cost 300% of training; within 5% only about one in 60 batches may have one."""
    x, y = support.tiny_data(n=128)
    viewer = TensorViewer(model, x[:4])
    support.slow_reduction(monkeypatch, 0.06)
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[viewer.callback(every_n_batches=1), Slow(0.02)],
    )
    taken = fractional(viewer.epochs)
    assert len(taken) <= 4, f"{len(taken)} per-batch snapshots of 60 ms in 48 batches of 20 ms"


@pytest.mark.timeout(60)
def test_cheap_snapshots_with_the_worker_on_are_all_taken(model):
    """The other side of the same throttle: a snapshot of a few ms after 0.8 s of training is
    well within 5%, worker included, and is taken."""
    x, y = support.tiny_data(n=128)
    viewer = TensorViewer(model, x[:4])
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[viewer.callback(every_n_batches=8), Slow(0.1)],
    )
    assert fractional(viewer.epochs) == [0.5]


# ----------------------------------------------------------------------------- end of fit


@pytest.mark.timeout(60)
def test_the_last_epoch_is_there_as_soon_as_fit_returns(model, monkeypatch):
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    support.slow_reduction(monkeypatch, 0.3)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[viewer.callback()])
    assert viewer.epochs == [0, 1, 2]
    np.testing.assert_allclose(
        viewer.values("out", 2), model.predict(x[:4], verbose=0), rtol=1e-5, atol=1e-6
    )


@pytest.mark.timeout(60)
def test_the_last_epoch_is_in_the_run_folder_as_soon_as_fit_returns(model, monkeypatch, tmp_path):
    x, y = support.tiny_data()
    recorder = Recorder(model, x[:4], str(tmp_path / "run"))
    support.slow_reduction(monkeypatch, 0.3)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[recorder])
    assert TensorViewer.load(str(tmp_path / "run")).epochs == [0, 1, 2]
    recorder.close()


# ----------------------------------------------------------------------------- NaN


@pytest.fixture
def nan_run(model):
    """A `fit` whose loss is NaN from the first batch (a NaN target), so are the weights after."""
    x, y = support.tiny_data()
    y = y.copy()
    y[5] = np.nan
    viewer = TensorViewer(model, x[:4])
    wire = Wire(viewer)
    model.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=[viewer.callback(every_n_batches=2)],
    )
    return viewer, wire


@pytest.mark.timeout(60)
def test_every_message_of_a_nan_run_passes_jupyters_packer(nan_run):
    viewer, wire = nan_run
    assert viewer.stats("out")["nan_count"] == 4, "the run did not go NaN"
    kinds = {content["kind"] for content, _ in wire.custom}
    assert {"step", "snapshot", "status"} <= kinds
    assert wire.packed_errors == [], wire.packed_errors[0]


def _page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    found = re.search(
        r'<script type="application/json" id="kerasviz-data">(.*?)</script>', text, re.S
    )
    assert found, "the page has no data block"

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON (the browser's JSON.parse refuses it)")

    return json.loads(found.group(1), parse_constant=refuse)


@pytest.mark.timeout(60)
def test_the_offline_page_of_a_nan_run_is_strict_json(nan_run, tmp_path):
    viewer, _ = nan_run
    viewer.save_html(tmp_path / "nan.html")
    data = _page_data(tmp_path / "nan.html")
    assert any(m.get("content", m).get("kind") == "snapshot" for m in data["messages"])


# ----------------------------------------------------------------------------- pooling oracle

#: Axes pooled together with one common factor, in the order in which they give way, by rank
#: (docs: "Display layouts" and "Pooling rule" of the reductions).
GROUPS = {
    1: [(0,)],
    2: [(1,), (0,)],
    3: [(1, 2), (0,)],
    4: [(1, 2), (3,), (0,)],
    5: [(1, 2, 3), (4,), (0,)],
}


def pooled_oracle(array: np.ndarray, max_values: int) -> np.ndarray:
    """Block means by the documented rule, by slicing each block out: no shared code."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim > 5:
        a = a.reshape(a.shape[0], -1)
    factors = [1] * a.ndim

    def size() -> int:
        return math.prod(math.ceil(n / f) for n, f in zip(a.shape, factors, strict=True))

    for group in GROUPS[a.ndim]:
        if size() <= max_values:
            break
        for f in range(1, max(a.shape[i] for i in group) + 1):
            for i in group:
                factors[i] = f
            if size() <= max_values:
                break
    shape = [math.ceil(n / f) for n, f in zip(a.shape, factors, strict=True)]
    out = np.empty(shape)
    with np.errstate(invalid="ignore"):
        for index in np.ndindex(*shape):
            block = a[
                tuple(
                    slice(k * f, min((k + 1) * f, n))
                    for k, f, n in zip(index, factors, a.shape, strict=True)
                )
            ]
            out[index] = block.mean()
    finite = np.isfinite(out)
    out[finite] = np.clip(out[finite], -FLOAT16_MAX, FLOAT16_MAX)
    return out.astype(np.float16)


def test_the_oracle_itself_on_a_case_worked_by_hand():
    a = np.arange(10, dtype=np.float64).reshape(1, 10)  # ND: pool D by 3 -> blocks of 3, 3, 3, 1
    np.testing.assert_array_equal(pooled_oracle(a, 4), np.array([[1, 4, 7, 9]], np.float16))


def integer_probe(shape, seed):
    return np.random.default_rng(seed).integers(-50, 50, size=shape).astype(np.float32)


POOLING = {
    "ND ragged": ((3, 10), 8),
    "ND gives way to samples": ((7, 5), 3),
    "NTD common factor": ((2, 9, 7), 20),
    "NHWC ragged image": ((2, 13, 11, 3), 60),
    "NHWC one pixel then channels": ((2, 4, 4, 7), 5),
    "NHWC down to samples": ((5, 2, 2, 3), 2),
    "NDHWC": ((2, 5, 6, 7, 2), 40),
    "bars": ((9,), 4),
    "rank 6 flattened": ((2, 2, 3, 2, 2, 2), 10),
    "nothing to pool": ((2, 3, 3, 1), 1000),
}


def watch_probe(shape, max_values, probe):
    """A viewer that watches only the probe (`input`): the display is the probe, pooled."""
    inputs = keras.Input(shape[1:])
    model = keras.Model(inputs, keras.layers.Activation("linear")(inputs))
    return TensorViewer(model, probe, layers=["input"], max_values=max_values)


def sent_display(wire: Wire, layer: str) -> np.ndarray:
    content, buffers = [(c, b) for c, b in wire.custom if c.get("kind") == "snapshot"][-1]
    assert content["layer"] == layer
    return np.frombuffer(buffers[1], dtype="<f2").reshape(content["display"]["shape"])


@pytest.mark.parametrize("case", sorted(POOLING))
def test_the_display_sent_is_the_oracles_pooling(case):
    shape, max_values = POOLING[case]
    probe = integer_probe(shape, seed=len(case))
    viewer = watch_probe(shape, max_values, probe)
    wire = Wire(viewer)
    viewer.snapshot()
    display = sent_display(wire, "input")
    expected = pooled_oracle(probe, max_values)
    assert display.size <= max_values
    np.testing.assert_array_equal(display, expected)


def test_pooling_of_infinities_nan_and_huge_values_follows_the_rule():
    probe = np.zeros((1, 4, 4, 1), np.float32)
    probe[0, 0, 0, 0] = np.inf  # block (0, 0): +inf
    probe[0, 0, 2, 0], probe[0, 1, 3, 0] = np.inf, -np.inf  # block (0, 1): both: NaN
    probe[0, 2, 0, 0] = np.nan  # block (1, 0): NaN
    probe[0, 2:, 2:, 0] = 3e38  # block (1, 1): finite, far beyond float16: clipped
    viewer = watch_probe(probe.shape, 4, probe)
    wire = Wire(viewer)
    viewer.snapshot()
    display = sent_display(wire, "input")
    np.testing.assert_array_equal(display, pooled_oracle(probe, 4))
    assert display[0, 0, 0, 0] == np.inf and np.isnan(display[0, 0, 1, 0])
    assert np.isnan(display[0, 1, 0, 0]) and display[0, 1, 1, 0] == FLOAT16_MAX


def test_pooling_of_random_floats_is_within_one_float16_step_of_the_oracle():
    probe = np.random.default_rng(3).normal(size=(3, 17, 19, 2)).astype(np.float32)
    viewer = watch_probe(probe.shape, 150, probe)
    wire = Wire(viewer)
    viewer.snapshot()
    display = sent_display(wire, "input").astype(np.float32)
    expected = pooled_oracle(probe, 150).astype(np.float32)
    assert display.shape == expected.shape
    np.testing.assert_allclose(display, expected, rtol=2**-10, atol=2**-24)
