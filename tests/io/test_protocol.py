"""The wire format: what each message carries, and the golden fixtures the front-end tests read.

The golden fixtures under `tests/fixtures/protocol/` are real messages: made by the real reduction
(`reduce_many`, the widget's path) and `protocol.encode_*`, with the answer the front-end must give
for a few hover positions stored beside each one. That answer comes from an oracle that does not
use the pool factors: it moves a single one through every position of each axis of the layer
output, reduces it, and sees which display index lights up. The node tests (`js/test/`) decode
the same files, so neither side can drift from the other. `test_golden_fixtures_are_up_to_date`
fails when the committed files differ from what it would write; run it with
`KERASVIZ_UPDATE_FIXTURES=1` to rewrite them.
"""

from __future__ import annotations

import base64
import json
import math
import os
import pathlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerasviz_widget.core.extract import probe_info
from kerasviz_widget.core.reduce import (
    arrange,
    display_array,
    display_axes,
    pool_factors,
    reduce_array,
    reduce_many,
)
from kerasviz_widget.io import protocol

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "protocol"

# name: (layer output shape, max_values, display indices to hover besides first, middle, last)
CASES: dict[str, tuple[tuple[int, ...], int, list[list[int]]]] = {
    # Pooled by 3, not a power of two: hovering [0, 10, 15, 0] is [0, 30:33, 45:48, 0].
    "pool3_nhwc": ((1, 100, 100, 1), 2000, [[0, 10, 15, 0]]),
    # Time and units pooled by one factor 4, both with a ragged last block (48:50 and 4:7).
    "ragged_ntd": ((2, 50, 7), 60, [[1, 3, 0]]),
    # Rank 6 is shown flattened, (2, 2520), its units pooled by 6.
    "flat_6d": ((2, 3, 4, 5, 6, 7), 1000, [[1, 100]]),
    # The image gives way to one pixel, then the channels are pooled too.
    "channels_give_way": ((3, 4, 4, 5), 4, []),
    # A volume pooled by 3 along depth, height and width.
    "pool3_ndhwc": ((1, 6, 10, 10, 2), 100, [[0, 1, 2, 3, 1]]),
    # One bar per sample, pooled by 3 with a ragged last block of one.
    "bars_pool3": ((10,), 4, []),
    # Nothing pooled.
    "exact_nd": ((3, 5), 1000, [[2, 3]]),
    # A scalar output is one bar, indexed as [()].
    "scalar": ((), 1000, []),
}


def _message_json(message: protocol.Message) -> dict[str, Any]:
    """A message as JSON: its content, and its buffers in base64 (in the fixture only)."""
    content, buffers = message
    return {
        "content": content,
        "buffers": [base64.b64encode(bytes(b)).decode("ascii") for b in buffers],
    }


def _data(shape: tuple[int, ...]) -> np.ndarray:
    """Whole numbers as float32: every block mean is then exact in float64 on any machine."""
    rng = np.random.default_rng(sum(shape) + len(shape))
    return rng.integers(-40, 41, size=shape).astype(np.float32)


def _oracle_blocks(shape: tuple[int, ...], max_values: int) -> list[list[tuple[int, int]]]:
    """For each axis of the arranged output, the `[start, stop)` that each display index covers.

    Found without any pool factor: a single one is moved through every position of the axis and
    the reduced display array shows which display index it lands in.
    """
    arranged = arrange(np.zeros(shape, np.float32))[0].shape
    blocks = []
    for axis, n in enumerate(arranged):
        landed = []
        for p in range(n):
            onehot = np.zeros(arranged, np.float32)
            onehot[(0,) * axis + (p,) + (0,) * (len(arranged) - axis - 1)] = 1.0
            display, _ = display_array(onehot.reshape(shape), max_values)
            (hit,) = np.argwhere(display != 0)
            landed.append(int(hit[axis]))
        bounds = []
        for i in range(max(landed) + 1):
            where = [p for p, d in enumerate(landed) if d == i]
            assert where == list(range(where[0], where[-1] + 1)), "a block is not contiguous"
            bounds.append((where[0], where[-1] + 1))
        blocks.append(bounds)
    return blocks


def _numpy_index(ranges: list[tuple[int, int]], scalar: bool) -> str:
    """NumPy's index text for a block, as the hover line shows it: `[0, 30:33, 45:48, 0]`."""
    if scalar:
        return "[()]"
    return "[" + ", ".join(f"{a}" if b - a == 1 else f"{a}:{b}" for a, b in ranges) + "]"


def _case(name: str) -> dict[str, Any]:
    shape, max_values, extra = CASES[name]
    data = _data(shape)
    snap = reduce_many({name: data}, epoch=1, max_values=max_values)[name]
    message = protocol.encode_snapshot(snap)
    blocks = _oracle_blocks(shape, max_values)
    arranged = arrange(data)[0]
    display = snap.display.astype(np.float64)
    dims = display.shape
    positions = [[0] * len(dims), [d // 2 for d in dims], [d - 1 for d in dims], *extra]
    probes = []
    for index in positions:
        ranges = [blocks[axis][i] for axis, i in enumerate(index)]
        block = arranged[tuple(slice(a, b) for a, b in ranges)]
        mean = float(block.astype(np.float64).mean())
        value = float(display[tuple(index)])
        assert value == float(np.float16(mean)), (name, index, value, mean)
        probes.append(
            {
                "index": index,
                "ranges": [list(r) for r in ranges],
                "numpy": _numpy_index(ranges, scalar=data.ndim == 0),
                "mean": mean,
                "value": value,
            }
        )
    return {
        "case": name,
        "shape": list(shape),
        "max_values": max_values,
        "message": _message_json(message),
        "probes": probes,
    }


def _catalog() -> dict[str, Any]:
    probe = _data((1, 100, 100, 1))
    layers = [
        {
            "id": name,
            "class_name": "Layer",
            "output_shape": [None, *CASES[name][0][1:]],
            "params": 0,
            "strategy": "functional",
        }
        for name in CASES
    ]
    return {"message": _message_json(protocol.encode_catalog(layers, probe_info(probe)))}


def _fixtures() -> dict[str, dict[str, Any]]:
    files = {f"{name}.json": _case(name) for name in CASES}
    files["catalog.json"] = _catalog()
    return files


def _text(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def _same(a: Any, b: Any) -> bool:
    """Equal JSON, floats to 1e-12: exact statistics may differ in the last bit between CPUs."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and (math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300))
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def test_golden_fixtures_are_up_to_date():
    files = _fixtures()
    if os.environ.get("KERASVIZ_UPDATE_FIXTURES") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for old in FIXTURES.glob("*.json"):
            old.unlink()
        for name, obj in files.items():
            (FIXTURES / name).write_text(_text(obj))
    committed = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert committed == sorted(files), (
        f"tests/fixtures/protocol holds {committed}, the generator writes {sorted(files)}. "
        "Rewrite them with KERASVIZ_UPDATE_FIXTURES=1."
    )
    for name, obj in files.items():
        on_disk = json.loads((FIXTURES / name).read_text())
        assert _same(on_disk, json.loads(_text(obj))), (
            f"tests/fixtures/protocol/{name} differs from what the protocol writes now. "
            "Rewrite the fixtures with KERASVIZ_UPDATE_FIXTURES=1 and check the front-end tests."
        )


def test_a_snapshot_carries_its_layout_axes_and_pool_factors():
    content, buffers = protocol.encode_snapshot(
        reduce_array("c", _data((1, 100, 100, 1)), epoch=0, max_values=2000)
    )
    json.dumps(content)
    assert content["display"] == {
        "shape": [1, 34, 34, 1],
        "layout": "NHWC",
        "axes": [
            {"name": "sample", "size": 1, "pool": 1},
            {"name": "y", "size": 100, "pool": 3},
            {"name": "x", "size": 100, "pool": 3},
            {"name": "channel", "size": 1, "pool": 1},
        ],
        "channel": 0,
    }
    assert np.frombuffer(buffers[1], "<f2").size == 34 * 34


def test_a_snapshot_carries_the_histogram_note_python_decides():
    bad = np.ones((4, 5), np.float32)
    bad[0, :2] = np.nan
    content, _ = protocol.encode_snapshot(reduce_array("d", bad, epoch=0))
    assert content["hist"]["note"] == "2 NaN not counted"
    none, _ = protocol.encode_snapshot(reduce_array("d", np.full((2, 2), np.nan, "f4"), epoch=0))
    assert none["hist"]["note"] == "no finite value: 4 NaN"
    clean, _ = protocol.encode_snapshot(reduce_array("d", np.ones((2, 2), np.float32), epoch=0))
    assert clean["hist"]["note"] is None


def test_a_snapshot_names_its_widest_spread_channel_as_the_default():
    rng = np.random.default_rng(0)
    data = np.zeros((2, 5, 5, 4), np.float32)
    data[..., 1] = 0.01 * rng.random((2, 5, 5))  # nearly flat
    data[..., 2] = rng.normal(size=(2, 5, 5))  # the widest spread
    data[..., 3] = 0.5 * rng.normal(size=(2, 5, 5))
    data[0, 0, 0, 0] = np.nan  # NaN is left out, not a spread
    content, _ = protocol.encode_snapshot(reduce_array("c", data, epoch=0))
    assert content["display"]["channel"] == 2
    flat, _ = protocol.encode_snapshot(reduce_array("d", np.ones((2, 3), np.float32), epoch=0))
    assert flat["display"]["channel"] == 0  # no channels to choose from


def test_a_flattened_output_says_which_axes_its_one_axis_holds():
    axes = display_axes((2, 3, 4, 5, 6, 7), "ND", (2, 420))
    assert axes[1] == {"name": "unit", "size": 2520, "pool": 6, "flattened": [3, 4, 5, 6, 7]}
    assert display_axes((), "bars", (1,)) == [
        {"name": "sample", "size": 1, "pool": 1, "flattened": []}
    ]


def test_display_axes_rejects_a_display_shape_of_another_layout():
    with pytest.raises(ValueError, match=r"layout 'ND'.*shown as 'NHWC'"):
        display_axes((1, 4, 4, 1), "ND", (1, 16))


@settings(max_examples=300, deadline=None)
@given(
    shape=st.lists(st.integers(0, 40), min_size=0, max_size=6).map(tuple),
    max_values=st.integers(1, 3000),
)
def test_display_axes_recover_the_factors_the_pooling_rule_chose(shape, max_values):
    arranged, layout = arrange(np.broadcast_to(np.float32(0), shape))
    factors = pool_factors(arranged.shape, layout, max_values)
    display_shape = tuple(-(-n // f) for n, f in zip(arranged.shape, factors, strict=True))
    axes = display_axes(shape, layout, display_shape)
    assert [a["pool"] for a in axes] == list(factors)
    assert [a["size"] for a in axes] == list(arranged.shape)


def test_the_catalog_lists_the_menus_the_viewer_accepts():
    content, _ = protocol.encode_catalog([], {"n": 0, "input_shapes": []})
    assert content["version"] == protocol.PROTOCOL_VERSION
    assert content["colormaps"] == list(protocol.COLORMAPS)
    assert content["range_modes"] == list(protocol.RANGE_MODES)


def test_status_rejects_an_unknown_state():
    with pytest.raises(ValueError, match="Unknown status state 'busy'"):
        protocol.encode_status("busy")


def test_a_batch_takes_apart_into_its_messages_with_their_buffers():
    snap = reduce_array("d", np.arange(6.0, dtype=np.float32).reshape(2, 3), epoch=1)
    messages = [
        protocol.encode_step(1, None, {"loss": 0.5}),
        protocol.encode_snapshot(snap),
        protocol.encode_findings(1, [], None),
    ]
    content, buffers = protocol.encode_batch(messages)
    json.dumps(content, allow_nan=False)  # the content stays plain JSON
    assert content["kind"] == "batch" and content["buffers"] == [0, 2, 0]
    back = protocol.unbatch(content, buffers)
    assert [c for c, _ in back] == [c for c, _ in messages]
    assert [[bytes(b) for b in bs] for _, bs in back] == [
        [bytes(b) for b in bs] for _, bs in messages
    ]
    status = protocol.encode_status("idle")
    assert protocol.unbatch(*status) == [status]


def test_batches_keep_the_order_and_their_byte_budget():
    snaps = [
        protocol.encode_snapshot(reduce_array(f"l{i}", np.full((4, 100), i, np.float32), epoch=0))
        for i in range(10)
    ]
    each = sum(memoryview(b).nbytes for b in snaps[0][1])
    out = list(protocol.batches(snaps, max_bytes=3 * each))
    assert [len(c["messages"]) for c, _ in out] == [3, 3, 3, 1]
    flat = [m for c, b in out for m in protocol.unbatch(c, b)]
    assert [c["layer"] for c, _ in flat] == [f"l{i}" for i in range(10)]
    assert [len(c["messages"]) for c, _ in protocol.batches(snaps, max_bytes=1)] == [1] * 10
