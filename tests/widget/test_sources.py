"""Sources of a viewer's steps: a run folder followed while a script writes it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from kerasviz_widget.io import runfolder as runlog
from tests.test_recorder import capture, env, oracle, wait_for

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
    assert viewer._source.thread.is_alive()
    viewer.close()
    viewer._source.thread.join(timeout=5)
    assert not viewer._source.thread.is_alive()


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
from kerasviz_widget.io import files, runfolder as runlog
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

files._before_rename = crash
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
