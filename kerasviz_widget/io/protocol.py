"""The wire format, Python side. `js/src/protocol.js` mirrors it.

Every message is a JSON object with a `kind`, plus zero or more binary buffers; arrays always travel
as buffers (C-contiguous, little-endian), never as JSON lists. They go as custom messages
(`widget.send`), not trait updates, which ipywidgets may squash.

| kind       | content                                                               | buffers            |
|------------|-----------------------------------------------------------------------|--------------------|
| `catalog`  | `version, layers: [{id, class_name, output_shape, params, strategy}], |                    |
|            | probe: {n, input_shapes}, colormaps, range_modes`                     |                    |
| `step`     | `epoch, batch, logs`                                                  |                    |
| `snapshot` | `layer, epoch, batch, stats, hist: {lo, hi, bins},                    | `[counts uint32,   |
|            | display: {shape, layout, axes, channel}`                              |  display float16]` |
| `status`   | `state: idle, live or error; message; skipped` (snapshots throttled)  |                    |

Python decides, the front-end draws:

- `catalog.colormaps` and `catalog.range_modes` are the values the viewer's `colormap` and
  `range_mode` accept (`COLORMAPS`, `RANGE_MODES`); the front-end builds its menus from them.
- `snapshot.display.axes` describes each display axis, in display order, as
  `{name, size, pool}` (see `core.reduce.display_axes`): `name` is `sample`, `unit`, `time`,
  `depth`, `y`, `x` or `channel`; `size` the axis length in the layer output as arranged for
  display; `pool` the block length, so that display index `i` covers
  `[i * pool, min(size, (i + 1) * pool))` of `viewer.values(layer)`. The axis of a flattened
  output (rank 0, or rank > 5) adds `flattened`, the lengths of the output's axes it holds in C
  order (`[]` for a scalar). The front-end maps hover positions through these and derives no
  factor of its own.
- `snapshot.display.channel` is the channel a new view shows (`core.reduce.default_channel`: the
  one with the largest spread); the front-end takes it from the layer's latest step until the
  user picks a channel.

Front-end to Python: `{"kind": "replay"}`; the answer is the catalog, every step and every kept
snapshot. `PROTOCOL_VERSION` changes whenever a front-end would misread the other side's messages
(2: snapshots carry `display.axes`, the catalog its menus).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..core.reduce import Snapshot, default_channel

PROTOCOL_VERSION = 2

COLORMAPS = ("auto", "viridis", "magma", "gray", "diverging")
"""Colour maps the viewer accepts; `auto` is diverging for signed data and viridis otherwise."""

RANGE_MODES = ("layer", "map", "fixed")
"""Colour-range modes: the layer across every step, the map on display, or the user's range."""

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
        "colormaps": list(COLORMAPS),
        "range_modes": list(RANGE_MODES),
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
        "display": {
            "shape": list(snap.display.shape),
            "layout": snap.layout,
            "axes": snap.axes,
            "channel": default_channel(snap.display, snap.layout),
        },
    }
    buffers = [
        to_buffer(snap.counts, WIRE_DTYPES["counts"]),
        to_buffer(snap.display, WIRE_DTYPES["display"]),
    ]
    return content, buffers


def encode_status(state: str, message: str = "", skipped: int = 0) -> Message:
    """`skipped` counts the per-batch snapshots the callback's throttle skipped during `fit`."""
    if state not in ("idle", "live", "error"):
        raise ValueError(f"Unknown status state {state!r}; expected idle, live or error.")
    return {"kind": "status", "state": state, "message": message, "skipped": int(skipped)}, []
