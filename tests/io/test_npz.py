"""The `.npz` history format: round trips, and files that are refused."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from kerasviz_widget.core.history import History
from kerasviz_widget.io import files
from kerasviz_widget.io import npz as storage
from tests.core.test_history import make_step


def assert_same_snapshot(a, b):
    assert (a.layer, a.epoch, a.batch, a.layout) == (b.layer, b.epoch, b.batch, b.layout)
    assert a.stats == b.stats
    assert (a.hist_lo, a.hist_hi) == (b.hist_lo, b.hist_hi)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.display.view(np.uint16), b.display.view(np.uint16))


def test_one_step_round_trips_through_one_file(tmp_path):
    step = make_step(1.25, batch=4)
    arrays, snaps = step.arrays, step.snapshots
    path = tmp_path / "step-0001.npz"
    storage.write_step(path, step)
    data = storage.read_step(path)
    assert (data.epoch, data.batch, data.logs) == (step.epoch, step.batch, step.logs)
    for lid in arrays:
        assert_same_snapshot(data.snapshots[lid], snaps[lid])
        np.testing.assert_array_equal(data.arrays[lid], arrays[lid])
        assert data.arrays[lid].dtype == arrays[lid].dtype
    assert [p.name for p in tmp_path.iterdir()] == ["step-0001.npz"]  # no temporary left


def test_history_round_trip_is_exact_including_thinned_steps(tmp_path):
    history = History(20_000)
    for epoch in range(12):
        history.add(make_step(epoch))
    nan_step = make_step(12, fill=np.nan)
    history.add(nan_step)
    path = tmp_path / "run.npz"
    storage.write_history(path, history)
    data = storage.read_history(path)
    assert [s.epoch for s in data.steps] == history.epochs
    for item in data.steps:
        epoch = item.epoch
        kept = history.step(epoch)
        assert (item.epoch, item.batch, item.logs) == (kept.epoch, kept.batch, kept.logs)
        assert item.has_display == kept.has_display
        assert (item.arrays is not None) == (epoch in history.kept_epochs)
        for lid, snap in item.snapshots.items():
            assert_same_snapshot(snap, history.snapshot(lid, epoch))
            if item.arrays is not None:
                np.testing.assert_array_equal(item.arrays[lid], history.values(lid, epoch))
    assert data.steps[-1].snapshots["a"].stats["min"] is None


def write_npz(path, **members):
    with open(path, "wb") as f:
        np.savez(f, **members)


def header(**changes):
    h = {"format": files.HISTORY_FORMAT, "version": 1, "kind": "history", "steps": []}
    h.update(changes)
    return np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)


def test_load_of_a_file_that_is_not_an_archive_is_refused(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("hello, not numpy")
    with pytest.raises(ValueError, match=r"notes.npz.*not a NumPy .npz archive"):
        storage.read_history(path)


def test_load_of_someone_elses_npz_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    write_npz(path, x=np.arange(3))
    with pytest.raises(ValueError, match="not a kerasviz_widget history"):
        storage.read_history(path)


def test_load_of_a_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.arange(3))
    with pytest.raises(ValueError, match="single NumPy array"):
        storage.read_history(path)


def test_load_of_a_truncated_file_is_refused(tmp_path):
    history = History(2**30)
    history.add(make_step(0))
    path = tmp_path / "run.npz"
    storage.write_history(path, history)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="Cannot load"):
        storage.read_history(path)


def test_load_of_a_damaged_member_is_refused(tmp_path):
    history = History(2**30)
    history.add(make_step(0))
    good = tmp_path / "run.npz"
    storage.write_history(good, history)
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            payload = zin.read(item)
            if item.filename == "s0.counts.npy":
                payload = payload[:-7]
            zout.writestr(item, payload)
    with pytest.raises(ValueError, match="s0.counts"):
        storage.read_history(bad)


def test_load_of_a_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "future.npz"
    write_npz(path, **{storage.HEADER_KEY: header(version=99)})
    with pytest.raises(ValueError, match="format version 99.*reads versions up to 1.*Upgrade"):
        storage.read_history(path)


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_of_object_arrays_is_refused_and_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    evil = np.array([_Exploit(marker)], dtype=object)
    meta = {
        "epoch": 0,
        "batch": None,
        "logs": {},
        "layers": ["a"],
        "shapes": [[1]],
        "layouts": ["bars"],
        "display": True,
        "values": False,
    }
    write_npz(
        path,
        **{
            storage.HEADER_KEY: header(steps=[meta]),
            "s0.stats": evil,
            "s0.hist_range": np.zeros((1, 2)),
            "s0.counts": np.zeros((1, 8), dtype=np.uint32),
            "s0.display.0": np.zeros(1, dtype=np.float16),
        },
    )
    assert pickle.dumps(evil)  # the payload really is a pickle that would open the marker
    with pytest.raises(ValueError, match="s0.stats.*cannot be read"):
        storage.read_history(path)
    assert not marker.exists()


def test_load_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        storage.read_history(tmp_path / "nope.npz")


def test_a_step_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "step.npz"
    storage.write_step(path, make_step(0))
    first = os.stat(path).st_ino
    step1 = make_step(1)
    step1.arrays = None
    storage.write_step(path, step1)
    assert os.stat(path).st_ino != first  # a new file renamed over the old one
    assert storage.read_step(path).epoch == 1
