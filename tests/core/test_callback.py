"""The callback: when it records, what each step carries, the throttle, and that training goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest

from kerasviz_widget import TensorViewer
from kerasviz_widget.core.callback import RecordingCallback
from kerasviz_widget.io import protocol
from tests.conftest import small_cnn

TF_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tf.GradientTape and tf.distribute work only on the TensorFlow backend "
    "(tests/backends covers the other backends)",
)


def capture(viewer: TensorViewer) -> list[dict]:
    """Record the content of every message the viewer sends from now on."""
    sent: list[dict] = []
    viewer._canvas.send = lambda content, buffers=None: sent.extend(
        c for c, _ in protocol.unbatch(content, buffers or [])
    )
    return sent


class Clock:
    """A clock the test moves by hand: training and snapshot costs become deterministic."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


BATCH = 100.0
"""Fake seconds per batch where a test needs every due snapshot taken: the worker's time is real
(a numba kernel compiled on first use takes about a second) and counts against the throttle's 5%
of the fake training time, which this keeps far out of reach."""


class Pace(keras.callbacks.Callback):
    """Advances a fake clock by `seconds` for every training batch."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def on_train_batch_end(self, batch, logs=None):
        self.clock.now += self.seconds


class PaceAtBegin(Pace):
    """`Pace` from the batch-begin hook: with no batch-end hook but the viewer's (which is
    `async_safe`), Keras runs batch ends asynchronously, as in a plain `fit`."""

    def on_train_batch_begin(self, batch, logs=None):
        self.clock.now += self.seconds

    on_train_batch_end = keras.callbacks.Callback.on_train_batch_end


def costly(viewer: TensorViewer, clock: Clock, seconds: float) -> list[float]:
    """Make every recording cost `seconds` on the fake clock; returns the labels recorded."""
    labels: list[float] = []
    session = viewer._source.session
    record = session.record
    session.background = False  # every cost on the fake clock

    def timed(**kwargs):
        labels.append(kwargs["epoch"])
        clock.now += seconds
        return record(**kwargs)

    session.record = timed
    return labels


# ----------------------------------------------------------------- when and what it records


def test_every_n_batches_records_fractional_epochs_between_epoch_ends(cnn, data):
    x, y = data  # 64 samples, batch 8: 8 steps per epoch, a snapshot every 4 batches
    viewer = TensorViewer(cnn, x[:8])
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=4, clock=clock)
    cnn.fit(x, y, epochs=2, batch_size=8, callbacks=[Pace(clock, BATCH), cb], verbose=0)
    assert viewer.epochs == [0, 0.5, 1, 1.5, 2]
    assert cb.skipped == 0 and cb.taken == 2
    assert viewer._history.step(1.5).batch == 3
    assert viewer._history.step(2).batch is None


def test_logs_and_validation_metrics_travel_with_each_step(cnn, data):
    x, y = data
    cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    viewer = TensorViewer(cnn, x[:8])
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=2, clock=clock)
    history = cnn.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        validation_split=0.5,
        callbacks=[Pace(clock, BATCH), cb],
        verbose=0,
    )
    end = viewer._history.step(2).logs
    assert set(end) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert end["val_loss"] == pytest.approx(history.history["val_loss"][-1])
    inside = viewer._history.step(1.5).logs
    assert {"loss", "accuracy"} <= set(inside) and "val_loss" not in inside


class BatchLogs(keras.callbacks.Callback):
    """Keeps the logs Keras gives at the end of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.logs: list[dict[str, float]] = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: float(v) for k, v in logs.items()})


def test_a_per_batch_step_carries_the_logs_of_the_batch_it_follows(cnn, data):
    x, y = data  # 8 batches per epoch, a snapshot every 3: after batches 3 and 6 of each epoch
    cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    viewer = TensorViewer(cnn, x[:8])
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=3, clock=clock)
    spy = BatchLogs()
    cnn.fit(x, y, epochs=2, batch_size=8, callbacks=[Pace(clock, BATCH), spy, cb], verbose=0)
    assert viewer.epochs == [0, 0.375, 0.75, 1, 1.375, 1.75, 2]
    for label, index in ((0.375, 2), (0.75, 5), (1.375, 10), (1.75, 13)):
        step = viewer._history.step(label)
        assert step.batch == index % 8
        assert step.logs == pytest.approx(spy.logs[index], rel=1e-6)
    assert spy.logs[2] != pytest.approx(spy.logs[5])  # the logs move: the check can tell


def test_step_messages_carry_epoch_batch_and_logs(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    sent = capture(viewer)
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=4, clock=clock)
    cnn.fit(x, y, epochs=1, batch_size=8, callbacks=[Pace(clock, BATCH), cb], verbose=0)
    steps = [c for c in sent if c["kind"] == "step"]
    assert [(s["epoch"], s["batch"]) for s in steps] == [(0.5, 3), (1, None)]
    assert all(isinstance(s["logs"]["loss"], float) for s in steps)
    assert not any(c["kind"] == "step" and c["epoch"] == 0 for c in sent), "epoch 0 re-recorded"
    assert not any("epoch" in c and c["kind"] == "status" for c in sent)


def test_epoch_zero_is_recorded_by_the_callback_when_the_history_is_empty(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    before = viewer.values("dense", 0).copy()
    empty = type(viewer._history)(viewer._history.budget_bytes)  # as after a reset
    viewer._history = viewer._source.session.store = viewer._front_end.history = empty
    cnn.fit(x, y, epochs=1, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    assert viewer.epochs == [0, 1]
    np.testing.assert_allclose(viewer.values("dense", 0), before, rtol=1e-6)


def test_a_second_fit_continues_the_epoch_numbering(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    cb = viewer.callback()
    cnn.fit(x, y, epochs=2, batch_size=32, callbacks=[cb], verbose=0)
    cnn.fit(x, y, epochs=2, batch_size=32, callbacks=[cb], verbose=0)
    assert viewer.epochs == [0, 1, 2, 3, 4]


def test_initial_epoch_is_respected(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    cnn.fit(x, y, epochs=2, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    first = viewer.values("dense", 2).copy()
    cnn.fit(
        x, y, epochs=4, initial_epoch=2, batch_size=32, callbacks=[viewer.callback()], verbose=0
    )
    assert viewer.epochs == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(viewer.values("dense", 2), first)


def test_callback_rejects_a_bad_every_n_batches(cnn, data):
    viewer = TensorViewer(cnn, data[0][:8])
    with pytest.raises(ValueError, match=r"every_n_batches=0.*positive integer"):
        viewer.callback(every_n_batches=0)
    with pytest.raises(ValueError, match=r"every_n_batches=2.5"):
        viewer.callback(every_n_batches=2.5)


# ----------------------------------------------------------------- the throttle


def test_throttle_keeps_per_batch_snapshots_under_five_percent(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=1, clock=clock)
    recorded = costly(viewer, clock, 0.2)  # a snapshot costs 0.2 s, a batch 1 s
    cnn.fit(x, y, epochs=3, batch_size=4, callbacks=[Pace(clock, 1.0), cb], verbose=0)
    per_batch = [e for e in recorded if not float(e).is_integer()]
    due = 3 * 15  # 16 batches per epoch, the 16th is the epoch end
    assert cb.taken == len(per_batch) > 0
    assert cb.skipped == due - cb.taken > 0
    training = 3 * 16 * 1.0
    assert 0.2 * len(recorded) <= 0.05 * training + 0.2  # at most one snapshot over budget


def test_cheap_snapshots_are_never_skipped(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=1, clock=clock)
    costly(viewer, clock, 0.01)  # 1% of a batch
    cnn.fit(x, y, epochs=1, batch_size=8, callbacks=[Pace(clock, 1.0), cb], verbose=0)
    assert (cb.taken, cb.skipped) == (7, 0)


def test_skipped_count_is_shown_in_the_status(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    sent = capture(viewer)
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=1, clock=clock)
    costly(viewer, clock, 0.5)
    cnn.fit(x, y, epochs=2, batch_size=8, callbacks=[Pace(clock, 1.0), cb], verbose=0)
    statuses = [c for c in sent if c["kind"] == "status"]
    assert cb.skipped > 0
    assert statuses[-1]["state"] == "idle"
    assert statuses[-1]["skipped"] == cb.skipped
    assert f"{cb.skipped} per-batch snapshots skipped" in statuses[-1]["message"]
    live = [s for s in statuses if s["state"] == "live"]
    assert live[-1]["skipped"] > 0, "the count is shown while fit runs, not only at its end"


# ----------------------------------------------------------------- works with


def test_works_with_validation_data_class_weight_and_other_callbacks(cnn, data, tmp_path):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)
    save = keras.callbacks.ModelCheckpoint(str(tmp_path / "model.keras"))
    weights = {k: 1.0 + k / 10 for k in range(10)}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no viewer failure
        cnn.fit(
            x,
            y,
            epochs=5,
            batch_size=16,
            validation_data=(x[:16], y[:16]),
            class_weight=weights,
            callbacks=[stop, viewer.callback(every_n_batches=2), save],
            verbose=0,
        )
    assert stop.stopped_epoch == 1  # min_delta=10 never improves: stops after 2 epochs
    assert [e for e in viewer.epochs if float(e).is_integer()] == [0, 1, 2]
    assert "val_loss" in viewer._history.step(2).logs
    assert (tmp_path / "model.keras").exists()


def test_works_with_a_tf_data_dataset(cnn, data):
    tf = pytest.importorskip("tensorflow", reason="tf.data is part of TensorFlow")

    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=4, clock=clock)
    cnn.fit(ds, epochs=2, validation_data=ds, callbacks=[Pace(clock, BATCH), cb], verbose=0)
    assert viewer.epochs == [0, 0.5, 1, 1.5, 2]


def test_dataset_of_unknown_length_gets_per_batch_steps_after_its_first_epoch(cnn, data):
    tf = pytest.importorskip("tensorflow", reason="tf.data is part of TensorFlow")

    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).filter(lambda a, b: True)
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=4, clock=clock)
    # On TensorFlow the batch that finds the data exhausted begins too (a 9th of 8): the epoch's
    # length comes from the batch ends, which Keras runs asynchronously here.
    cnn.fit(ds, epochs=2, callbacks=[PaceAtBegin(clock, BATCH), cb], verbose=0)
    assert viewer.epochs == [0, 1, 1.5, 2]


def test_works_with_a_mixed_float16_policy(data):
    x, y = data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_cnn()
        viewer = TensorViewer(model, x[:8])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            model.fit(x, y, epochs=1, batch_size=16, callbacks=[viewer.callback(2)], verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert viewer.epochs[0] == 0 and viewer.epochs[-1] == 1
    oracle = keras.Model(model.inputs, model.get_layer("conv2d").output)
    expected = oracle.predict(x[:8], verbose=0).astype(np.float32)
    np.testing.assert_allclose(viewer.values("conv2d", 1), expected, rtol=1e-2, atol=1e-3)


@TF_ONLY
def test_custom_training_loop_records_with_snapshot(cnn, data):
    import tensorflow as tf

    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    optimizer = keras.optimizers.Adam(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, cnn(x, training=True))
        grads = tape.gradient(loss, cnn.trainable_weights)
        optimizer.apply(grads, cnn.trainable_weights)
        label = viewer.snapshot(logs={"loss": loss, "per_class": np.ones(3)})
    assert label == 2 and viewer.epochs == [0, 1, 2]
    assert viewer._history.step(2).logs == {"loss": pytest.approx(float(loss))}
    expected = keras.Model(cnn.inputs, cnn.get_layer("dense").output).predict(x[:8], verbose=0)
    np.testing.assert_allclose(viewer.values("dense"), expected, rtol=1e-5, atol=1e-6)


def test_snapshot_rejects_a_bad_label(cnn, data):
    viewer = TensorViewer(cnn, data[0][:8])
    with pytest.raises(ValueError, match=r"label=-1.*>= 0.*Recorded epochs: \[0\]"):
        viewer.snapshot(-1)
    with pytest.raises(ValueError, match=r"label='one'"):
        viewer.snapshot("one")


MIRRORED = """
import os, warnings
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)
import keras, numpy as np
from kerasviz_widget import TensorViewer
warnings.simplefilter("error", RuntimeWarning)
keras.utils.set_random_seed(0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu",
        name="hidden"), keras.layers.Dense(1, name="out")])
    model.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).random((64, 6), dtype=np.float32)
y = x.sum(axis=1, keepdims=True)
viewer = TensorViewer(model, x[:8])
model.fit(x, y, epochs=2, batch_size=16, callbacks=[viewer.callback(every_n_batches=2)],
          verbose=0)
expected = keras.Model(model.inputs, model.get_layer("out").output).predict(x[:8], verbose=0)
np.testing.assert_allclose(viewer.values("out"), expected, rtol=1e-5, atol=1e-6)
print("EPOCHS", [e for e in viewer.epochs if float(e).is_integer()])
"""


@TF_ONLY
def test_works_with_mirrored_strategy_on_two_logical_cpus():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MIRRORED)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EPOCHS [0, 1, 2]" in result.stdout


# ----------------------------------------------------------------- never break training


def _fail_extract(viewer):
    def extract(probe):
        raise ValueError("output 'dense' cannot be converted to NumPy")

    viewer._source.session.extract = extract


def _fail_budget(viewer):
    def add(*args):
        raise MemoryError("history above budget_mb=512")

    viewer._history.add = add


def _fail_comm(viewer):
    def send(*args, **kwargs):
        raise RuntimeError("Comm is closed")

    viewer._canvas.comm.send = send


FAULTS = {"extract": _fail_extract, "budget": _fail_budget, "comm": _fail_comm}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_viewer_fault_is_warned_once_and_training_goes_on(cnn, data, fault):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    FAULTS[fault](viewer)
    with pytest.warns(RuntimeWarning, match="could not record epoch .* Training goes on") as rec:
        history = cnn.fit(
            x, y, epochs=3, batch_size=16, callbacks=[viewer.callback(every_n_batches=1)]
        )
    assert len(history.history["loss"]) == 3
    assert len([w for w in rec if issubclass(w.category, RuntimeWarning)]) == 1


@pytest.mark.parametrize("fault", ["extract", "budget"])
def test_a_viewer_fault_is_shown_in_the_status_line(cnn, data, fault):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    sent = capture(viewer)
    FAULTS[fault](viewer)
    with pytest.warns(RuntimeWarning):
        cnn.fit(x, y, epochs=2, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    final = [c for c in sent if c["kind"] == "status"][-1]
    assert final["state"] == "error"
    assert "could not record epoch" in final["message"]
    assert ("cannot be converted" if fault == "extract" else "MemoryError") in final["message"]


def test_training_goes_on_when_the_front_end_is_gone(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    viewer._canvas.close()
    viewer.close()
    cnn.fit(x, y, epochs=2, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    assert viewer.epochs == [0, 1, 2]


def test_a_later_fit_warns_again_and_a_recovered_viewer_records(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    extractor = viewer._source.session.extract
    _fail_extract(viewer)
    with pytest.warns(RuntimeWarning):
        cnn.fit(x, y, epochs=1, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    viewer._source.session.extract = extractor
    sent = capture(viewer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        cnn.fit(x, y, epochs=1, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    assert viewer.epochs == [0, 1]
    assert [c for c in sent if c["kind"] == "status"][-1]["state"] == "idle"


class Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_keyboard_interrupt_keeps_every_completed_step_and_the_viewer_scrubs(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    clock = Clock()
    cb = RecordingCallback(viewer._source.session, every_n_batches=2, clock=clock)
    with pytest.raises(KeyboardInterrupt):
        cnn.fit(x, y, epochs=5, batch_size=16, callbacks=[Pace(clock, BATCH), cb, Interrupt(2, 2)])
    sent = capture(viewer)
    viewer._front_end.after_cell()  # IPython's post_run_cell: the cell ended without on_train_end
    assert viewer.epochs == [0, 0.5, 1, 1.5, 2, 2.5]
    for epoch in viewer.epochs:
        viewer.epoch = epoch
        assert viewer.epoch == epoch
        assert viewer.values("dense", epoch).shape == (8, 10)
    status = [c for c in sent if c["kind"] == "status"][-1]
    assert status["state"] == "idle" and "stopped early" in status["message"]
    assert [c["epoch"] for c in sent if c["kind"] == "step"][-1] == 2.5  # latest sent again
    cnn.fit(x, y, epochs=1, batch_size=16, callbacks=[viewer.callback()], verbose=0)
    assert viewer.epochs[-1] == 4  # the next run starts after the interrupted epoch


def test_keyboard_interrupt_inside_a_snapshot_leaves_no_partial_step(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:8])
    extractor = viewer._source.session.extract
    calls = []

    def extract(probe):
        calls.append(1)
        arrays = extractor(probe)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return arrays

    viewer._source.session.extract = extract
    with pytest.raises(KeyboardInterrupt):
        cnn.fit(x, y, epochs=3, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    # IPython's post_run_cell: the cell ended without on_train_end; it waits for the worker,
    # which may still be reducing epoch 1 when the interrupt reaches this line.
    viewer._front_end.after_cell()
    assert viewer.epochs == [0, 1]
    assert viewer._history.kept_epochs == [0, 1]
    assert sorted({s.epoch for s in viewer._history.snapshots()}) == [0, 1]


def test_the_callback_leaves_keras_batch_dispatch_asynchronous(cnn, data):
    from keras.src import backend, utils
    from keras.src.callbacks.callback_list import CallbackList

    viewer = TensorViewer(cnn, data[0][:4])
    # Keras dispatches batch-end callbacks asynchronously (on thread-safe backends) unless a
    # callback has a batch-end hook and is not `async_safe`; waiting for the device after every
    # batch would cost a JAX fit 4%.
    for every in (None, 5):
        assert CallbackList([viewer.callback(every_n_batches=every)])._async_train == (
            backend.IS_THREAD_SAFE
        )
    epoch_only = viewer.callback()
    assert utils.is_default(epoch_only.on_train_batch_begin)
    assert utils.is_default(epoch_only.on_train_batch_end)
    assert not utils.is_default(viewer.callback(every_n_batches=5).on_train_batch_begin)
