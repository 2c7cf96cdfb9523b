"""Faults at every stage of a step during `fit`: training is untouched, one warning, no hang.

The contract (docs/contract.md, "Faults"): whatever fails inside the viewer or the Recorder
(extraction, reduction, history, the send to the front-end, the write to disk, the worker thread
itself), `fit` returns, the weights are bit for bit those of a `fit` without the viewer, the
failure is warned exactly once per `fit`, and the widget's status line says what failed. An
interrupt (Ctrl-C) stops `fit` at once and leaves a viewer that records the next `fit`.
"""

from __future__ import annotations

import _thread
import threading
import time
import warnings

import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from tests.adversarial import support
from tests.adversarial.support import Wire, WorkerDeath

EPOCHS = 3
FIT = {"epochs": EPOCHS, "batch_size": 8, "shuffle": False, "verbose": 0}


@pytest.fixture(scope="module")
def reusable() -> support.Reusable:
    return support.Reusable(tripwire=True)


@pytest.fixture
def model(reusable):
    """The module's model, as built (initial weights, optimizer state, tripwire off)."""
    return reusable.fresh()


@pytest.fixture(scope="module")
def reference(reusable) -> list[np.ndarray]:
    """The weights after the same `fit` with no viewer at all."""
    model = reusable.fresh()
    model.fit(*support.tiny_data(), **FIT)
    return support.weights(model)


def injected(what: str):
    return lambda: RuntimeError(f"INJECTED {what} fault")


def arm(model) -> None:
    model.get_layer("tripwire").armed.assign(1.0)


# Each stage: how to break it (viewer, monkeypatch), and the text the status and warning name.
VIEWER_STAGES = {
    "extraction": (lambda v, m, model: arm(model), "INJECTED extraction fault"),
    "reduction": (
        lambda v, m, model: support.fail_reduction(m, injected("reduction")),
        "INJECTED reduction fault",
    ),
    "history": (
        lambda v, m, model: support.fail_history(m, injected("history")),
        "INJECTED history fault",
    ),
    "worker death": (
        lambda v, m, model: support.fail_reduction(m, lambda: WorkerDeath("INJECTED worker death")),
        "INJECTED worker death",
    ),
}


def fit_recording_warnings(model, callbacks):
    x, y = support.tiny_data()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        history = model.fit(x, y, callbacks=callbacks, **FIT)
    return history, support.kerasviz_warnings(records)


@pytest.mark.timeout(25)
@pytest.mark.parametrize("where", ["worker", "inline"])
@pytest.mark.parametrize("every_n_batches", [None, 2])
@pytest.mark.parametrize("stage", sorted(VIEWER_STAGES))
def test_a_viewer_fault_leaves_training_untouched_warns_once_and_shows(
    stage, every_n_batches, where, monkeypatch, reference, model
):
    """Whether the steps are finished on the worker or, after the first, on the training thread
    (`where`), every stage's fault is contained alike."""
    x, _ = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    wire = Wire(viewer)
    support.finish_steps(monkeypatch, where)
    breaks, text = VIEWER_STAGES[stage]
    failed = breaks(viewer, monkeypatch, model)
    settle = [support.Settle(viewer._source.session)] if where == "inline" else []
    history, warned = fit_recording_warnings(model, [*settle, viewer.callback(every_n_batches)])
    if stage in ("reduction", "worker death"):  # the injection says where each step failed
        on_training_thread = [name == "MainThread" for name in failed]
        assert len(failed) >= EPOCHS and not on_training_thread[0]  # the first: not measured
        assert any(on_training_thread) == (where == "inline"), failed
    assert len(history.history["loss"]) == EPOCHS
    support.assert_same_weights(support.weights(model), reference)
    assert len(warned) == 1, warned
    assert text in warned[0]
    status = wire.last_status()
    assert status["state"] == "error" and text in status["message"], status
    assert viewer.epochs == [0]  # nothing half-recorded
    assert "epoch 0" in viewer.summary()


@pytest.mark.timeout(25)
def test_a_front_end_that_fails_every_send_leaves_training_and_the_history_intact(reference, model):
    x, _ = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    support.fail_send(viewer, injected("send"))
    history, warned = fit_recording_warnings(model, [viewer.callback(every_n_batches=2)])
    assert len(history.history["loss"]) == EPOCHS
    support.assert_same_weights(support.weights(model), reference)
    assert len(warned) == 1 and "INJECTED send fault" in warned[0], warned
    # The steps were kept before the send failed: a new view gets them by replay.
    assert [e for e in viewer.epochs if float(e).is_integer()] == list(range(EPOCHS + 1))
    np.testing.assert_allclose(
        viewer.values("out"), model.predict(x[:4], verbose=0), rtol=1e-5, atol=1e-6
    )


ONCE = {
    "reduction": lambda m: support.fail_reduction(m, injected("reduction"), times=1),
    "worker death": lambda m: support.fail_reduction(
        m, lambda: WorkerDeath("INJECTED worker death"), times=1
    ),
}


@pytest.mark.timeout(25)
@pytest.mark.parametrize("stage", sorted(ONCE))
def test_after_a_one_off_fault_the_viewer_records_every_later_epoch(stage, monkeypatch, model):
    x, _ = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    wire = Wire(viewer)
    ONCE[stage](monkeypatch)
    _, warned = fit_recording_warnings(model, [viewer.callback()])
    assert len(warned) == 1, warned
    assert viewer.epochs == [0, *range(2, EPOCHS + 1)]  # epoch 1 lost, the rest recorded
    np.testing.assert_allclose(
        viewer.values("out"), model.predict(x[:4], verbose=0), rtol=1e-5, atol=1e-6
    )
    assert [s["epoch"] for s in wire.kind("step")][-1] == EPOCHS


@pytest.mark.timeout(25)
def test_a_dead_worker_is_replaced_before_the_next_fit(monkeypatch, model):
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    support.fail_reduction(monkeypatch, lambda: WorkerDeath("INJECTED worker death"), times=1)
    fit_recording_warnings(model, [viewer.callback()])
    model.fit(x, y, callbacks=[viewer.callback()], **FIT)
    assert viewer.epochs[-EPOCHS:] == list(range(EPOCHS + 1, 2 * EPOCHS + 1))


@pytest.mark.timeout(60)
def test_a_worker_job_that_never_ends_does_not_hang_fit(monkeypatch, reference, model):
    """No wait on the worker is unbounded: with every reduction stuck for good, `fit` waits for
    the worker at its end only up to the limit (`JOIN_TIMEOUT`, shortened here to 0.5 s), then
    returns, training untouched, the status saying that steps are still being recorded; they
    arrive once the job ends. Steps that would be finished on the training thread are not: a
    step goes there only while the worker is idle, so the later ones queue behind the stuck one.
    """
    x, _ = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    wire = Wire(viewer)
    support.finish_steps(monkeypatch, "inline")
    release = support.stuck_reduction(monkeypatch)
    support.short_worker_wait(monkeypatch, 0.5)
    try:
        start = time.perf_counter()
        history, warned = fit_recording_warnings(model, [viewer.callback()])
        took = time.perf_counter() - start
        assert viewer.epochs == [0], "a stuck step was recorded"
    finally:
        release.set()
    assert took < 20, f"fit took {took:.1f} s with a stuck worker"
    assert len(history.history["loss"]) == EPOCHS
    support.assert_same_weights(support.weights(model), reference)
    assert warned == []  # nothing failed: the steps are late
    status = wire.last_status()
    assert "still being recorded" in status["message"], status
    deadline = time.monotonic() + 20
    while viewer.epochs != list(range(EPOCHS + 1)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert viewer.epochs == list(range(EPOCHS + 1))


# ----------------------------------------------------------------------------- interrupts


class InterruptAt:
    """Raises KeyboardInterrupt from `on_epoch_end` of one epoch, after the viewer's hook ran."""

    def __new__(cls, epoch: int):
        import keras

        class _Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, e, logs=None):
                if e == epoch:
                    raise KeyboardInterrupt

        return _Interrupt()


@pytest.mark.timeout(25)
def test_ctrl_c_while_the_worker_is_busy_leaves_a_viewer_that_records_the_next_fit(
    monkeypatch, model
):
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    support.slow_reduction(monkeypatch, 0.3)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, callbacks=[viewer.callback(), InterruptAt(1)], **FIT)
    start = time.perf_counter()
    model.fit(x, y, callbacks=[viewer.callback()], **FIT)
    assert time.perf_counter() - start < 30
    # Epochs 0-2 from the interrupted fit (2 was with the worker), then 3 more.
    assert viewer.epochs == list(range(2 * EPOCHS))
    for epoch in viewer.epochs:
        assert f"epoch {epoch}" in viewer.summary(epoch)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("delay", [0.1, 0.3, 0.6])
def test_an_interrupt_at_any_moment_stops_fit_at_once_and_the_viewer_stays_usable(
    delay, monkeypatch, model
):
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    support.slow_reduction(monkeypatch, 0.15)
    timer = threading.Timer(delay, _thread.interrupt_main)
    fit = dict(FIT, epochs=10)
    interrupted_at = None
    start = time.perf_counter()
    try:
        timer.start()
        model.fit(x, y, callbacks=[viewer.callback(every_n_batches=1)], **fit)
    except KeyboardInterrupt:
        interrupted_at = time.perf_counter()
    finally:
        timer.cancel()
    assert interrupted_at is not None, "fit ended before the interrupt: make it longer"
    assert interrupted_at - start - delay < 3, "fit went on long after the interrupt"
    # The viewer is consistent: every listed step answers.
    for epoch in viewer.epochs:
        viewer.stats("out", epoch)
        viewer.summary(epoch)
    start = time.perf_counter()
    model.fit(x, y, callbacks=[viewer.callback()], **FIT)
    assert time.perf_counter() - start < 30
    assert viewer.epochs[-1] == int(np.ceil(viewer.epochs[-EPOCHS - 1])) + EPOCHS


# ----------------------------------------------------------------------------- the Recorder


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


RECORDER_STAGES = {
    "extraction": (lambda m, model, run: arm(model), "INJECTED extraction fault"),
    "reduction": (
        lambda m, model, run: support.fail_reduction(m, injected("reduction")),
        "INJECTED reduction fault",
    ),
    "worker death": (
        lambda m, model, run: support.fail_reduction(
            m, lambda: WorkerDeath("INJECTED worker death")
        ),
        "INJECTED worker death",
    ),
}


@pytest.mark.timeout(25)
@pytest.mark.parametrize("stage", sorted(RECORDER_STAGES))
def test_a_recorder_fault_leaves_training_untouched_and_warns_once(
    stage, monkeypatch, tmp_path, reference, model
):
    x, _ = support.tiny_data()
    recorder = Recorder(model, x[:4], tmp_path / "run")
    breaks, text = RECORDER_STAGES[stage]
    breaks(monkeypatch, model, tmp_path / "run")
    history, warned = fit_recording_warnings(model, [recorder])
    recorder.close()
    assert len(history.history["loss"]) == EPOCHS
    support.assert_same_weights(support.weights(model), reference)
    assert len(warned) == 1 and text in warned[0], warned
    assert TensorViewer.load(str(tmp_path / "run")).epochs == [0]


@pytest.mark.timeout(25)
def test_a_full_disk_is_warned_once_and_leaves_no_temporary_file(
    monkeypatch, tmp_path, reference, model
):
    x, _ = support.tiny_data()
    recorder = Recorder(model, x[:4], tmp_path / "run")
    with support.full_disk(monkeypatch, match="step-") as created:
        history, warned = fit_recording_warnings(model, [recorder])
    recorder.close()
    assert created, "the fault was not injected"
    assert len(history.history["loss"]) == EPOCHS
    support.assert_same_weights(support.weights(model), reference)
    assert len(warned) == 1 and "No space left on device" in warned[0], warned
    leftovers = [name for name in _files(tmp_path / "run") if ".tmp" in name]
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    assert TensorViewer.load(str(tmp_path / "run")).epochs == [0]


@pytest.mark.timeout(25)
def test_a_run_folder_removed_under_the_recorder_is_warned_once(tmp_path, reference, model):
    import shutil

    x, _ = support.tiny_data()
    recorder = Recorder(model, x[:4], tmp_path / "run")
    shutil.rmtree(tmp_path / "run" / "steps")
    (tmp_path / "run" / "steps").write_text("not a folder")
    history, warned = fit_recording_warnings(model, [recorder])
    recorder.close()
    assert len(history.history["loss"]) == EPOCHS
    support.assert_same_weights(support.weights(model), reference)
    assert len(warned) == 1 and "steps" in warned[0], warned


def test_a_failed_write_through_gfile_leaves_no_temporary_file(monkeypatch):
    """The other branch of the one atomic writer: a URL (here TensorFlow's in-memory `ram://`
    filesystem, as `gs://` would be) is written through `tf.io.gfile`."""
    from tensorflow.io import gfile

    from kerasviz_widget.io.files import atomic_write

    folder = f"ram://kerasviz-full-{time.time_ns()}"
    gfile.makedirs(folder)
    with (
        support.full_disk(monkeypatch, match="step-") as created,
        pytest.raises(OSError, match="No space left on device") as info,
    ):
        atomic_write(f"{folder}/step-00000001.npz", b"x" * 100)
    assert created, "the fault was not injected"
    assert f"{folder}/step-00000001.npz" in str(info.value)
    assert gfile.listdir(folder) == []
