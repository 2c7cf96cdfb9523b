"""The widget without a browser: values, epochs, messages on the wire, bad input."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from kerasviz_widget import TensorViewer
from kerasviz_widget.io import protocol


def capture(viewer: TensorViewer) -> list[tuple[dict, list]]:
    """Record what the viewer sends to the front-end from now on."""
    sent: list[tuple[dict, list]] = []
    viewer._canvas.send = lambda content, buffers=None: sent.extend(
        protocol.unbatch(content, buffers or [])
    )
    return sent


def test_values_equal_a_sub_model_for_every_layer(cnn, data):
    x, _ = data
    probe = x[:16]
    viewer = TensorViewer(cnn, probe)
    assert viewer.layers == ["input", "conv2d", "pool", "flatten", "dense"]
    np.testing.assert_array_equal(viewer.values("input", 0), probe)
    for name in viewer.layers[1:]:
        oracle = keras.Model(cnn.inputs, cnn.get_layer(name).output)
        expected = oracle.predict(probe, verbose=0)
        np.testing.assert_allclose(viewer.values(name, 0), expected, rtol=1e-5, atol=1e-6)


def test_fit_records_epoch_zero_then_every_epoch(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:16])
    before = viewer.values("dense", 0).copy()
    cnn.fit(x, y, epochs=2, batch_size=16, callbacks=[viewer.callback()], verbose=0)
    assert viewer.epochs == [0, 1, 2]
    after = keras.Model(cnn.inputs, cnn.get_layer("dense").output).predict(x[:16], verbose=0)
    np.testing.assert_allclose(viewer.values("dense", 2), after, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(viewer.values("dense"), after, rtol=1e-5, atol=1e-6)
    assert not np.allclose(before, after), "training should have changed the outputs"


def test_snapshots_travel_as_binary_buffers(cnn, data):
    x, y = data
    viewer = TensorViewer(cnn, x[:16])
    sent = capture(viewer)
    cnn.fit(x, y, epochs=1, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    kinds = [content["kind"] for content, _ in sent]
    assert kinds.count("step") == 1
    assert kinds.count("snapshot") == len(viewer.layers)
    for content, buffers in sent:
        json.dumps(content)  # content is plain JSON, arrays are not in it
        if content["kind"] != "snapshot":
            continue
        counts = np.frombuffer(buffers[0], dtype="<u4")
        display = np.frombuffer(buffers[1], dtype="<f2")
        assert counts.size == content["hist"]["bins"] == 64
        assert display.size == int(np.prod(content["display"]["shape"]))
        assert counts.sum() == int(np.prod(content["stats"]["shape"]))
        full = viewer.values(content["layer"], 1)
        np.testing.assert_allclose(
            display.reshape(content["display"]["shape"]).astype(np.float32),
            full.reshape(content["display"]["shape"]),
            rtol=1e-3,
            atol=1e-3,
        )


def test_each_recorded_step_is_one_comm_message(cnn, data):
    # A comm message costs about 150 us in a kernel, whatever its size: a step's step, snapshot
    # and findings messages travel as one batch, in that order.
    x, y = data
    viewer = TensorViewer(cnn, x[:16])
    raw: list[tuple[dict, list]] = []
    viewer._canvas.send = lambda content, buffers=None: raw.append((content, buffers or []))
    cnn.fit(x, y, epochs=2, batch_size=32, callbacks=[viewer.callback()], verbose=0)
    batches = [(c, b) for c, b in raw if c["kind"] == "batch"]
    assert len(batches) == 2
    for (content, buffers), epoch in zip(batches, (1, 2), strict=True):
        kinds = [m["kind"] for m in content["messages"]]
        assert kinds == ["step", *["snapshot"] * len(viewer.layers), "findings"]
        assert {m["epoch"] for m in content["messages"]} == {epoch}
        assert len(buffers) == sum(content["buffers"]) == 2 * len(viewer.layers)
        json.dumps(content)
    assert not [c for c, _ in raw if c["kind"] in ("step", "snapshot", "findings")]


def test_replay_sends_catalog_and_every_snapshot(cnn, data):
    x, _ = data
    viewer = TensorViewer(cnn, x[:16])
    viewer.snapshot()
    sent = capture(viewer)
    viewer._front_end.on_message(viewer._canvas, {"kind": "replay"}, [])
    kinds = [content["kind"] for content, _ in sent]
    assert kinds[0] == "catalog"
    assert sent[0][0]["version"] == protocol.PROTOCOL_VERSION
    assert [layer["id"] for layer in sent[0][0]["layers"]] == viewer.layers
    assert kinds.count("snapshot") == 2 * len(viewer.layers)


def test_probe_of_wrong_shape_names_expected_and_given(cnn):
    with pytest.raises(ValueError, match=r"probe has shape \(4, 9, 9, 1\).*\(None, 8, 8, 1\)"):
        TensorViewer(cnn, np.zeros((4, 9, 9, 1), dtype=np.float32))


def test_unknown_layer_suggests_close_ids(cnn, data):
    viewer = TensorViewer(cnn, data[0][:4])
    with pytest.raises(ValueError, match=r"Unknown layer 'conv2'.*Did you mean 'conv2d'"):
        viewer.values("conv2")
    with pytest.raises(ValueError, match="Unknown layer 'nope'"):
        TensorViewer(cnn, data[0][:4], layers=["nope"])


def test_unexpected_keyword_is_rejected(cnn, data):
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        TensorViewer(cnn, data[0][:4], colour="red")
