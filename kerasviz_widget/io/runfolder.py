"""The run folder: what a `Recorder` writes and what `TensorViewer.load`/`follow` read.

A run folder holds one training run, written by one process:

```
logdir/
  manifest.json        # format version, layer catalog, probe shape, reduction settings, writer
  probe.npz            # the probe batch (one array per model input)
  LOCK                 # present while a Recorder writes; names its host and process id
  steps/
    step-00000000.npz  # one file per recorded step, in `io.npz`'s one-step format (the format
                       # `viewer.save` uses): logs, snapshots, full arrays (if kept)
    step-00000001.npz
  tensorboard/         # activation histograms for TensorBoard (with `tensorboard=True`)
```

Every file is written with `files.atomic_write`: to a temporary name in the same folder, then
renamed. A reader
never sees a half-written step, and a script killed at any moment leaves a run that loads (a
leftover temporary file is ignored). Step files are numbered in the order they were written; the
epoch label is inside. When the full arrays of the run outgrow the budget, the oldest steps lose
them, thinned evenly by the same rule as the in-memory history (the first and the last step always
keep them): such a step file is rewritten, atomically, with its snapshots and logs only.

Files are NumPy `.npz` archives read with `allow_pickle=False` and JSON; nothing is pickled. Paths
go through `tf.io.gfile` when TensorFlow is installed, so any filesystem TensorFlow can open works
(local folders, `gs://`, ...); otherwise through the local filesystem.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import io
import json
import os
import socket
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.history import History
from ..core.settings import DEFAULT_BINS, DEFAULT_MAX_VALUES, Settings
from ..core.sink import Store
from ..core.step import Step
from . import npz
from .files import (
    RUN_FORMAT,
    RUN_VERSION,
    atomic_write,
    fs,
    is_fs_error,
    join,
    os_error,
    read_bytes,
)

_NO_COUNTS = np.zeros(0, dtype=np.uint32)
_NO_DISPLAY = np.zeros(0, dtype=np.float16)

MANIFEST = "manifest.json"
PROBE = "probe.npz"
LOCK = "LOCK"
STEPS = "steps"
TENSORBOARD = "tensorboard"
_STEP_PREFIX = "step-"
_STEP_SUFFIX = ".npz"


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _load_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz_file:
        return {k: npz_file[k] for k in npz_file.files}


def newer_format_error(what: str, version: Any) -> ValueError:
    return ValueError(
        f"{what} was written in run-folder format version {version}, but this kerasviz_widget "
        f"reads format versions up to {RUN_VERSION}. Upgrade kerasviz_widget on this machine "
        "(`pip install -U kerasviz_widget`) to the version the training script uses."
    )


def not_a_run_error(logdir: str, reason: str) -> ValueError:
    try:
        found = sorted(fs().listdir(logdir))[:10]
        contents = f" It contains: {', '.join(found) if found else 'nothing'}."
    except Exception:  # noqa: BLE001 - the listing is only a hint
        contents = ""
    return ValueError(
        f"{logdir!r} is not a kerasviz_widget run folder: {reason}.{contents} A run folder is what "
        "`kerasviz_widget.Recorder(model, probe, logdir)` writes; pass that `logdir`. (To load a "
        "history saved with `viewer.save(path)`, pass the `.npz` file.)"
    )


def damaged_error(path: str, problem: str) -> ValueError:
    """The error for a damaged file of a run folder: names the file and what is wrong."""
    return ValueError(
        f"Cannot load the run: the file {path!r} is damaged: {problem}. A partly copied run "
        "folder is the usual cause: copy the folder again from where the training script "
        "wrote it."
    )


# ------------------------------------------------------------------------------ step files


def step_name(index: int) -> str:
    return f"{_STEP_PREFIX}{index:08d}{_STEP_SUFFIX}"


def _step_index(name: str) -> int | None:
    if not (name.startswith(_STEP_PREFIX) and name.endswith(_STEP_SUFFIX)):
        return None
    digits = name[len(_STEP_PREFIX) : -len(_STEP_SUFFIX)]
    return int(digits) if digits.isdigit() else None


# ------------------------------------------------------------------------------ lock


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire_lock(logdir: str) -> dict[str, Any]:
    """Take the run folder's lock, or raise if another live recorder holds it."""
    path = join(logdir, LOCK)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}
    if fs().exists(path):
        try:
            held = json.loads(read_bytes(path).decode("utf-8"))
        except Exception:  # noqa: BLE001 - an unreadable lock is treated as held
            held = {}
        stale = held.get("host") == me["host"] and not _process_alive(int(held.get("pid", -1)))
        if not stale:
            raise RuntimeError(
                f"Another Recorder is writing to {logdir!r} (process {held.get('pid', '?')} on "
                f"host {held.get('host', '?')!r} holds its {LOCK} file), and two recorders on one "
                "folder would mix their steps. Give this run its own `logdir`, e.g. "
                f"`Recorder(model, probe, {logdir.rstrip('/')!r} + '/run2')`; or, if that process "
                f"is in fact gone, delete the file {path!r} and try again. In the same process, "
                "call `recorder.close()` on the first recorder before making a new one."
            )
        warnings.warn(
            f"Taking over the lock of {logdir!r}, left by process {held.get('pid')} which is no "
            "longer running.",
            RuntimeWarning,
            stacklevel=3,
        )
    atomic_write(path, json.dumps(me).encode("utf-8"))
    return me


def _release_lock(logdir: str, token: str) -> None:
    path = join(logdir, LOCK)
    try:
        held = json.loads(read_bytes(path).decode("utf-8"))
        if held.get("token") == token:
            fs().remove(path)
    except Exception:  # noqa: BLE001 - already gone, or someone else's now
        pass


# ------------------------------------------------------------------------------ writer


def _probe_members(probe: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if isinstance(probe, Mapping):
        return {str(k): np.asarray(v) for k, v in probe.items()}, {"kind": "dict"}
    if isinstance(probe, (list, tuple)):
        return {f"x{i}": np.asarray(v) for i, v in enumerate(probe)}, {"kind": "list"}
    return {"x0": np.asarray(probe)}, {"kind": "single"}


class RunWriter(Store):
    """Writes one run folder: the manifest, the probe, and one file per step, within a budget.

    It is the run-folder sink of a `Recorder`'s recording session.

    Args:
        logdir: The run folder; created if missing. It must not hold another run.
        manifest: What the manifest records besides the format: `layers` (the catalog, as JSON),
            `probe` (as the `catalog` message gives it), `bins`, `max_values`, and anything else.
        probe: The probe batch, stored so that a reader can show it and recompute.
        budget_bytes: Most bytes of full-precision arrays kept in the folder; older steps are
            thinned past it.

    Raises:
        RuntimeError: If another recorder holds the folder's lock.
        ValueError: If the folder already holds a finished run.
    """

    def __init__(
        self, logdir: str, manifest: Mapping[str, Any], probe: Any, budget_bytes: int
    ) -> None:
        self.logdir = str(logdir)
        try:
            fs().makedirs(self.logdir)
            if not fs().isdir(self.logdir):
                raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder")
            self._lock = _acquire_lock(self.logdir)
        except BaseException as exc:
            if is_fs_error(exc):
                raise os_error(exc, self.logdir, "create the run folder") from exc
            raise
        try:
            steps_dir = join(self.logdir, STEPS)
            if fs().exists(join(self.logdir, MANIFEST)) and any(
                _step_index(n) is not None for n in _listdir(steps_dir)
            ):
                raise ValueError(
                    f"{self.logdir!r} already holds a recorded run. Give every run its own "
                    "`logdir` (e.g. one per date or experiment name), or delete the old one first."
                )
            fs().makedirs(steps_dir)
            members, structure = _probe_members(probe)
            atomic_write(join(self.logdir, PROBE), _npz_bytes(members))
            self.manifest = {
                "format": RUN_FORMAT,
                "version": RUN_VERSION,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "writer": {"host": self._lock["host"], "pid": self._lock["pid"]},
                "probe_structure": structure,
                "budget_bytes": int(budget_bytes),
                **dict(manifest),
            }
            atomic_write(join(self.logdir, MANIFEST), json.dumps(self.manifest).encode("utf-8"))
        except BaseException:
            _release_lock(self.logdir, self._lock["token"])
            raise
        # The in-memory history's thinning rule, on placeholders of each step's full arrays that
        # take no memory (a zero-stride view has the `nbytes` of the array it stands for). Only
        # they count against the budget: the rest of a step stays on disk whatever the budget.
        self._ledger = History(int(budget_bytes), values_only=True)
        self._files: dict[float, str] = {}
        self._next = 0
        self.closed = False

    @property
    def epochs(self) -> list[float | int]:
        """Labels of the steps written, ascending."""
        return self._ledger.epochs

    def write(self, step: Step) -> list[float | int]:
        """Write one step atomically; returns the labels whose full arrays were thinned away."""
        if self.closed:
            raise RuntimeError(f"The run in {self.logdir!r} is closed; make a new Recorder.")
        path = join(self.logdir, STEPS, step_name(self._next))
        npz.write_step(path, step)
        self._next += 1
        self._files[float(step.epoch)] = path
        placeholders = {
            k: np.broadcast_to(np.zeros((), a.dtype), a.shape)
            for k, a in (step.arrays or {}).items()
        }
        # Display arrays and histograms stay on disk whatever the budget: the ledger neither
        # counts nor holds them (a long run would otherwise grow the recording process).
        bare = {
            lid: dataclasses.replace(s, counts=_NO_COUNTS, display=_NO_DISPLAY)
            for lid, s in step.snapshots.items()
        }
        ledger = Step(step.epoch, step.batch, {}, bare, placeholders, has_display=False)
        thinned = self._ledger.add(ledger)
        for label in thinned:
            self._strip(self._files[float(label)])
        return thinned

    def _strip(self, path: str) -> None:
        step = npz.read_step(path)
        step.arrays = None
        npz.write_step(path, step)

    def close(self) -> None:
        """Release the folder's lock. The run stays readable."""
        if not self.closed:
            self.closed = True
            _release_lock(self.logdir, self._lock["token"])


def _listdir(path: str) -> list[str]:
    try:
        return list(fs().listdir(path))
    except Exception:  # noqa: BLE001 - a missing folder has no steps yet
        return []


# ------------------------------------------------------------------------------ reader


def is_run(path: Any) -> bool:
    """Whether `path` is a folder that holds (or is meant to hold) a run: it has a manifest."""
    try:
        return fs().isdir(str(path)) and fs().exists(join(str(path), MANIFEST))
    except Exception:  # noqa: BLE001
        return False


class RunReader:
    """Reads a run folder: its manifest and probe at once, then the steps as they appear.

    The widget's run-folder source reads steps through it (`TensorViewer.load`/`follow`).

    Args:
        logdir: A folder written by a `Recorder`.

    Raises:
        ValueError: If `logdir` is not a run folder, or was written by a newer format version.
    """

    def __init__(self, logdir: Any) -> None:
        self.logdir = str(logdir)
        if not fs().isdir(self.logdir):
            raise ValueError(
                f"{self.logdir!r} is not a kerasviz_widget run folder: no such folder. Pass the "
                "`logdir` given to `Recorder(model, probe, logdir)` in the training script."
            )
        path = join(self.logdir, MANIFEST)
        if not fs().exists(path):
            raise not_a_run_error(self.logdir, f"it has no {MANIFEST}")
        try:
            manifest = json.loads(read_bytes(path).decode("utf-8"))
        except ValueError as exc:
            raise not_a_run_error(self.logdir, f"its {MANIFEST} is not JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != RUN_FORMAT:
            raise not_a_run_error(self.logdir, f"its {MANIFEST} is not a kerasviz_widget manifest")
        version = manifest.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise damaged_error(path, f"its format version {version!r} is not a version number")
        if version > RUN_VERSION:
            raise newer_format_error(f"The run in {self.logdir!r}", version)
        try:
            manifest["layers"] = npz.check_catalog(manifest.get("layers"))
            npz.check_probe_info(manifest.get("probe"))
            Settings.check(
                manifest.get("bins", DEFAULT_BINS),
                manifest.get("max_values", DEFAULT_MAX_VALUES),
                who="The manifest",
            )
            budget = manifest.get("budget_bytes", 1)
            if not npz._is_int(budget) or budget <= 0:
                raise ValueError(f"budget_bytes={budget!r} is not a number of bytes > 0")
            structure = manifest.get("probe_structure", {})
            kind = structure.get("kind", "single") if isinstance(structure, dict) else None
            if kind not in ("dict", "list", "single"):
                raise ValueError(f"probe_structure={structure!r} is not one of dict, list, single")
        except ValueError as exc:
            raise damaged_error(path, str(exc)) from None
        self.manifest = manifest
        self.probe = self._read_probe(join(self.logdir, PROBE), kind)
        self._seen: set[int] = set()

    @staticmethod
    def _read_probe(path: str, kind: str) -> Any:
        """The probe batch of `probe.npz`; a `ValueError` naming the file if it is damaged."""
        try:
            members = _load_npz(read_bytes(path))
        except Exception as exc:  # noqa: BLE001 - missing, truncated, not an archive, pickled
            problem = (
                "it is missing"
                if not fs().exists(path)
                else f"it is not a readable NumPy archive ({exc})"
            )
            raise damaged_error(path, problem) from None
        for name, array in members.items():
            if array.dtype.hasobject or array.dtype.kind not in "biuf" or array.ndim < 1:
                raise damaged_error(path, f"its array {name!r} is not a numeric batch")
        if not members:
            raise damaged_error(path, "it holds no array")
        if kind == "dict":
            return members
        names = [f"x{i}" for i in range(len(members))]
        if sorted(members) != sorted(names):
            raise damaged_error(path, f"its arrays are {sorted(members)}, expected {names}")
        if kind == "list":
            return [members[name] for name in names]
        return members["x0"]

    def step_files(self) -> list[tuple[int, str]]:
        """Complete step files, `(index, path)` in the order written; temporary files are skipped."""
        found = []
        for name in _listdir(join(self.logdir, STEPS)):
            index = _step_index(name)
            if index is not None:
                found.append((index, join(self.logdir, STEPS, name)))
        return sorted(found)

    def poll(self) -> list[Step]:
        """The steps written since the last call, in order (all of them on the first call)."""
        steps = []
        for index, path in self.step_files():
            if index in self._seen:
                continue
            try:
                data = read_bytes(path)
            except Exception:  # noqa: BLE001 - renamed over while we listed: next poll
                continue
            steps.append(npz.step_from_bytes(data, f"The step file {path!r}"))
            self._seen.add(index)
        return steps
