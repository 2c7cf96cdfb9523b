"""The on-disk format of histories: NumPy `.npz` archives, never pickle.

A file holds one or more `Step`s. `write_history` puts a whole `History` in one file (what
`viewer.save` writes); `step_to_bytes` gives one step as the bytes of one file (what a run folder
stores per step). Files are written with `files.atomic_write`, so a reader never sees half a file.
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

and, for the step at position `k` in `steps`, with `L` layers and `B` bins (the arrays of
`core.step.StatsTable`, then the step's arrays):

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
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from ..core.history import History
from ..core.settings import Settings
from ..core.step import StatsTable, Step, label
from .files import HISTORY_FORMAT, HISTORY_VERSION, atomic_write, read_bytes

HEADER_KEY = "kerasviz_header"


class HistoryFileError(ValueError):
    """A file is not a readable kerasviz_widget history (not ours, damaged, or too new)."""


@dataclass
class HistoryData:
    """The content of a history file: its steps and what the header records beside them."""

    steps: list[Step]
    settings: Settings = field(default_factory=Settings)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)
    kind: str = "history"


# ------------------------------------------------------------------------------ writing


def _step_members(k: int, step: Step) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    table = StatsTable.pack(step.snapshots)
    arrays = step.arrays
    keep_values = arrays is not None and all(lid in arrays for lid in table.layers)
    meta = {
        "epoch": label(step.epoch),
        "batch": step.batch,
        "logs": {str(name): float(v) for name, v in step.logs.items()},
        "layers": list(table.layers),
        "shapes": [list(shape) for shape in table.shapes],
        "layouts": list(table.layouts),
        "display": bool(step.has_display),
        "values": bool(keep_values),
    }
    members: dict[str, np.ndarray] = {
        f"s{k}.stats": table.stats,
        f"s{k}.hist_range": table.ranges,
        f"s{k}.counts": table.counts,
    }
    snaps = list(step.snapshots.values())
    if step.has_display:
        for i, s in enumerate(snaps):
            members[f"s{k}.display.{i}"] = np.ascontiguousarray(s.display, dtype=np.float16)
    if keep_values:
        for i, lid in enumerate(table.layers):
            members[f"s{k}.values.{i}"] = np.asarray(arrays[lid])  # type: ignore[index]
    return meta, members


def _header_array(header: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)


def _members(
    kind: str,
    steps: Sequence[Step],
    settings: Settings | None,
    catalog: Sequence[Mapping[str, Any]] | None,
    probe: Mapping[str, Any] | None,
) -> dict[str, np.ndarray]:
    header: dict[str, Any] = {
        "format": HISTORY_FORMAT,
        "version": HISTORY_VERSION,
        "kind": kind,
        "settings": settings.to_json() if settings is not None else {},
        "catalog": [dict(c) for c in (catalog or [])],
        "probe": dict(probe or {}),
        "steps": [],
    }
    members: dict[str, np.ndarray] = {}
    for k, step in enumerate(steps):
        meta, step_members = _step_members(k, step)
        header["steps"].append(meta)
        members.update(step_members)
    members[HEADER_KEY] = _header_array(header)
    return members


def _savez(members: Mapping[str, np.ndarray]) -> Any:
    def write(f: IO[bytes]) -> None:
        np.savez(f, **members)

    return write


def step_to_bytes(step: Step) -> bytes:
    """The bytes of a one-step file; `step_from_bytes` reads them back."""
    buffer = io.BytesIO()
    _savez(_members("step", [step], None, None, None))(buffer)
    return buffer.getvalue()


def write_step(path: str | os.PathLike[str], step: Step) -> None:
    """Write one step (its snapshots, and its full arrays if it has them) to one file, atomically.

    A run folder stores every step so; `path` may be any path `tf.io.gfile` opens.
    """
    atomic_write(path, step_to_bytes(step))


def write_history(
    path: str | os.PathLike[str],
    history: History,
    *,
    settings: Settings | None = None,
    catalog: Sequence[Mapping[str, Any]] | None = None,
    probe: Mapping[str, Any] | None = None,
) -> None:
    """Write a whole `History` to one `.npz`, atomically; see the module docstring.

    Args:
        path: Destination file; replaced atomically if it exists.
        history: The history.
        settings: The settings to record. Defaults to `None`: the defaults, with the history's
            budget.
        catalog: Layer catalog to record. Defaults to `None`.
        probe: Probe description to record. Defaults to `None`.
    """
    settings = settings or Settings(budget_bytes=history.budget_bytes)
    steps = [history.step(epoch) for epoch in history.epochs]
    atomic_write(path, _savez(_members("history", steps, settings, catalog, probe)))


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
    if not isinstance(header, dict) or header.get("format") != HISTORY_FORMAT:
        raise _fail(path, "it is not a kerasviz_widget history (unknown format).")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(path, f"its format version {version!r} is not a version number.")
    if version > HISTORY_VERSION:
        raise HistoryFileError(
            f"Cannot load {str(path)!r}: it was written in history format version {version}, "
            f"but this kerasviz_widget reads versions up to {HISTORY_VERSION}. Upgrade "
            "kerasviz_widget to load it."
        )
    if not isinstance(header.get("steps"), list):
        raise _fail(path, "its header lists no steps, so the file is damaged.")
    return header


def _read_step(npz: Any, path: Any, k: int, meta: Mapping[str, Any]) -> Step:
    try:
        epoch = meta["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
            raise TypeError(f"epoch {epoch!r}")
        batch = meta.get("batch")
        logs = {str(name): float(v) for name, v in dict(meta.get("logs") or {}).items()}
        has_display = bool(meta.get("display", False))
        has_values = bool(meta.get("values", False))
        layers, shapes, layouts = meta["layers"], meta["shapes"], meta["layouts"]
        if len(shapes) != len(layers) or len(layouts) != len(layers):
            raise _fail(
                path, f"the header of step {k} lists layers, shapes and layouts that differ."
            )
        stats = _member(npz, path, f"s{k}.stats", "f", ndim=2)
        ranges = _member(npz, path, f"s{k}.hist_range", "f", ndim=2)
        counts = _member(npz, path, f"s{k}.counts", "u", ndim=2)
        try:
            table = StatsTable(layers, shapes, layouts, stats, ranges, counts)
        except ValueError as exc:
            raise _fail(path, f"{exc} (step {k}).") from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, HistoryFileError):
            raise
        raise _fail(path, f"the header of step {k} is malformed ({exc}).") from None
    batch = None if batch is None else int(batch)
    snapshots = {}
    arrays: dict[str, np.ndarray] | None = {} if has_values else None
    for i, lid in enumerate(table.layers):
        display = None
        if has_display:
            display = _member(npz, path, f"s{k}.display.{i}", "f")
            if display.dtype != np.float16:
                raise _fail(path, f"the display array {i} of step {k} is not float16.")
        snapshots[lid] = table.snapshot(i, epoch=epoch, batch=batch, display=display)
        if arrays is not None:
            values = _member(npz, path, f"s{k}.values.{i}", "biufc")
            if values.shape != table.shapes[i]:
                raise _fail(
                    path, f"the values of layer {lid!r} at step {k} do not have their shape."
                )
            arrays[lid] = values
    return Step(label(epoch), batch, logs, snapshots, arrays, has_display)


def read_history(path: str | os.PathLike[str]) -> HistoryData:
    """Read a file written by `write_history` (or a step file of a run folder).

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
        raise FileNotFoundError(
            f"Cannot load {str(path)!r}: there is no such file. Check the path; pass a file "
            "written by `viewer.save(path)`, or a run folder written by a `Recorder`."
        )
    return _read_archive(p, path)


def step_from_bytes(data: bytes, name: str = "a step file") -> Step:
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
        try:
            steps = [_read_step(npz, path, k, meta) for k, meta in enumerate(header["steps"])]
            settings = header.get("settings")
            return HistoryData(
                steps=steps,
                settings=Settings.from_json(settings if isinstance(settings, dict) else None),
                catalog=check_catalog(header.get("catalog") or []),
                probe=check_probe_info(header.get("probe") or {"n": 0, "input_shapes": []}),
                kind=str(header.get("kind", "history")),
            )
        except HistoryFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - any other damage: refused, naming the file
            raise _fail(path, f"its content is malformed ({exc}).") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_catalog(value: Any) -> list[dict[str, Any]]:
    """A recorded layer catalog, checked entry by entry; a `ValueError` says what is wrong.

    Each entry is `{"id": str, "class_name": str, "output_shape": [int | None, ...],
    "params": int, "strategy": str}`; ids are unique.
    """
    if not isinstance(value, list):
        raise ValueError(f"the layer catalog is a {type(value).__name__}, not a list")
    out = []
    for i, entry in enumerate(value):
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), str)
            and isinstance(entry.get("class_name", ""), str)
            and isinstance(entry.get("strategy", ""), str)
            and _is_int(entry.get("params", 0))
            and isinstance(entry.get("output_shape", []), list)
            and all(d is None or _is_int(d) for d in entry.get("output_shape", []))
        )
        if not ok:
            raise ValueError(f"entry {i} of the layer catalog is malformed: {entry!r:.200}")
        out.append(dict(entry))
    ids = [e["id"] for e in out]
    if len(set(ids)) != len(ids):
        raise ValueError("the layer catalog lists a layer id twice")
    return out


def check_probe_info(value: Any) -> dict[str, Any]:
    """A recorded probe description `{"n": int, "input_shapes": [[int, ...], ...]}`, checked."""
    ok = (
        isinstance(value, dict)
        and _is_int(value.get("n"))
        and isinstance(value.get("input_shapes"), list)
        and all(isinstance(s, list) and all(_is_int(d) for d in s) for s in value["input_shapes"])
    )
    if not ok:
        raise ValueError(f"the probe description is malformed: {value!r:.200}")
    return dict(value)


def read_step(path: str | os.PathLike[str]) -> Step:
    """Read a one-step file written by `write_step` (any path `tf.io.gfile` opens).

    Raises:
        HistoryFileError: As `read_history`, or if the file does not hold exactly one step.
    """
    return step_from_bytes(read_bytes(os.fspath(path)), f"The step file {os.fspath(path)!r}")
