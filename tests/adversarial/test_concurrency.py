"""Reads while steps are added and thinned, on other threads, with a very short switch interval.

`fit` records through the viewer's worker thread and a Recorder's, a following viewer ingests the
run folder on its polling thread, and the histories thin old steps all the while (small budgets).
Reader threads call `epochs`, `values`, `stats`, `summary`, `save` and `save_html` on both viewers
meanwhile. The contract (docs/contract.md, "Threads"): a recorded epoch stays listed and its
statistics and summary always answer; `values` answers or raises `KeyError` for a step thinned
away; nothing else is ever raised.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
import traceback

import pytest

from kerasviz_widget import Recorder, TensorViewer
from tests.adversarial import support

EPOCHS = 30


@pytest.fixture
def short_switch_interval():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def read_forever(viewer: TensorViewer, stop: threading.Event, errors: list[str], folder) -> int:
    rng = random.Random(0)
    reads = 0
    while not stop.is_set():
        try:
            epochs = viewer.epochs
            if not epochs:
                continue
            # The newest steps are the ones thinning is about to drop.
            epoch = rng.choice(epochs[-3:] if rng.random() < 0.8 else epochs)
            layer = rng.choice(viewer.layers)
            viewer.stats(layer, epoch)
            viewer.summary(epoch)
            with contextlib.suppress(KeyError):  # thinned away: an answer
                viewer.values(layer, epoch)
            if reads % 5 == 0:
                viewer.save(folder / f"{threading.get_ident()}.npz")
                viewer.save_html(folder / f"{threading.get_ident()}.html")
            reads += 1
        except Exception:  # noqa: BLE001 - every failure is collected and reported
            errors.append(traceback.format_exc())
            if len(errors) > 20:
                return reads
    return reads


@pytest.mark.timeout(120)
def test_reads_during_fit_and_follow_never_fail(tmp_path, short_switch_interval):
    model = support.tiny()
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4], budget_mb=0.02)
    recorder = Recorder(model, x[:4], str(tmp_path / "run"), budget_mb=0.001)
    follower = TensorViewer.follow(str(tmp_path / "run"), poll_seconds=0.01, budget_mb=0.02)
    stop = threading.Event()
    errors: list[str] = []
    counts: list[int] = []
    readers = [
        threading.Thread(target=lambda v=v: counts.append(read_forever(v, stop, errors, tmp_path)))
        for v in (viewer, follower)
    ]
    for thread in readers:
        thread.start()
    try:
        model.fit(
            x,
            y,
            epochs=EPOCHS,
            batch_size=32,
            verbose=0,
            callbacks=[viewer.callback(every_n_batches=1), recorder],
        )
        deadline = time.monotonic() + 20
        while follower.epochs[-1:] != [EPOCHS] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
        recorder.close()
        follower.close()
    assert not any(thread.is_alive() for thread in readers), "a reader hung"
    assert errors == [], f"{len(errors)} failed reads; the first:\n{errors[0]}"
    assert min(counts) > 0
    assert [e for e in viewer.epochs if float(e).is_integer()] == list(range(EPOCHS + 1))
    assert follower.epochs == recorder.epochs
    assert follower.epochs[-1] == EPOCHS


@pytest.mark.timeout(60)
def test_history_reads_race_with_thinning_and_replacement(short_switch_interval):
    """The `History` alone, hammered: one thread adds steps under a budget that keeps the full
    arrays of about three, and records every label again and again (a replaced step); two read
    every step meanwhile. Statistics, summaries, steps and snapshots always answer; `values`
    answers or raises `KeyError` (thinned away); nothing else is ever raised."""
    import numpy as np

    from kerasviz_widget.core.history import History
    from kerasviz_widget.core.reduce import reduce_many
    from kerasviz_widget.core.step import Step
    from kerasviz_widget.core.summary import summary_text

    rng = np.random.default_rng(0)
    arrays = {
        "a": rng.random((4, 256), dtype=np.float32),
        "b": rng.random((4, 8), dtype=np.float32),
    }
    labels = list(range(12))
    steps = [
        Step(
            epoch=e,
            snapshots=reduce_many(arrays, epoch=e, batch=None, bins=8, max_values=64),
            arrays=dict(arrays),
        )
        for e in labels
    ]
    catalog = [{"id": layer, "strategy": "graph", "bounds": None} for layer in arrays]
    history = History(3 * 4 * (256 + 8) * 4 + 12 * 2048)
    for step in steps:
        history.add(step)
    stop = threading.Event()
    errors: list[str] = []

    def write() -> None:
        while not stop.is_set():
            for step in steps:
                history.add(step)

    def read(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                epoch = rng.choice(labels)
                layer = rng.choice(["a", "b"])
                history.stats(layer, epoch)
                summary_text(history, catalog, epoch)
                history.step(epoch)
                history.snapshot(layer, epoch)
                assert history.epochs == labels
                with contextlib.suppress(KeyError):  # thinned away: an answer
                    history.values(layer, epoch)
                if rng.random() < 0.05:
                    list(history.snapshots())
            except Exception:  # noqa: BLE001 - every failure is collected and reported
                errors.append(traceback.format_exc())
                if len(errors) > 5:
                    return

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=read, args=(seed,)) for seed in range(2)
    ]
    for thread in threads:
        thread.start()
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == [], f"{len(errors)} failed reads; the first:\n{errors[0]}"
