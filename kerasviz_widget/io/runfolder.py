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

Every file is written atomically: to a temporary name in the same folder, then renamed. A reader
never sees a half-written step, and a script killed at any moment leaves a run that loads (a
leftover temporary file is ignored). Step files are numbered in the order they were written; the
epoch label is inside. When the full arrays of the run outgrow the budget, the oldest steps lose
them, thinned evenly by the same rule as the in-memory history (the first and the last step always
keep them): such a step file is rewritten, atomically, with its snapshots and logs only.

Files are NumPy `.npz` archives read with `allow_pickle=False` and JSON; nothing is pickled. Local
paths are plain files; a URL such as `gs://bucket/run` goes through `tf.io.gfile`, so any
filesystem TensorFlow can open works when TensorFlow is installed. TensorFlow is imported only for
such a path.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import socket
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.history import History, Step
from ..core.reduce import Snapshot
from . import npz

FORMAT = "kerasviz_widget run"
FORMAT_VERSION = 1
"""Version of the run-folder format this module writes, and the newest it reads."""

MANIFEST = "manifest.json"
PROBE = "probe.npz"
LOCK = "LOCK"
STEPS = "steps"
TENSORBOARD = "tensorboard"
_STEP_PREFIX = "step-"
_STEP_SUFFIX = ".npz"
_TMP_MARK = ".tmp-"

#: Test hook: called with the temporary path of every atomic write, after the data is written and
#: before the rename. A test sets it to stop the process there and check the run still loads.
_before_rename: Callable[[str], None] | None = None


# ------------------------------------------------------------------------------ filesystem


class _LocalFS:
    """The subset of `tf.io.gfile` used here, on the local filesystem."""

    @staticmethod
    def exists(path: str) -> bool:
        return os.path.exists(path)

    @staticmethod
    def isdir(path: str) -> bool:
        return os.path.isdir(path)

    @staticmethod
    def makedirs(path: str) -> None:
        os.makedirs(path, exist_ok=True)

    @staticmethod
    def listdir(path: str) -> list[str]:
        return os.listdir(path)

    @staticmethod
    def remove(path: str) -> None:
        os.remove(path)

    @staticmethod
    def rename(src: str, dst: str, overwrite: bool = False) -> None:
        if not overwrite and os.path.exists(dst):
            raise FileExistsError(dst)
        os.replace(src, dst)

    @staticmethod
    def GFile(path: str, mode: str = "r") -> Any:  # noqa: N802 - mirrors tf.io.gfile
        return open(path, mode)  # noqa: SIM115 - returned to a `with`


def is_url(path: str) -> bool:
    """Whether `path` names a remote filesystem (`gs://...`, `s3://...`), not a local file."""
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.isidentifier() and scheme != "file"


def _gfile(path: str) -> Any:
    try:
        from tensorflow.io import gfile
    except ImportError:
        raise ImportError(
            f"The run folder {path!r} is not a local path; reading and writing it needs "
            "TensorFlow's filesystems (`tf.io.gfile`), and TensorFlow is not installed. Install "
            "TensorFlow (`pip install tensorflow`), or use a local folder."
        ) from None
    return gfile


class _Files:
    """The subset of `tf.io.gfile` used here: local paths as plain files, URLs through TF.

    Every method dispatches on its path, so a local run never imports TensorFlow.
    """

    _local = _LocalFS()

    def _for(self, path: str) -> Any:
        return _gfile(path) if is_url(path) else self._local

    def exists(self, path: str) -> bool:
        return self._for(path).exists(path)

    def isdir(self, path: str) -> bool:
        return self._for(path).isdir(path)

    def makedirs(self, path: str) -> None:
        self._for(path).makedirs(path)

    def listdir(self, path: str) -> list[str]:
        return list(self._for(path).listdir(path))

    def remove(self, path: str) -> None:
        self._for(path).remove(path)

    def rename(self, src: str, dst: str, overwrite: bool = False) -> None:
        self._for(dst).rename(src, dst, overwrite=overwrite)

    def GFile(self, path: str, mode: str = "r") -> Any:  # noqa: N802 - mirrors tf.io.gfile
        return self._for(path).GFile(path, mode)


_FS = _Files()


def fs() -> Any:
    """The filesystem of run folders: plain files for local paths, `tf.io.gfile` for URLs."""
    return _FS


def join(*parts: str) -> str:
    """Join path parts with `/` (valid for local paths and for URLs such as `gs://`)."""
    head, *rest = (str(p) for p in parts)
    for part in rest:
        head = head.rstrip("/") + "/" + part.lstrip("/") if head else part
    return head


def read_bytes(path: str) -> bytes:
    with fs().GFile(path, "rb") as f:
        return f.read()


def atomic_write(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    folder, name = path.rsplit("/", 1) if "/" in path else ("", path)
    tmp = join(folder, f"{_TMP_MARK}{name}.{uuid.uuid4().hex}") if folder else f"{_TMP_MARK}{name}"
    with fs().GFile(tmp, "wb") as f:
        f.write(data)
    if _before_rename is not None:
        _before_rename(tmp)
    fs().rename(tmp, path, overwrite=True)


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _load_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def newer_format_error(what: str, version: Any) -> ValueError:
    return ValueError(
        f"{what} was written in run-folder format version {version}, but this kerasviz_widget "
        f"reads format versions up to {FORMAT_VERSION}. Upgrade kerasviz_widget on this machine "
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


# ------------------------------------------------------------------------------ step codec


@dataclass
class StepRecord:
    """One recorded step, as stored in a step file."""

    step: Step
    snapshots: dict[str, Snapshot]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def encode_step(
    step: Step, snapshots: Mapping[str, Snapshot], arrays: Mapping[str, np.ndarray]
) -> bytes:
    """One step (logs, every layer's snapshot, and the full arrays given) as `.npz` bytes: the
    one-step file format of `io.npz`, the same as `viewer.save` uses."""
    return npz.step_to_bytes(step, snapshots, dict(arrays) if arrays else None)


def decode_step(data: bytes, *, name: str = "A step file") -> StepRecord:
    """Read the bytes written by `encode_step`."""
    item = npz.step_from_bytes(data, name)
    return StepRecord(item.step, item.snapshots, item.arrays or {})


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


class RunWriter:
    """Writes one run folder: the manifest, the probe, and one file per step, within a budget.

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
        fs().makedirs(self.logdir)
        self._lock = _acquire_lock(self.logdir)
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
                "format": FORMAT,
                "version": FORMAT_VERSION,
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
        # The in-memory history's thinning rule, on the step's snapshots and on placeholders of
        # its full arrays that take no memory: a zero-stride view has the `nbytes` of the array
        # it stands for.
        self._ledger = History(int(budget_bytes))
        self._files: dict[float, str] = {}
        self._next = 0
        self.closed = False

    @property
    def epochs(self) -> list[float | int]:
        """Labels of the steps written, ascending."""
        return self._ledger.epochs

    def write(
        self, step: Step, snapshots: Mapping[str, Snapshot], arrays: Mapping[str, np.ndarray]
    ) -> list[float | int]:
        """Write one step atomically; returns the labels whose full arrays were thinned away."""
        if self.closed:
            raise RuntimeError(f"The run in {self.logdir!r} is closed; make a new Recorder.")
        path = join(self.logdir, STEPS, step_name(self._next))
        atomic_write(path, encode_step(step, snapshots, arrays))
        self._next += 1
        key = float(step.epoch)
        self._files[key] = path
        placeholders = {
            k: np.broadcast_to(np.zeros((), a.dtype), a.shape) for k, a in arrays.items()
        }
        thinned = self._ledger.add(step, placeholders, snapshots)
        for label in thinned:
            self._strip(self._files[float(label)])
        return thinned

    def _strip(self, path: str) -> None:
        record = decode_step(read_bytes(path), name=path)
        atomic_write(path, encode_step(record.step, record.snapshots, {}))

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

    `TensorViewer.load`/`follow` build a viewer without a model from a reader.

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
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise not_a_run_error(self.logdir, f"its {MANIFEST} is not a kerasviz_widget manifest")
        if manifest.get("version", 0) > FORMAT_VERSION:
            raise newer_format_error(f"The run in {self.logdir!r}", manifest.get("version"))
        self.manifest = manifest
        members = _load_npz(read_bytes(join(self.logdir, PROBE)))
        kind = manifest.get("probe_structure", {}).get("kind", "single")
        if kind == "dict":
            self.probe: Any = members
        elif kind == "list":
            self.probe = [members[f"x{i}"] for i in range(len(members))]
        else:
            self.probe = members["x0"]
        self._seen: set[int] = set()

    def step_files(self) -> list[tuple[int, str]]:
        """Complete step files, `(index, path)` in the order written; temporary files are skipped."""
        found = []
        for name in _listdir(join(self.logdir, STEPS)):
            index = _step_index(name)
            if index is not None:
                found.append((index, join(self.logdir, STEPS, name)))
        return sorted(found)

    def poll(self) -> list[StepRecord]:
        """The steps written since the last call, in order (all of them on the first call)."""
        records = []
        for index, path in self.step_files():
            if index in self._seen:
                continue
            try:
                data = read_bytes(path)
            except Exception:  # noqa: BLE001 - renamed over while we listed: next poll
                continue
            records.append(decode_step(data, name=f"The step file {path!r}"))
            self._seen.add(index)
        return records

    @property
    def writing(self) -> bool:
        """Whether a recorder holds the folder's lock (it may have died without releasing it)."""
        return fs().exists(join(self.logdir, LOCK))
