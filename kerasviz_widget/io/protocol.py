"""The wire format, Python side. `js/src/protocol.js` mirrors it.

Every message is a JSON object with a `kind`, plus zero or more binary buffers; arrays always travel
as buffers (C-contiguous, little-endian), never as JSON lists. They go as custom messages
(`widget.send`), not trait updates, which ipywidgets may squash.

| kind       | content                                                               | buffers            |
|------------|-----------------------------------------------------------------------|--------------------|
| `catalog`  | `version, layers: [{id, class_name, output_shape, params, strategy}], |                    |
|            | probe: {n, input_shapes}, colormaps, range_modes, overview_stats`     |                    |
| `step`     | `epoch, batch, logs`                                                  |                    |
| `snapshot` | `layer, epoch, batch, stats, hist: {lo, hi, bins, note},              | `[counts uint32,   |
|            | display: {shape, layout, axes, channel}`                              |  display float16]` |
| `findings` | `epoch, findings: [{layer, epoch, kind, fraction, message}],          |                    |
|            | first_bad: [layer, epoch] or null`                                    |                    |
| `status`   | `state: idle, live or error; message; skipped` (snapshots throttled)  |                    |
| `batch`    | `messages: [content, ...], buffers: [count, ...]`: several messages   | every message's    |
|            | in order, the `i`-th with the next `buffers[i]` buffers               | buffers, in order  |

Python decides, the front-end draws:

- `catalog.colormaps` and `catalog.range_modes` are the values the viewer's `colormap` and
  `range_mode` accept (`COLORMAPS`, `RANGE_MODES`); the front-end builds its menus from them.
  `catalog.overview_stats` lists the statistics the overview can be coloured by, as
  `{key, label}` (`OVERVIEW_STATS`): `key` names an entry of every snapshot's `stats`.
- `snapshot.stats` holds every statistic of `core.reduce.STAT_KEYS` and `nonfinite_fraction`
  (`core.health.nonfinite_fraction`, the fraction of values that are NaN or infinite).
- `snapshot.hist.note` says what the histogram leaves out (`core.health.histogram_note`: its
  NaN and infinite values, or that it has none to show), or is `null`; the front-end shows it
  with the histogram.
- `findings` follows the snapshots of each step: the step's health findings
  (`core.health.findings`, default thresholds) and the run's first bad layer so far
  (`core.health.first_bad_layer`); the front-end shows them as they are.
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

A recorded step travels as one `batch` (its `step`, `snapshot` and `findings` messages), and a
replay as a few (`batches`: at most `BATCH_BYTES` of buffers each, so a step of a large model may
take more than one): a comm message costs 80–170 µs in a kernel whatever its size, and a step of
a 7-layer model has nine messages.

Front-end to Python: `{"kind": "replay"}`; the answer is the catalog, every step and every kept
snapshot. `PROTOCOL_VERSION` changes whenever a front-end would misread the other side's messages
(2: snapshots carry `display.axes`, the catalog its menus; the `findings` message and
`catalog.overview_stats` were added without a change, as a front-end ignores kinds and keys it
does not know; 3: `batch`, which a front-end of version 2 would ignore).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ..core.health import histogram_note, nonfinite_fraction
from ..core.reduce import Snapshot, default_channel

PROTOCOL_VERSION = 3

BATCH_BYTES = 8 << 20
"""Most buffer bytes in one `batch` of `batches` (a message larger than this goes alone)."""

COLORMAPS = ("auto", "viridis", "magma", "gray", "diverging")
"""Colour maps the viewer accepts; `auto` is diverging for signed data and viridis otherwise."""

RANGE_MODES = ("layer", "map", "fixed")
"""Colour-range modes: the layer across every step, the map on display, or the user's range."""

VIEW_TRAITS = (
    "layer",
    "epoch",
    "sample",
    "channel",
    "slice",
    "montage",
    "colormap",
    "range_mode",
    "range_lo",
    "range_hi",
    "log_y",
    "ridge",
    "pinned",
    "diff",
    "overview_stat",
    "follow",
)
"""The canvas's view traits: what a view shows. A change of one redraws every view (the
front-end takes the list from the model's `_view_traits`); a saved page and the static picture
start from their values."""

OVERVIEW_STATS = {
    "mean_abs": "mean |x|",
    "std": "std",
    "zero_fraction": "zero fraction",
    "nonfinite_fraction": "NaN/Inf fraction",
    "relative_change": "relative change",
}
"""The statistics the overview can be coloured by (keys of a snapshot's `stats`), with their
labels; the viewer's `overview_stat` accepts these keys."""

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
        "overview_stats": [{"key": k, "label": v} for k, v in OVERVIEW_STATS.items()],
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
    stats["nonfinite_fraction"] = json_number(nonfinite_fraction(snap.stats))
    content = {
        "kind": "snapshot",
        "layer": snap.layer,
        "epoch": snap.epoch,
        "batch": snap.batch,
        "stats": stats,
        "hist": {
            "lo": snap.hist_lo,
            "hi": snap.hist_hi,
            "bins": int(snap.counts.size),
            "note": histogram_note(snap.stats),
        },
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


def encode_findings(
    epoch: float,
    findings: Iterable[Mapping[str, Any]],
    first_bad: tuple[str, float] | None,
) -> Message:
    """The health findings of one step, and the run's first bad layer so far (or `None`)."""
    return {
        "kind": "findings",
        "epoch": epoch,
        "findings": [
            {
                "layer": str(f["layer"]),
                "epoch": f["epoch"],
                "kind": str(f["kind"]),
                "fraction": json_number(float(f["fraction"])),
                "message": str(f["message"]),
            }
            for f in findings
        ],
        "first_bad": None if first_bad is None else [str(first_bad[0]), first_bad[1]],
    }, []


def encode_status(state: str, message: str = "", skipped: int = 0) -> Message:
    """`skipped` counts the per-batch snapshots the callback's throttle skipped during `fit`."""
    if state not in ("idle", "live", "error"):
        raise ValueError(f"Unknown status state {state!r}; expected idle, live or error.")
    return {"kind": "status", "state": state, "message": message, "skipped": int(skipped)}, []


def encode_batch(messages: Iterable[Message]) -> Message:
    """Several messages as one `batch`, in order; `unbatch` takes it apart."""
    contents: list[Mapping[str, Any]] = []
    counts: list[int] = []
    buffers: list[memoryview] = []
    for content, bufs in messages:
        contents.append(content)
        counts.append(len(bufs))
        buffers.extend(bufs)
    return {"kind": "batch", "messages": contents, "buffers": counts}, buffers


def unbatch(content: Mapping[str, Any], buffers: list[Any]) -> list[Message]:
    """The messages of a `batch`, with their buffers; any other message alone."""
    if content.get("kind") != "batch":
        return [(dict(content), list(buffers))]
    out: list[Message] = []
    start = 0
    for inner, count in zip(content["messages"], content["buffers"], strict=True):
        out.append((inner, list(buffers[start : start + count])))
        start += count
    return out


def batches(messages: Iterable[Message], max_bytes: int = BATCH_BYTES) -> Iterator[Message]:
    """`messages` in order, as `batch`es of at most `max_bytes` of buffers each (a message
    larger than that goes alone, in a batch of its own)."""
    group: list[Message] = []
    size = 0
    for message in messages:
        nbytes = sum(memoryview(b).nbytes for b in message[1])
        if group and size + nbytes > max_bytes:
            yield encode_batch(group)
            group, size = [], 0
        group.append(message)
        size += nbytes
    if group:
        yield encode_batch(group)
