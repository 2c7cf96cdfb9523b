"""Every model kind, end to end, on whichever Keras backend runs the tests (`KERAS_BACKEND`).

The same module runs under TensorFlow, JAX and PyTorch. Each model kind of the extraction tests
(Sequential, Functional, nested, subclassed, multi-input/output, shared layers) goes through the
viewer (build, `callback()` during `fit`, `snapshot()`), `layer_output` and the `Recorder` (then
`TensorViewer.load`), and every recorded value is checked against the extraction tests' oracles: a
fresh sub-model's `predict` for a graph output, the layers called by hand for the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import warnings

import keras
import numpy as np
import pytest
from keras import layers

from kerasviz_widget import Recorder, TensorViewer, layer_output
from kerasviz_widget.core.callback import RecordingCallback
from kerasviz_widget.core.extract import Extractor, sync_trainer_state
from tests.adversarial import support

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKEND = keras.backend.backend()
RTOL = 1e-5
ATOL = 1e-6


class Pace(keras.callbacks.Callback):
    """A clock that training moves by 1000 s a batch: snapshots look free to the throttle."""

    def __init__(self):
        super().__init__()
        self.now = 0.0

    def __call__(self):
        return self.now

    def on_train_batch_begin(self, batch, logs=None):
        self.now += 1000.0


def _np(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _predict(model, tensor, x):
    """The extraction tests' graph oracle: a fresh sub-model's `predict`."""
    return keras.Model(model.inputs, tensor).predict(x, verbose=0)


# ----------------------------------------------------------------------------- model kinds
# Each kind: (model, probe, fit inputs, fit targets, oracle). `oracle(model, probe)` returns the
# expected value of some watched ids from the model's current weights.


def _sequential():
    model = keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(8, activation="relu", name="h"),
            layers.Dense(3, name="o"),
        ]
    )

    def oracle(m, x):
        return {lid: _predict(m, m.get_layer(lid).output, x) for lid in ("h", "o")}

    return model, _x(4, 6), _x(16, 6, seed=1), _x(16, 3, seed=2), oracle


def _functional():
    inp = keras.Input((6,))
    a = layers.Dense(4, name="a")(inp)
    b = layers.Dense(4, name="b")(inp)
    s = layers.Add(name="add")([a, b])
    out = layers.Dense(2, name="out")(layers.Concatenate(name="cat")([s, a]))
    model = keras.Model(inp, out)

    def oracle(m, x):
        return {lid: _predict(m, m.get_layer(lid).output, x) for lid in ("a", "add", "cat", "out")}

    return model, _x(4, 6), _x(16, 6, seed=1), _x(16, 2, seed=2), oracle


def _nested():
    encoder = keras.Sequential(
        [keras.Input((6,)), layers.Dense(5, name="d1"), layers.Dense(3, name="d2")],
        name="encoder",
    )
    inp = keras.Input((6,))
    model = keras.Model(inp, layers.Dense(2, name="head")(encoder(inp)))

    def oracle(m, x):
        enc = m.get_layer("encoder")
        d1 = _np(enc.get_layer("d1")(x))
        return {
            "encoder/d1": d1,
            "encoder/d2": _np(enc.get_layer("d2")(d1)),
            "head": _predict(m, m.get_layer("head").output, x),
        }

    return model, _x(4, 6), _x(16, 6, seed=1), _x(16, 2, seed=2), oracle


class Branchy(keras.Model):
    """A subclassed model with Python control flow in `call`."""

    def __init__(self):
        super().__init__()
        self.stem = layers.Dense(4, name="stem")
        self.blocks = [layers.Dense(4, activation="relu", name=f"block{i}") for i in range(2)]
        self.head = layers.Dense(2, name="head")

    def call(self, x, training=False):
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


def _subclassed():
    model = Branchy()
    model(_x(1, 6))

    def oracle(m, x):
        h = _np(m.stem(x))
        out = {"stem": h}
        for block in m.blocks:
            out[block.name] = _np(block(h))
            h = h + out[block.name]
        out["head"] = _np(m.head(h))
        return out

    return model, _x(4, 6), _x(16, 6, seed=1), _x(16, 2, seed=2), oracle


def _multi_io():
    i1 = keras.Input((3,), name="left")
    i2 = keras.Input((2,), name="right")
    h = layers.Concatenate(name="cat")([i1, i2])
    model = keras.Model([i1, i2], [layers.Dense(2, name="o1")(h), layers.Dense(1, name="o2")(h)])
    fit_x = {"left": _x(16, 3, seed=1), "right": _x(16, 2, seed=3)}
    fit_y = [_x(16, 2, seed=2), _x(16, 1, seed=4)]

    def oracle(m, x):
        flat = [x["left"], x["right"]]
        return {lid: _predict(m, m.get_layer(lid).output, flat) for lid in ("cat", "o1", "o2")}

    return model, {"left": _x(4, 3), "right": _x(4, 2, seed=5)}, fit_x, fit_y, oracle


def _shared():
    shared = layers.Dense(3, name="shared")
    i1 = keras.Input((3,), name="p")
    i2 = keras.Input((3,), name="q")
    a, b = shared(i1), shared(i2)
    model = keras.Model([i1, i2], layers.Add(name="add")([a, b]))

    def oracle(m, x):
        return {"shared": _predict(m, a, x), "shared@1": _predict(m, b, x)}

    fit_x = [_x(16, 3, seed=1), _x(16, 3, seed=3)]
    return model, [_x(4, 3), _x(4, 3, seed=5)], fit_x, _x(16, 3, seed=2), oracle


KINDS = {
    "sequential": _sequential,
    "functional": _functional,
    "nested": _nested,
    "subclassed": _subclassed,
    "multi_io": _multi_io,
    "shared": _shared,
}


@pytest.fixture(params=list(KINDS))
def kind(request):
    keras.utils.set_random_seed(0)
    model, probe, fit_x, fit_y, oracle = KINDS[request.param]()
    model.compile(optimizer="adam", loss="mse")
    return model, probe, fit_x, fit_y, oracle


def _assert_matches(values, expected):
    assert expected
    for lid, want in expected.items():
        np.testing.assert_allclose(values(lid), want, rtol=RTOL, atol=ATOL, err_msg=lid)


# ----------------------------------------------------------------------------- viewer


@pytest.mark.parametrize("where", ["worker", "inline"])
def test_viewer_callback_and_snapshot_match_the_oracle(kind, where, monkeypatch):
    """Steps finished on the worker, or after the first on the training thread, hold the same
    values (`core.session.INLINE_SECONDS`)."""
    model, probe, fit_x, fit_y, oracle = kind
    viewer = TensorViewer(model, probe)
    support.finish_steps(monkeypatch, where)
    _assert_matches(lambda lid: viewer.values(lid, 0), oracle(model, probe))
    pace = Pace()
    callback = RecordingCallback(viewer._source.session, every_n_batches=2, clock=pace)
    model.fit(fit_x, fit_y, epochs=2, batch_size=4, verbose=0, callbacks=[pace, callback])
    assert viewer.epochs == [0, 0.5, 1, 1.5, 2]
    np.testing.assert_allclose(
        viewer.values(viewer.layers[-1], 2), viewer.values(viewer.layers[-1])
    )
    _assert_matches(lambda lid: viewer.values(lid, 2), oracle(model, probe))
    before = viewer.values(viewer.layers[-1], 0)
    assert not np.allclose(viewer.values(viewer.layers[-1], 2), before)  # training moved it
    model.fit(fit_x, fit_y, epochs=1, batch_size=4, verbose=0)
    assert viewer.snapshot() == 3
    _assert_matches(lambda lid: viewer.values(lid, 3), oracle(model, probe))


def test_layer_output_matches_the_oracle(kind):
    model, probe, _, _, oracle = kind
    for lid, want in oracle(model, probe).items():
        np.testing.assert_allclose(layer_output(model, lid, probe), want, rtol=RTOL, atol=ATOL)


def test_recorder_then_load_matches_the_oracle(kind, tmp_path):
    model, probe, fit_x, fit_y, oracle = kind
    recorder = Recorder(model, probe, tmp_path / "run")
    model.fit(fit_x, fit_y, epochs=2, batch_size=8, verbose=0, callbacks=[recorder])
    recorder.close()
    loaded = TensorViewer.load(str(tmp_path / "run"))
    assert loaded.epochs == [0, 1, 2]
    _assert_matches(lambda lid: loaded.values(lid, 2), oracle(model, probe))


def test_no_keras_warning_on_build_and_snapshot(kind):
    model, probe, _, _, _ = kind
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        viewer = TensorViewer(model, probe)
        viewer.snapshot()
        layer_output(model, viewer.layers[-1], probe)
    assert viewer.epochs == [0, 1]


# ----------------------------------------------------------------------------- compiled path


def test_compiled_extraction_reads_the_current_weights():
    keras.utils.set_random_seed(0)
    model, probe, _, _, oracle = _nested()
    extractor = Extractor(model)
    first = extractor(probe)
    for weight in model.weights:
        weight.assign(_np(weight) * 0.5 + 0.1)
    second = extractor(probe)
    _assert_matches(lambda lid: second[lid], oracle(model, probe))
    assert not np.allclose(first["head"], second["head"])
    for _ in range(5):
        extractor(probe)
    assert extractor.trace_count == 1  # one compiled function, reused


@pytest.mark.parametrize("where", ["worker", "inline"])
def test_per_batch_snapshots_do_not_change_what_fit_computes(where, monkeypatch):
    support.finish_steps(monkeypatch, where)

    def train(with_viewer):
        keras.utils.set_random_seed(1)
        model, probe, fit_x, fit_y, _ = _nested()
        model.compile(optimizer="adam", loss="mse")
        viewer = TensorViewer(model, probe)
        pace = Pace()
        callbacks = (
            [pace, RecordingCallback(viewer._source.session, 1, clock=pace)] if with_viewer else []
        )
        model.fit(fit_x, fit_y, epochs=2, batch_size=4, verbose=0, callbacks=callbacks)
        return [_np(w) for w in model.weights]

    for a, b in zip(train(False), train(True), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_step_fetched_late_holds_the_values_of_its_own_moment():
    # The probe is evaluated on the training thread and its results are fetched on the worker;
    # on JAX the device computes in the background while the next train steps run (and donate
    # the weight buffers). A worker held up for several batches still records, for each step,
    # the values of the weights at that step.
    keras.utils.set_random_seed(3)
    model, probe, fit_x, fit_y, oracle = _nested()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    viewer = TensorViewer(model, probe)
    session = viewer._source.session
    gate = threading.Event()
    weights = {}

    class Keep(keras.callbacks.Callback):
        """Keeps the weights each per-batch step sees, and lets the worker go at batch 3."""

        def on_train_batch_begin(self, batch, logs=None):
            sync_trainer_state(self.model)
            weights[batch] = [_np(w) for w in self.model.weights]
            if batch == 3:
                gate.set()

    session._worker.submit(lambda: gate.wait(60), lambda e: None)
    pace = Pace()
    callback = RecordingCallback(session, every_n_batches=1, clock=pace)
    model.fit(fit_x, fit_y, epochs=1, batch_size=4, verbose=0, callbacks=[Keep(), pace, callback])
    assert viewer.epochs == [0, 0.25, 0.5, 0.75, 1]
    last = [_np(w) for w in model.weights]
    for batch, epoch in ((1, 0.25), (2, 0.5), (3, 0.75)):
        model.set_weights(weights[batch])
        _assert_matches(lambda lid, epoch=epoch: viewer.values(lid, epoch), oracle(model, probe))
    assert not np.allclose(viewer.values("head", 0.25), viewer.values("head", 0.75))
    model.set_weights(last)
    _assert_matches(lambda lid: viewer.values(lid, 1), oracle(model, probe))


def test_custom_training_loop_records_with_snapshot():
    keras.utils.set_random_seed(0)
    model, probe, fit_x, fit_y, oracle = _subclassed()
    model.compile(optimizer="adam", loss="mse")
    viewer = TensorViewer(model, probe)
    for step in range(2):
        loss = model.train_on_batch(fit_x, fit_y)
        assert viewer.snapshot(logs={"loss": loss}) == step + 1
    assert viewer._history.step(2).logs == {"loss": pytest.approx(float(loss))}
    _assert_matches(lambda lid: viewer.values(lid), oracle(model, probe))


# ----------------------------------------------------------------------------- TensorFlow optional

NO_TF = """
import os, sys
import keras, numpy as np
from kerasviz_widget import Recorder, TensorViewer
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
model.compile("sgd", "mse")
x = np.ones((8, 3), "float32")
recorder = Recorder(model, x[:2], os.path.join(sys.argv[1], "run"), every_n_batches=1)
class Pace(keras.callbacks.Callback):  # training moves the clock: steps look free
    now = 0.0
    def on_train_batch_begin(self, batch, logs=None):
        Pace.now += 1000.0
recorder.clock = lambda: Pace.now
model.fit(x, x[:, :2], epochs=1, batch_size=4, verbose=0, callbacks=[Pace(), recorder])
recorder.close()
loaded = TensorViewer.load(os.path.join(sys.argv[1], "run"))
followed = TensorViewer.follow(os.path.join(sys.argv[1], "run"))
followed.close()
assert loaded.epochs == [0, 0.5, 1], loaded.epochs
print("tensorflow" in sys.modules)
"""


@pytest.mark.skipif(BACKEND == "tensorflow", reason="Keras' TensorFlow backend imports TensorFlow")
def test_recorder_load_and_follow_never_import_tensorflow(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NO_TF), str(tmp_path)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_tensorboard_without_tensorflow_says_how_to_fix(monkeypatch, tmp_path):
    model, probe, *_ = _sequential()
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"tensorboard=True.*pip install tensorflow.*False"):
        Recorder(model, probe, tmp_path / "run", tensorboard=True)


def test_a_url_logdir_without_tensorflow_says_how_to_fix(monkeypatch):
    model, probe, *_ = _sequential()
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match=r"'gs://bucket/run' is not a local path.*tf\.io\.gfile"):
        Recorder(model, probe, "gs://bucket/run")
