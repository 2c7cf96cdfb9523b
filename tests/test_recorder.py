"""The Recorder and run folders: what a script writes, what a notebook loads and follows."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import keras
import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from kerasviz_widget.core.history import History
from kerasviz_widget.core.reduce import compute_stats
from kerasviz_widget.io import runfolder as runlog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env() -> dict[str, str]:
    path = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="3")


def oracle(model: keras.Model, probe: np.ndarray, layer: str) -> np.ndarray:
    """A layer's output by the naive route: one sub-model for that layer alone."""
    return keras.Model(model.inputs, model.get_layer(layer).output).predict(probe, verbose=0)


def capture(viewer: TensorViewer) -> list[dict]:
    sent: list[dict] = []
    viewer._canvas.send = lambda content, buffers=None: sent.append(content)
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
    stats = viewer._history.snapshot("dense", 2).stats
    expected = compute_stats(viewer.values("dense", 2))
    assert stats == expected


def test_every_file_is_json_or_an_npz_that_loads_without_pickle(cnn, data, tmp_path):
    recorder = Recorder(cnn, data[0][:4], tmp_path / "run")
    cnn.fit(*data, epochs=1, verbose=0, callbacks=[recorder])
    recorder.close()
    files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "run") for f in fs]
    assert {os.path.basename(f) for f in files} >= {"manifest.json", "probe.npz"}
    for path in files:
        if path.endswith(".json"):
            json.loads(pathlib.Path(path).read_text())
        else:
            with np.load(path, allow_pickle=False) as npz:
                assert all(npz[k].dtype != object for k in npz.files)


def test_folder_thins_full_arrays_by_the_history_rule(cnn, data, tmp_path):
    x, y = data
    # What one step costs the history: full arrays, displays, statistics and bookkeeping.
    per_step = TensorViewer(cnn, x[:4])._history.charged_bytes
    budget = 3.5 * per_step
    recorder = Recorder(cnn, x[:4], tmp_path / "run", budget_mb=budget / 2**20)
    cnn.fit(x, y, epochs=6, batch_size=32, verbose=0, callbacks=[recorder])
    viewer = TensorViewer.load(str(tmp_path / "run"))
    rule = History(int(budget))
    for label in viewer.epochs:
        snaps = {lid: viewer._history.snapshot(lid, label) for lid in viewer.layers}
        arrays = {lid: np.zeros(s.stats["shape"], np.float32) for lid, s in snaps.items()}
        rule.add(viewer._history.step(label), arrays, snaps)
    kept = viewer._history.kept_epochs
    assert kept == rule.kept_epochs
    assert kept[0] == 0 and kept[-1] == 6 and len(kept) < 7
    thinned = next(e for e in viewer.epochs if e not in kept)
    with pytest.raises(KeyError, match="thinned away"):
        viewer.values("dense", thinned)
    assert viewer._history.snapshot("dense", thinned).stats["shape"] == (4, 10)


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


# ----------------------------------------------------------------- bad input


def test_load_of_a_folder_that_is_not_a_run_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"not a kerasviz_widget run folder.*no manifest.*notes"):
        TensorViewer.load(str(tmp_path))


def test_load_of_a_missing_folder_says_so(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        TensorViewer.load(str(tmp_path / "nowhere"))


def test_a_newer_format_names_both_versions(cnn, data, tmp_path):
    Recorder(cnn, data[0][:4], tmp_path / "run").close()
    path = tmp_path / "run" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["version"] = runlog.FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest))
    newer, ours = runlog.FORMAT_VERSION + 1, runlog.FORMAT_VERSION
    with pytest.raises(ValueError, match=rf"format version {newer}.*versions up to {ours}.*pip"):
        TensorViewer.load(str(tmp_path / "run"))


def test_a_second_recorder_on_the_same_folder_refuses_with_the_fix(cnn, data, tmp_path):
    first = Recorder(cnn, data[0][:4], tmp_path / "run")
    with pytest.raises(RuntimeError, match=r"Another Recorder is writing.*own `logdir`.*close"):
        Recorder(cnn, data[0][:4], tmp_path / "run")
    first.close()


def test_a_folder_with_a_finished_run_is_not_overwritten(cnn, data, tmp_path):
    first = Recorder(cnn, data[0][:4], tmp_path / "run")
    cnn.fit(*data, epochs=1, verbose=0, callbacks=[first])
    first.close()
    with pytest.raises(ValueError, match="already holds a recorded run"):
        Recorder(cnn, data[0][:4], tmp_path / "run")
    assert TensorViewer.load(str(tmp_path / "run")).epochs == [0, 1]


def test_a_lock_left_by_a_dead_process_is_taken_over(cnn, data, tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / "run").mkdir()
    lock = {"host": socket.gethostname(), "pid": int(dead.stdout), "token": "x"}
    (tmp_path / "run" / "LOCK").write_text(json.dumps(lock))
    with pytest.warns(RuntimeWarning, match="no longer running"):
        Recorder(cnn, data[0][:4], tmp_path / "run").close()


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


# ----------------------------------------------------------------- following, in process


def test_follow_streams_steps_written_after_it_started(cnn, data, tmp_path):
    x, y = data
    recorder = Recorder(cnn, x[:4], tmp_path / "run")
    recorder.set_model(cnn)
    recorder.on_train_begin()
    viewer = TensorViewer.follow(str(tmp_path / "run"), poll_seconds=0.05)
    sent = capture(viewer)
    assert viewer.epochs == [0]
    cnn.fit(x, y, epochs=1, verbose=0)
    recorder.on_epoch_end(0, {"loss": 1.5})
    wait_for(lambda: viewer.epochs == [0, 1])
    wait_for(lambda: sum(m["kind"] == "snapshot" for m in sent) == len(viewer.layers))
    assert [m["epoch"] for m in sent if m["kind"] == "step"] == [1]
    assert {m["layer"] for m in sent if m["kind"] == "snapshot"} == set(viewer.layers)
    np.testing.assert_allclose(viewer.values("dense", 1), oracle(cnn, x[:4], "dense"), rtol=1e-5)
    viewer.close()
    recorder.close()


def test_follow_stops_polling_when_the_widget_is_closed(cnn, data, tmp_path):
    Recorder(cnn, data[0][:4], tmp_path / "run").close()
    viewer = TensorViewer.follow(str(tmp_path / "run"), poll_seconds=0.05)
    assert viewer._follower.is_alive()
    viewer.close()
    viewer._follower.join(timeout=5)
    assert not viewer._follower.is_alive()


def test_a_viewer_of_a_run_cannot_record(cnn, data, tmp_path):
    Recorder(cnn, data[0][:4], tmp_path / "run").close()
    viewer = TensorViewer.load(str(tmp_path / "run"))
    with pytest.raises(RuntimeError, match="recorded run and has no model to evaluate"):
        viewer.snapshot()


# ----------------------------------------------------------------- a script, followed live

SCRIPT = """
import os, signal, sys, time
import numpy as np, keras
from kerasviz_widget import Recorder
from kerasviz_widget.io import runfolder as runlog
from tests.conftest import small_cnn

logdir, out = sys.argv[1], sys.argv[2]
model = small_cnn()
rng = np.random.default_rng(0)
x = rng.random((64, 8, 8, 1), dtype=np.float32)
y = rng.integers(0, 10, 64)
probe = x[:4]

class Expected(keras.callbacks.Callback):
    # What the script computes itself for every step, by the naive route, saved before the
    # Recorder writes the step.
    def save(self, label):
        arrays = {l.name: keras.Model(model.inputs, l.output).predict(probe, verbose=0)
                  for l in model.layers}
        np.savez(os.path.join(out, f"expected-{label}.npz"), **arrays)
    def on_train_begin(self, logs=None):
        self.save(0)
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:  # wait until the notebook follows
            while not os.path.exists(os.path.join(out, "go")):
                time.sleep(0.05)
    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1)

def crash(tmp):
    # Die in the middle of writing the fourth step: after its temporary file, before the rename.
    if runlog.step_name(3) in tmp:
        os.kill(os.getpid(), signal.SIGKILL)

runlog._before_rename = crash
recorder = Recorder(model, probe, logdir)
model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[Expected(), recorder])
"""


@pytest.fixture(scope="module")
def followed_script(tmp_path_factory):
    """Run a training script that a viewer follows, and that is killed during its 4th write."""
    root = tmp_path_factory.mktemp("script")
    logdir, out = root / "run", root / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(logdir), str(out)],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: runlog.is_run(logdir) or proc.poll() is not None, timeout=240)
        viewer = TensorViewer.follow(str(logdir), poll_seconds=0.1)
        sent = capture(viewer)
        initial = list(viewer.epochs)
        wait_for(lambda: 1 in viewer.epochs or proc.poll() is not None, timeout=120)
        seen_before_go = list(viewer.epochs)
        (out / "go").write_text("")
        _, stderr = proc.communicate(timeout=240)
        time.sleep(0.5)  # one more poll
        viewer.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    return {
        "returncode": proc.returncode,
        "stderr": stderr,
        "viewer": viewer,
        "sent": sent,
        "seen_before_go": seen_before_go,
        "initial": initial,
        "logdir": str(logdir),
        "out": out,
    }


def expected(out, label: int) -> dict[str, np.ndarray]:
    with np.load(out / f"expected-{label}.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_a_following_viewer_receives_new_epochs_with_the_recorded_values(followed_script):
    run = followed_script
    viewer, sent = run["viewer"], run["sent"]
    assert run["seen_before_go"] == [0, 1]
    assert viewer.epochs == [0, 1, 2]
    streamed = [m["epoch"] for m in sent if m["kind"] == "step"]
    assert streamed == [e for e in (0, 1, 2) if e not in run["initial"]]
    assert 2 in streamed
    layers = [m["layer"] for m in sent if m["kind"] == "snapshot" and m["epoch"] == 2]
    assert layers == viewer.layers
    for label in (0, 1, 2):
        for layer, values in expected(run["out"], label).items():
            np.testing.assert_allclose(viewer.values(layer, label), values, rtol=1e-5, atol=1e-6)


def test_a_script_killed_in_the_middle_of_a_write_leaves_a_run_that_loads(followed_script):
    run = followed_script
    assert run["returncode"] == -9, run["stderr"][-2000:]
    steps = os.listdir(os.path.join(run["logdir"], "steps"))
    assert any(".tmp-" in name and runlog.step_name(3) in name for name in steps)
    viewer = TensorViewer.load(run["logdir"])
    assert viewer.epochs == [0, 1, 2]
    for layer, values in expected(run["out"], 2).items():
        np.testing.assert_allclose(viewer.values(layer, 2), values, rtol=1e-5, atol=1e-6)
