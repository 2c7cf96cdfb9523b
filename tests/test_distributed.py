"""`tf.distribute`: the Recorder on a two-worker cluster, and viewer + Recorder under Mirrored."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasviz_widget import TensorViewer

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tf.distribute works only on the TensorFlow backend "
    "(tests/backends/test_jax_data_parallel.py covers JAX)",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="3", **extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="logits"),
        ]
    )


def recompute(weights_path: str, probe: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output on the probe, in this process, on one device, with saved weights."""
    model = tiny_model()
    with np.load(weights_path, allow_pickle=False) as npz:
        model.set_weights([npz[f"arr_{i}"] for i in range(len(npz.files))])
    return {
        name: keras.Model(model.inputs, model.get_layer(name).output).predict(probe, verbose=0)
        for name in ("hidden", "logits")
    }


# Keras 3's `fit` does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585), so
# the workers train with a custom loop and drive the Recorder's hooks, as a custom loop does.
WORKER = """
import json, sys
import numpy as np, tensorflow as tf, keras
from kerasviz_widget import Recorder
from tests.test_distributed import tiny_model

logdir, weights = sys.argv[1], sys.argv[2]
strategy = tf.distribute.MultiWorkerMirroredStrategy()
keras.utils.set_random_seed(0)
with strategy.scope():
    model = tiny_model()
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
rng = np.random.default_rng(0)
x = rng.random((64, 4), dtype=np.float32)
y = rng.integers(0, 3, 64)
batches = strategy.experimental_distribute_dataset(
    tf.data.Dataset.from_tensor_slices((x, y)).batch(16))

@tf.function
def train_step(batch):
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True)) / 16.0
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return strategy.reduce("SUM", strategy.run(step, args=batch), axis=None)

recorder = Recorder(model, x[:8], logdir)   # every worker makes one; only the chief writes
recorder.set_model(model)
recorder.on_train_begin()
for epoch in range(2):
    recorder.on_epoch_begin(epoch)
    for batch in batches:
        loss = train_step(batch)
    recorder.on_epoch_end(epoch, {"loss": float(loss)})
recorder.on_train_end()
recorder.close()
if recorder.chief:
    np.savez(weights, *model.get_weights())
print(json.dumps({"chief": recorder.chief, "task": recorder.task, "epochs": recorder.epochs}))
"""


def test_only_the_chief_of_two_workers_writes_and_its_values_match_a_recompute(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    logdir = tmp_path / "run"  # one shared folder, as on a shared filesystem
    procs = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(WORKER), str(logdir), str(tmp_path / "w")],
                env=env(TF_CONFIG=json.dumps(config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert results[0] == {"chief": True, "task": "worker:0", "epochs": [0, 1, 2]}
    assert results[1] == {"chief": False, "task": "worker:1", "epochs": []}
    manifest = json.loads((logdir / "manifest.json").read_text())
    assert manifest["task"] == "worker:0"
    assert len(os.listdir(logdir / "steps")) == 3
    viewer = TensorViewer.load(str(logdir))
    probe = np.random.default_rng(0).random((64, 4), dtype=np.float32)[:8]
    np.testing.assert_array_equal(viewer.values("input"), probe)
    for layer, values in recompute(str(tmp_path / "w.npz"), probe).items():
        np.testing.assert_allclose(viewer.values(layer, 2), values, rtol=1e-5, atol=1e-6)


MIRRORED = """
import sys, warnings
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
import numpy as np, keras
from kerasviz_widget import Recorder, TensorViewer
from tests.test_distributed import tiny_model

logdir, weights, viewed = sys.argv[1], sys.argv[2], sys.argv[3]
warnings.simplefilter("error", RuntimeWarning)  # a recording failure would only be warned
keras.utils.set_random_seed(0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    model = tiny_model()
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
x = rng.random((64, 4), dtype=np.float32)
y = rng.integers(0, 3, 64)
viewer = TensorViewer(model, x[:8])
recorder = Recorder(model, x[:8], logdir)
model.fit(x, y, epochs=2, batch_size=16, verbose=0,
          callbacks=[viewer.callback(), recorder])
recorder.close()
np.savez(weights, *model.get_weights())
np.savez(viewed, **{name: viewer.values(name) for name in ("hidden", "logits")})
print(viewer.epochs)
"""


def test_viewer_and_recorder_under_mirrored_strategy_match_a_recompute(tmp_path):
    logdir, weights, viewed = tmp_path / "run", tmp_path / "w.npz", tmp_path / "viewed.npz"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MIRRORED), str(logdir), str(weights), str(viewed)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[0, 1, 2]"
    probe = np.random.default_rng(0).random((64, 4), dtype=np.float32)[:8]
    expected = recompute(str(weights), probe)
    loaded = TensorViewer.load(str(logdir))
    assert loaded.epochs == [0, 1, 2]
    with np.load(viewed, allow_pickle=False) as in_notebook:
        for layer, values in expected.items():
            np.testing.assert_allclose(loaded.values(layer, 2), values, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(in_notebook[layer], values, rtol=1e-5, atol=1e-6)
