"""JAX beyond one device: viewer and Recorder under `keras.distribution.DataParallel`.

A subprocess (JAX reads `XLA_FLAGS` once, at import) trains on two host devices with a viewer's
callback and a Recorder; this process recomputes every layer on one device from the saved weights,
as the `tf.distribute` tests do for `MirroredStrategy`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasviz_widget import TensorViewer

pytest.importorskip(
    "jax", reason="keras.distribution runs on the JAX backend; JAX is not installed"
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="logits"),
        ]
    )


DATA_PARALLEL = """
import sys, warnings
import jax, keras, numpy as np
from kerasviz_widget import Recorder, TensorViewer
from kerasviz_widget.core.callback import RecordingCallback
from tests.backends.test_jax_data_parallel import tiny_model

logdir, weights, viewed = sys.argv[1], sys.argv[2], sys.argv[3]
warnings.simplefilter("error", RuntimeWarning)  # a recording failure would only be warned
devices = keras.distribution.list_devices()
assert len(devices) == 2, devices
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
keras.utils.set_random_seed(0)
model = tiny_model()
model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
assert len(model.weights[0].value.sharding.device_set) == 2  # replicated on both devices
rng = np.random.default_rng(0)
x = rng.random((64, 4), dtype=np.float32)
y = rng.integers(0, 3, 64)
viewer = TensorViewer(model, x[:8])
recorder = Recorder(model, x[:8], logdir, every_n_batches=2)
class Pace(keras.callbacks.Callback):  # training moves the clock: steps look free
    now = 0.0
    def on_train_batch_begin(self, batch, logs=None):
        Pace.now += 1000.0
recorder.clock = lambda: Pace.now
callback = RecordingCallback(viewer._source.session, every_n_batches=2, clock=lambda: Pace.now)
model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[Pace(), callback, recorder])
recorder.close()
np.savez(weights, *[np.asarray(w) for w in model.get_weights()])
np.savez(viewed, **{name: viewer.values(name) for name in ("hidden", "logits")})
print(viewer.epochs)
"""


def recompute(weights_path: str, probe: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output on the probe, in this process, on one device, with saved weights."""
    model = tiny_model()
    with np.load(weights_path, allow_pickle=False) as npz:
        model.set_weights([npz[f"arr_{i}"] for i in range(len(npz.files))])
    return {
        name: keras.Model(model.inputs, model.get_layer(name).output).predict(probe, verbose=0)
        for name in ("hidden", "logits")
    }


def test_viewer_and_recorder_under_data_parallel_match_a_recompute(tmp_path):
    logdir, weights, viewed = tmp_path / "run", tmp_path / "w.npz", tmp_path / "viewed.npz"
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DATA_PARALLEL), str(logdir), str(weights)]
        + [str(viewed)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[0, 0.5, 1, 1.5, 2]"
    probe = np.random.default_rng(0).random((64, 4), dtype=np.float32)[:8]
    expected = recompute(str(weights), probe)
    loaded = TensorViewer.load(str(logdir))
    assert loaded.epochs == [0, 0.5, 1, 1.5, 2]
    with np.load(viewed, allow_pickle=False) as in_notebook:
        for layer, values in expected.items():
            np.testing.assert_allclose(loaded.values(layer, 2), values, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(in_notebook[layer], values, rtol=1e-5, atol=1e-6)
