"""The on-disk format of histories: NumPy `.npz` archives, never pickle.

A file holds one or more steps. `write_history` puts a whole `History` in one file (what
`viewer.save` writes); `write_step` puts one step in one file, written atomically (a temporary file
in the same folder, then `os.replace`), so that a run folder can be read while it is being written.
Both are read back with `np.load(..., allow_pickle=False)` and checked before use.

Format, version 1. Every archive has a member `kerasviz_header`: a uint8 array holding UTF-8 JSON

```
{"format": "kerasviz_widget.history", "version": 1, "kind": "history" | "step",
 "settings": {"bins": 64, "max_values": 262144, "budget_bytes": ...},
 "catalog": [{"id", "class_name", "output_shape", "params", "strategy"}, ...],
 "probe": {"n": 16, "input_shapes": [[16, 8, 8, 1]]},
 "steps": [{"epoch": 0, "batch": null, "logs": {"loss": 0.3},
            "layers": ["input", "dense"], "shapes": [[16, 8, 8, 1], [16, 10]],
            "layouts": ["NHWC", "ND"], "display": true, "values": true}, ...]}
```

and, for the step at position `k` in `steps`, with `L` layers and `B` bins:

| member             | dtype   | shape    | content                                           |
|--------------------|---------|----------|---------------------------------------------------|
| `s{k}.stats`       | float64 | `(L, 7)` | min, max, mean, std, zero_fraction, nan_count,    |
|                    |         |          | inf_count; min..std NaN if no value is finite     |
| `s{k}.hist_range`  | float64 | `(L, 2)` | lo, hi of the histogram                           |
| `s{k}.counts`      | uint32  | `(L, B)` | histogram counts                                  |
| `s{k}.display.{i}` | float16 | any      | display array of layer `i` (if `display` is true) |
| `s{k}.values.{i}`  | numeric | any      | full output of layer `i` (if `values` is true)    |

Readers refuse a file without the header, of another format, of a newer version, or with members
that are missing, of an unexpected dtype or shape; they never unpickle anything.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import uuid
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.history import History, Step, label
from ..core.reduce import STAT_KEYS, Snapshot, stats_from_row, stats_row

FORMAT = "kerasviz_widget.history"
FORMAT_VERSION = 1
HEADER_KEY = "kerasviz_header"


class HistoryFileError(ValueError):
    """A file is not a readable kerasviz_widget history (not ours, damaged, or too new)."""


@dataclass
class StepData:
    """One step as stored: its `Step`, its snapshots by layer, its kept full arrays (or `None`)."""

    step: Step
    snapshots: dict[str, Snapshot]
    arrays: dict[str, np.ndarray] | None
    has_display: bool = True


@dataclass
class HistoryData:
    """The content of a history file."""

    steps: list[StepData]
    settings: dict[str, Any] = field(default_factory=dict)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)
    kind: str = "history"


# ------------------------------------------------------------------------------ writing


def _step_members(
    k: int,
    step: Step,
    snapshots: Mapping[str, Snapshot],
    arrays: Mapping[str, np.ndarray] | None,
    has_display: bool,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    snaps = list(snapshots.values())
    layers = list(snapshots)
    keep_values = arrays is not None and all(lid in arrays for lid in layers)
    meta = {
        "epoch": label(step.epoch),
        "batch": step.batch,
        "logs": {str(name): float(v) for name, v in step.logs.items()},
        "layers": layers,
        "shapes": [[int(d) for d in s.stats["shape"]] for s in snaps],
        "layouts": [s.layout for s in snaps],
        "display": bool(has_display),
        "values": bool(keep_values),
    }
    bins = snaps[0].counts.size if snaps else 0
    members: dict[str, np.ndarray] = {
        f"s{k}.stats": np.array([stats_row(s.stats) for s in snaps], dtype=np.float64).reshape(
            len(snaps), len(STAT_KEYS)
        ),
        f"s{k}.hist_range": np.array(
            [[s.hist_lo, s.hist_hi] for s in snaps], dtype=np.float64
        ).reshape(len(snaps), 2),
        f"s{k}.counts": np.array([s.counts for s in snaps], dtype=np.uint32).reshape(
            len(snaps), bins
        ),
    }
    if has_display:
        for i, s in enumerate(snaps):
            members[f"s{k}.display.{i}"] = np.ascontiguousarray(s.display, dtype=np.float16)
    if keep_values:
        for i, lid in enumerate(layers):
            members[f"s{k}.values.{i}"] = np.asarray(arrays[lid])  # type: ignore[index]
    return meta, members


def _header_array(header: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)


def temporary_sibling(path: str | os.PathLike[str]) -> pathlib.Path:
    """A fresh hidden file name next to `path`, for an atomic write (then `os.replace`)."""
    target = pathlib.Path(path)
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _write_npz_atomic(path: str | os.PathLike[str], members: dict[str, np.ndarray]) -> None:
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "xb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _header(kind: str, settings: Mapping[str, Any] | None, catalog: Any, probe: Any) -> dict:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "settings": dict(settings or {}),
        "catalog": [dict(c) for c in (catalog or [])],
        "probe": dict(probe or {}),
        "steps": [],
    }


def write_step(
    path: str | os.PathLike[str],
    step: Step,
    snapshots: Mapping[str, Snapshot],
    arrays: Mapping[str, np.ndarray] | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    catalog: Sequence[Mapping[str, Any]] | None = None,
    probe: Mapping[str, Any] | None = None,
) -> None:
    """Write one step (its snapshots, and its full arrays if given) to one `.npz`, atomically.

    Args:
        path: Destination file; replaced atomically if it exists.
        step: The step.
        snapshots: Snapshots by layer id.
        arrays: Full-precision outputs by layer id. Defaults to `None` (not stored).
        settings: Reduction settings to record (`bins`, `max_values`). Defaults to `None`.
        catalog: Layer catalog to record. Defaults to `None`.
        probe: Probe description to record. Defaults to `None`.
    """
    members = _one_step_members(step, snapshots, arrays, settings, catalog, probe)
    _write_npz_atomic(path, members)


def _one_step_members(
    step: Step,
    snapshots: Mapping[str, Snapshot],
    arrays: Mapping[str, np.ndarray] | None,
    settings: Mapping[str, Any] | None = None,
    catalog: Sequence[Mapping[str, Any]] | None = None,
    probe: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    header = _header("step", settings, catalog, probe)
    meta, members = _step_members(0, step, snapshots, arrays, has_display=True)
    header["steps"].append(meta)
    members[HEADER_KEY] = _header_array(header)
    return members


def step_to_bytes(
    step: Step,
    snapshots: Mapping[str, Snapshot],
    arrays: Mapping[str, np.ndarray] | None = None,
) -> bytes:
    """The bytes of a one-step file, as `write_step` writes it, for any filesystem.

    A `Recorder` writes these through `tf.io.gfile`; `step_from_bytes` reads them back.
    """
    buffer = io.BytesIO()
    np.savez(buffer, **_one_step_members(step, snapshots, arrays))
    return buffer.getvalue()


def write_history(
    path: str | os.PathLike[str],
    history: History,
    *,
    settings: Mapping[str, Any] | None = None,
    catalog: Sequence[Mapping[str, Any]] | None = None,
    probe: Mapping[str, Any] | None = None,
) -> None:
    """Write a whole `History` to one `.npz`, atomically; see the module docstring.

    Args:
        path: Destination file; replaced atomically if it exists.
        history: The history.
        settings: Reduction settings to record. Defaults to `None`.
        catalog: Layer catalog to record. Defaults to `None`.
        probe: Probe description to record. Defaults to `None`.
    """
    header = _header("history", settings, catalog, probe)
    header["settings"].setdefault("budget_bytes", history.budget_bytes)
    members: dict[str, np.ndarray] = {}
    for k, epoch in enumerate(history.epochs):
        step, snaps, arrays = history.record_parts(epoch)
        meta, step_members = _step_members(
            k, step, snaps, arrays, has_display=history.has_display(epoch)
        )
        header["steps"].append(meta)
        members.update(step_members)
    members[HEADER_KEY] = _header_array(header)
    _write_npz_atomic(path, members)


# ------------------------------------------------------------------------------ reading

_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    zipfile.BadZipFile,
    zlib.error,
    UnicodeDecodeError,
)


def _fail(path: Any, problem: str) -> HistoryFileError:
    return HistoryFileError(
        f"Cannot load {str(path)!r}: {problem} Pass a file written by `viewer.save(path)` "
        "(or a step file of a kerasviz_widget run folder)."
    )


def _member(npz: Any, path: Any, name: str, kind: str, ndim: int | None = None) -> np.ndarray:
    if name not in npz.files:
        raise _fail(path, f"the member {name!r} is missing, so the file is damaged.")
    try:
        array = npz[name]
    except _READ_ERRORS as exc:
        raise _fail(path, f"the member {name!r} cannot be read ({exc}).") from None
    if array.dtype.hasobject or array.dtype.kind not in kind:
        raise _fail(
            path,
            f"the member {name!r} has dtype {array.dtype}, but a history holds only numeric "
            "arrays there.",
        )
    if ndim is not None and array.ndim != ndim:
        raise _fail(path, f"the member {name!r} has {array.ndim} dimensions, expected {ndim}.")
    return array


def _read_header(npz: Any, path: Any) -> dict[str, Any]:
    if HEADER_KEY not in npz.files:
        raise _fail(path, "it is a NumPy archive but not a kerasviz_widget history (no header).")
    raw = _member(npz, path, HEADER_KEY, "u", ndim=1)
    try:
        header = json.loads(raw.astype(np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail(path, "its header is not valid JSON, so the file is damaged.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _fail(path, "it is not a kerasviz_widget history (unknown format).")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(path, f"its format version {version!r} is not a version number.")
    if version > FORMAT_VERSION:
        raise HistoryFileError(
            f"Cannot load {str(path)!r}: it was written in history format version {version}, "
            f"but this kerasviz_widget reads versions up to {FORMAT_VERSION}. Upgrade "
            "kerasviz_widget to load it."
        )
    if not isinstance(header.get("steps"), list):
        raise _fail(path, "its header lists no steps, so the file is damaged.")
    return header


def _read_step(npz: Any, path: Any, k: int, meta: Mapping[str, Any]) -> StepData:
    try:
        layers = [str(lid) for lid in meta["layers"]]
        shapes = [tuple(int(d) for d in s) for s in meta["shapes"]]
        layouts = [str(x) for x in meta["layouts"]]
        epoch = meta["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
            raise TypeError(f"epoch {epoch!r}")
        batch = meta.get("batch")
        logs = {str(name): float(v) for name, v in dict(meta.get("logs") or {}).items()}
        has_display = bool(meta.get("display", False))
        has_values = bool(meta.get("values", False))
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"the header of step {k} is malformed ({exc}).") from None
    n = len(layers)
    if len(shapes) != n or len(layouts) != n:
        raise _fail(path, f"the header of step {k} lists layers, shapes and layouts that differ.")
    stats = _member(npz, path, f"s{k}.stats", "f", ndim=2)
    ranges = _member(npz, path, f"s{k}.hist_range", "f", ndim=2)
    counts = _member(npz, path, f"s{k}.counts", "u", ndim=2)
    # A file written before the later statistics existed has fewer columns: they read as None.
    if stats.shape[0] != n or ranges.shape != (n, 2) or counts.shape[0] != n:
        raise _fail(path, f"the statistics of step {k} do not match its {n} layers.")
    step = Step(epoch=epoch, batch=None if batch is None else int(batch), logs=logs)
    snapshots: dict[str, Snapshot] = {}
    arrays: dict[str, np.ndarray] | None = {} if has_values else None
    for i, lid in enumerate(layers):
        snap_stats = stats_from_row(shapes[i], stats[i])
        if has_display:
            display = _member(npz, path, f"s{k}.display.{i}", "f")
            if display.dtype != np.float16:
                raise _fail(path, f"the display array {i} of step {k} is not float16.")
        else:
            display = np.zeros(0, dtype=np.float16)
        snapshots[lid] = Snapshot(
            layer=lid,
            epoch=label(epoch),
            batch=step.batch,
            stats=snap_stats,
            hist_lo=float(ranges[i, 0]),
            hist_hi=float(ranges[i, 1]),
            counts=counts[i].astype(np.uint32),
            display=display,
            layout=layouts[i],
        )
        if arrays is not None:
            values = _member(npz, path, f"s{k}.values.{i}", "biufc")
            if values.shape != shapes[i]:
                raise _fail(
                    path, f"the values of layer {lid!r} at step {k} do not have their shape."
                )
            arrays[lid] = values
    return StepData(step=step, snapshots=snapshots, arrays=arrays, has_display=has_display)


def read_history(path: str | os.PathLike[str]) -> HistoryData:
    """Read a file written by `write_history` or `write_step`.

    Args:
        path: The `.npz` file.

    Returns:
        A `HistoryData` with every step, in the file's order.

    Raises:
        FileNotFoundError: If `path` does not exist.
        HistoryFileError: (a `ValueError`) If the file is not ours, damaged or truncated, of a
            newer format version, or holds non-numeric (object) arrays. Nothing in it is executed.
    """
    p = pathlib.Path(path)
    if not p.exists():
        raise FileNotFoundError(f"Cannot load {str(path)!r}: there is no such file.")
    return _read_archive(p, path)


def step_from_bytes(data: bytes, name: str = "a step file") -> StepData:
    """Read the bytes of a one-step file (see `step_to_bytes`); never executes anything.

    Raises:
        HistoryFileError: As `read_history`, or if the bytes do not hold exactly one step.
    """
    steps = _read_archive(io.BytesIO(data), name).steps
    if len(steps) != 1:
        raise _fail(name, f"it holds {len(steps)} steps, not one.")
    return steps[0]


def _read_archive(source: Any, path: Any) -> HistoryData:
    try:
        npz = np.load(source, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _fail(path, f"it is not a NumPy .npz archive ({exc}).") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _fail(path, "it is a single NumPy array, not a kerasviz_widget history archive.")
    with npz:
        header = _read_header(npz, path)
        steps = [_read_step(npz, path, k, meta) for k, meta in enumerate(header["steps"])]
    settings = header.get("settings") or {}
    return HistoryData(
        steps=steps,
        settings=dict(settings) if isinstance(settings, dict) else {},
        catalog=[dict(c) for c in header.get("catalog") or [] if isinstance(c, dict)],
        probe=dict(header.get("probe") or {}),
        kind=str(header.get("kind", "history")),
    )


def read_step(path: str | os.PathLike[str]) -> StepData:
    """Read a one-step file written by `write_step`.

    Raises:
        HistoryFileError: As `read_history`, or if the file does not hold exactly one step.
    """
    data = read_history(path)
    if len(data.steps) != 1:
        raise _fail(path, f"it holds {len(data.steps)} steps, not one.")
    return data.steps[0]
