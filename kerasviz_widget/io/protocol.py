"""The wire format, Python side. `js/src/protocol.js` mirrors it.

Every message is a JSON object with a `kind`, plus zero or more binary buffers; arrays always travel
as buffers (C-contiguous, little-endian), never as JSON lists. They go as custom messages
(`widget.send`), not trait updates, which ipywidgets may squash.

| kind       | content                                                               | buffers            |
|------------|-----------------------------------------------------------------------|--------------------|
| `catalog`  | `version, layers: [{id, class_name, output_shape, params, strategy}], |                    |
|            | probe: {n, input_shapes}`                                             |                    |
| `step`     | `epoch, batch, logs`                                                  |                    |
| `snapshot` | `layer, epoch, batch, stats, hist: {lo, hi, bins},                    | `[counts uint32,   |
|            | display: {shape, layout}`                                             |  display float16]` |
| `thinned`  | `epochs` whose full values were dropped                               |                    |
| `status`   | `state: idle, live or error; message; skipped` (snapshots throttled)  |                    |

Front-end to Python: `{"kind": "replay"}`; the answer is the catalog, every step and every kept
snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..core.reduce import Snapshot

PROTOCOL_VERSION = 1

WIRE_DTYPES = {"counts": np.dtype("<u4"), "display": np.dtype("<f2")}

Message = tuple[dict[str, Any], list[memoryview]]


def to_buffer(array: np.ndarray, dtype: np.dtype) -> memoryview:
    """A C-contiguous, little-endian buffer of `array` cast to the wire `dtype`."""
    return memoryview(np.ascontiguousarray(array, dtype=dtype)).cast("B")


def json_number(value: Any) -> Any:
    """A JSON-safe number: NaN and infinities become `None`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode_catalog(layers: Iterable[Mapping[str, Any]], probe: Mapping[str, Any]) -> Message:
    return {
        "kind": "catalog",
        "version": PROTOCOL_VERSION,
        "layers": [dict(layer) for layer in layers],
        "probe": dict(probe),
    }, []


def encode_step(epoch: float, batch: int | None, logs: Mapping[str, float]) -> Message:
    return {
        "kind": "step",
        "epoch": epoch,
        "batch": batch,
        "logs": {k: json_number(float(v)) for k, v in logs.items()},
    }, []


def encode_snapshot(snap: Snapshot) -> Message:
    stats = {
        k: (list(v) if isinstance(v, tuple) else json_number(v)) for k, v in snap.stats.items()
    }
    content = {
        "kind": "snapshot",
        "layer": snap.layer,
        "epoch": snap.epoch,
        "batch": snap.batch,
        "stats": stats,
        "hist": {"lo": snap.hist_lo, "hi": snap.hist_hi, "bins": int(snap.counts.size)},
        "display": {"shape": list(snap.display.shape), "layout": snap.layout},
    }
    buffers = [
        to_buffer(snap.counts, WIRE_DTYPES["counts"]),
        to_buffer(snap.display, WIRE_DTYPES["display"]),
    ]
    return content, buffers


def encode_thinned(epochs: Iterable[float]) -> Message:
    return {"kind": "thinned", "epochs": list(epochs)}, []


def encode_status(state: str, message: str = "", skipped: int = 0) -> Message:
    """`skipped` counts the per-batch snapshots the callback's throttle skipped during `fit`."""
    if state not in ("idle", "live", "error"):
        raise ValueError(f"Unknown status state {state!r}; expected idle, live or error.")
    return {"kind": "status", "state": state, "message": message, "skipped": int(skipped)}, []
