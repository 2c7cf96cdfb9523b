"""Where a recording session finishes a step during `fit`: on its worker thread, or on the
training thread for a short step of a model on the host whose sinks are all in memory
(`core.session.INLINE_SECONDS`)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from kerasviz_widget.core import session as session_module
from kerasviz_widget.core.extract import Extractor
from tests.adversarial import support

MAIN = "MainThread"
FIT = {"epochs": 3, "batch_size": 16, "shuffle": False, "verbose": 0}


def threads_of_steps(monkeypatch, model, data, owner, callback, seconds=0.0) -> list[str]:
    """Fit with `callback`; the name of the thread that reduced each step (each reduction made
    `seconds` longer)."""
    threads = support.slow_reduction(monkeypatch, seconds)
    model.fit(*data, callbacks=[support.Settle(owner), callback], **FIT)
    owner.flush()
    return threads


def test_a_short_step_on_the_host_is_finished_on_the_training_thread(cnn, data, monkeypatch):
    viewer = TensorViewer(cnn, data[0][:8])
    session = viewer._source.session
    support.finish_steps(monkeypatch, "inline")
    threads = threads_of_steps(monkeypatch, cnn, data, session, viewer.callback())
    # The viewer's first step traced the extractor and was not measured: epoch 1 goes to the
    # worker, which measures it; the next ones are short and finished where they are taken.
    assert threads[0] != MAIN and threads[1:] == [MAIN, MAIN], threads
    assert session.last_inline and session.step_seconds is not None
    assert viewer.epochs == [0, 1, 2, 3]
    np.testing.assert_allclose(
        viewer.values("dense", 3), cnn.predict(data[0][:8], verbose=0), rtol=1e-5, atol=1e-6
    )
    assert viewer.stats("dense", 3)["relative_change"] > 0  # epoch 2 was kept to compare with


def test_every_step_goes_to_the_worker_where_the_rule_says_so(cnn, data, monkeypatch):
    viewer = TensorViewer(cnn, data[0][:8])
    support.finish_steps(monkeypatch, "worker")
    threads = threads_of_steps(monkeypatch, cnn, data, viewer._source.session, viewer.callback())
    assert len(threads) == 3 and MAIN not in threads, threads


def test_a_step_longer_than_the_limit_stays_on_the_worker(cnn, data, monkeypatch):
    viewer = TensorViewer(cnn, data[0][:8])
    session = viewer._source.session
    monkeypatch.setattr(session_module, "INLINE_SECONDS", 0.02)
    threads = threads_of_steps(monkeypatch, cnn, data, session, viewer.callback(), seconds=0.05)
    assert len(threads) == 3 and MAIN not in threads, threads
    assert session.step_seconds > 0.05 and not session.last_inline


def test_a_step_of_a_model_on_an_accelerator_stays_on_the_worker(cnn, data, monkeypatch):
    viewer = TensorViewer(cnn, data[0][:8])
    support.finish_steps(monkeypatch, "inline")
    monkeypatch.setattr(Extractor, "on_host", property(lambda self: False))
    threads = threads_of_steps(monkeypatch, cnn, data, viewer._source.session, viewer.callback())
    assert len(threads) == 3 and MAIN not in threads, threads


def test_a_recorder_writes_files_from_its_worker_only(cnn, data, monkeypatch, tmp_path):
    recorder = Recorder(cnn, data[0][:8], tmp_path / "run")
    support.finish_steps(monkeypatch, "inline")
    threads = threads_of_steps(monkeypatch, cnn, data, recorder.session, recorder)
    recorder.close()
    assert len(threads) == 3 and MAIN not in threads, threads
    assert TensorViewer.load(str(tmp_path / "run")).epochs == [0, 1, 2, 3]


def test_ctrl_c_in_a_step_on_the_training_thread_stops_fit_and_keeps_no_part_of_it(
    cnn, data, monkeypatch
):
    viewer = TensorViewer(cnn, data[0][:8])
    support.finish_steps(monkeypatch, "inline")
    # Epoch 1 is reduced on the worker; epoch 2, on the training thread, is interrupted there.
    failed = support.fail_reduction(monkeypatch, KeyboardInterrupt, thread=MAIN)
    with pytest.raises(KeyboardInterrupt):
        cnn.fit(*data, callbacks=[support.Settle(viewer._source.session), viewer.callback()], **FIT)
    assert failed == [MAIN]
    viewer._front_end.after_cell()  # IPython's post_run_cell: the cell ended without on_train_end
    assert viewer.epochs == [0, 1]
    assert sorted({s.epoch for s in viewer._history.snapshots()}) == [0, 1]
