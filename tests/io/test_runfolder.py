"""The run folder: its files, its thinning, and folders that are refused."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from kerasviz_widget.core.history import History
from kerasviz_widget.io import files


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
    # Only the full arrays count against a run folder's budget (docs/contract.md): the rest of a
    # step stays on disk whatever the budget. Room for three and a half steps' full arrays.
    arrays = TensorViewer(cnn, x[:4])._history.step(0).arrays
    per_step = sum(a.nbytes for a in arrays.values())
    budget = 3.5 * per_step
    recorder = Recorder(cnn, x[:4], tmp_path / "run", budget_mb=budget / 2**20)
    cnn.fit(x, y, epochs=6, batch_size=32, verbose=0, callbacks=[recorder])
    viewer = TensorViewer.load(str(tmp_path / "run"))
    rule = History(int(budget), values_only=True)
    for label in viewer.epochs:
        snaps = {lid: viewer._history.snapshot(lid, label) for lid in viewer.layers}
        arrays = {lid: np.zeros(s.stats["shape"], np.float32) for lid, s in snaps.items()}
        step = viewer._history.step(label)
        step.snapshots, step.arrays = snaps, arrays
        rule.add(step)
    kept = viewer._history.kept_epochs
    assert kept == rule.kept_epochs
    assert kept[0] == 0 and kept[-1] == 6 and len(kept) == 3
    thinned = next(e for e in viewer.epochs if e not in kept)
    with pytest.raises(KeyError, match="thinned away"):
        viewer.values("dense", thinned)
    assert viewer._history.snapshot("dense", thinned).stats["shape"] == (4, 10)


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
    manifest["version"] = files.RUN_VERSION + 1
    path.write_text(json.dumps(manifest))
    newer, ours = files.RUN_VERSION + 1, files.RUN_VERSION
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
