"""The Recorder: what a training script records, and that training always goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from kerasviz_widget.core.reduce import compute_stats, relative_change
from kerasviz_widget.io import protocol

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env() -> dict[str, str]:
    path = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="3")


def oracle(model: keras.Model, probe: np.ndarray, layer: str) -> np.ndarray:
    """A layer's output by the naive route: one sub-model for that layer alone."""
    return keras.Model(model.inputs, model.get_layer(layer).output).predict(probe, verbose=0)


def capture(viewer: TensorViewer) -> list[dict]:
    sent: list[dict] = []
    viewer._canvas.send = lambda content, buffers=None: sent.extend(
        c for c, _ in protocol.unbatch(content, buffers or [])
    )
    return sent


def wait_for(condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)


# ----------------------------------------------------------------- no Jupyter in scripts


def test_importing_the_recorder_imports_no_jupyter_package():
    code = (
        "import sys, kerasviz_widget.recorder, kerasviz_widget\n"
        "kerasviz_widget.Recorder\n"
        "print(sorted(m for m in ('ipywidgets', 'anywidget', 'bqplot') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


# ----------------------------------------------------------------- the run folder


def test_records_epoch_zero_and_every_epoch_and_loads(cnn, data, tmp_path):
    x, y = data
    recorder = Recorder(cnn, x[:4], tmp_path / "run")
    cnn.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[recorder])
    recorder.close()
    viewer = TensorViewer.load(str(tmp_path / "run"))
    assert viewer.epochs == [0, 1, 2]
    assert viewer.layers == ["input", "conv2d", "pool", "flatten", "dense"]
    for layer in ("conv2d", "dense"):
        np.testing.assert_allclose(
            viewer.values(layer, 2), oracle(cnn, x[:4], layer), rtol=1e-5, atol=1e-6
        )
    np.testing.assert_array_equal(viewer.values("input", 0), x[:4])


def test_each_step_carries_its_logs_and_reference_statistics(cnn, data, tmp_path):
    x, y = data
    recorder = Recorder(cnn, x[:4], tmp_path / "run")
    history = cnn.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[recorder])
    viewer = TensorViewer.load(str(tmp_path / "run"))
    assert viewer._history.step(2).logs["loss"] == pytest.approx(history.history["loss"][-1])
    stats = dict(viewer._history.snapshot("dense", 2).stats)
    (entry,) = [c for c in viewer._source.catalog() if c["id"] == "dense"]
    assert entry["bounds"] == [0.0, 1.0]  # a softmax: the run folder carries its saturation
    expected = compute_stats(viewer.values("dense", 2), entry["bounds"])
    # A statistic of two steps, set by the recording session: against the step before.
    before = viewer._history.snapshot("dense", 1).display
    change = relative_change(viewer._history.snapshot("dense", 2).display, before)
    assert stats.pop("relative_change") == change and change > 0
    del expected["relative_change"]
    assert stats.keys() == expected.keys()
    for key, value in expected.items():  # the recording path's sums: to float64 rounding
        want = pytest.approx(value, rel=1e-12, abs=0) if isinstance(value, float) else value
        assert stats[key] == want, key


def test_tensorboard_histograms_count_every_value(cnn, data, tmp_path):
    pytest.importorskip("tensorflow", reason="the TensorBoard export writes with tf.summary")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    recorder = Recorder(cnn, data[0][:4], tmp_path / "run", tensorboard=True)
    cnn.fit(*data, epochs=2, verbose=0, callbacks=[recorder])
    recorder.close()
    viewer = TensorViewer.load(str(tmp_path / "run"))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    assert sorted(events.Tags()["tensors"]) == sorted(f"activations/{i}" for i in viewer.layers)
    for layer in viewer.layers:
        written = events.Tensors(f"activations/{layer}")
        assert [e.step for e in written] == viewer.epochs
        for event in written:
            buckets = tensor_util.make_ndarray(event.tensor_proto)  # rows: left, right, count
            stats = viewer._history.snapshot(layer, event.step).stats
            assert buckets[:, 2].sum() == np.prod(stats["shape"])
            assert buckets[0, 0] == pytest.approx(stats["min"], rel=1e-5, abs=1e-6)
            assert buckets[-1, 1] == pytest.approx(stats["max"], rel=1e-5, abs=1e-6)


def test_bad_every_n_batches_is_rejected(cnn, data, tmp_path):
    with pytest.raises(ValueError, match=r"Recorder received every_n_batches=0.*positive"):
        Recorder(cnn, data[0][:4], tmp_path / "run", every_n_batches=0)


# ----------------------------------------------------------------- never break training


def test_a_write_failure_is_warned_once_and_training_goes_on(cnn, data, tmp_path, monkeypatch):
    recorder = Recorder(cnn, data[0][:4], tmp_path / "run")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(recorder._writer, "write", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = cnn.fit(*data, epochs=3, verbose=0, callbacks=[recorder])
    ours = [w for w in caught if "Recorder could not record" in str(w.message)]
    assert len(ours) == 1 and "disk full" in str(ours[0].message)
    assert len(history.history["loss"]) == 3
