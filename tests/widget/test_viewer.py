"""The NumPy side of `TensorViewer`: epochs, values, stats, summary, save, load, save_html."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasviz_widget import TensorViewer
from kerasviz_widget.io import protocol
from kerasviz_widget.widget.canvas import Canvas


def tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="dense"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 1), dtype=np.float32)
    y = rng.random((32, 3), dtype=np.float32)
    return x, y


@pytest.fixture(scope="module")
def trained(data):
    """A viewer after two epochs of `fit`: steps 0, 1 and 2."""
    x, y = data
    model = tiny_model()
    viewer = TensorViewer(model, probe=x[:4])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[viewer.callback()])
    return model, viewer


@pytest.fixture
def sent(monkeypatch):
    """Every message the front-end widget is sent, as `(content, buffers)`."""
    messages = []

    def send(self, content, buffers=None):
        if "kind" in content:  # ours, not ipywidgets' own state messages
            messages.extend(protocol.unbatch(content, buffers or []))

    monkeypatch.setattr(Canvas, "send", send)
    return messages


def test_epochs_are_the_recorded_labels(trained):
    _, viewer = trained
    assert viewer.epochs == [0, 1, 2]


def test_values_are_the_layer_output_on_the_probe(trained, data):
    model, viewer = trained
    sub = keras.Model(model.inputs, model.get_layer("dense").output)
    want = keras.ops.convert_to_numpy(sub([data[0][:4]], training=False))
    np.testing.assert_allclose(viewer.values("dense"), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(viewer.values("dense", epoch=2), viewer.values("dense"))


def test_values_cannot_change_the_history(trained):
    _, viewer = trained
    with pytest.raises(ValueError, match="read-only"):
        viewer.values("dense")[0, 0] = 123.0


def test_values_change_with_training(trained):
    _, viewer = trained
    assert not np.allclose(viewer.values("dense", epoch=0), viewer.values("dense", epoch=2))


def test_stats_are_exact_over_the_kept_values(trained):
    _, viewer = trained
    values = viewer.values("conv", epoch=1).astype(np.float64)
    stats = viewer.stats("conv", epoch=1)
    assert stats["shape"] == values.shape
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(values.std(), rel=1e-9)
    assert stats["zero_fraction"] == pytest.approx(np.mean(values == 0))
    assert (stats["min"], stats["max"]) == (values.min(), values.max())


def test_unknown_layer_lists_the_layers(trained):
    _, viewer = trained
    with pytest.raises(ValueError, match="Unknown layer 'dens'.*Did you mean 'dense'"):
        viewer.stats("dens")


def test_summary_has_one_aligned_row_per_layer(trained):
    _, viewer = trained
    lines = viewer.summary(epoch=1).splitlines()
    assert lines[0].startswith("epoch 1")
    rows = lines[1:]
    assert [r.split()[0] for r in rows] == viewer.layers
    # The range, μ and σ columns start at the same position on every line.
    for mark in ("x∈[", "μ=", "σ=", "zeros="):
        assert len({r.index(mark) for r in rows}) == 1
    st = viewer.stats("dense", epoch=1)
    row = rows[viewer.layers.index("dense")]
    assert f"μ={st['mean']:.4g}" in row and f"σ={st['std']:.4g}" in row
    assert f"{st['max']:.4g}]" in row
    assert "(4, 3)" in row and "n=12" in row


def test_values_of_a_thinned_epoch_list_the_kept_epochs(data):
    x, _ = data
    model = tiny_model()
    viewer = TensorViewer(model, probe=x[:4], budget_mb=0.05)  # about four steps of outputs
    for _ in range(6):
        viewer.snapshot()
    kept = viewer._history.kept_epochs
    assert kept[0] == 0 and kept[-1] == 6 and len(kept) < 7
    thinned = next(e for e in viewer.epochs if e not in kept)
    with pytest.raises(KeyError, match=r"Epochs with full values: \[0, .*6\]"):
        viewer.values("conv", epoch=thinned)
    assert viewer.stats("conv", epoch=thinned)["shape"] == (4, 6, 6, 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bins": 1}, r"bins=1; it must be an integer >= 2"),
        ({"bins": 2.5}, r"bins=2.5; it must be an integer >= 2"),
        ({"max_values": 0}, r"max_values=0; it must be an integer >= 1"),
        ({"budget_mb": 0}, r"budget_mb=0; it must be a finite number of MB > 0"),
        ({"budget_mb": -1.5}, r"budget_mb=-1.5; it must be"),
        ({"budget_mb": float("nan")}, r"budget_mb=nan; it must be"),
    ],
)
def test_bad_settings_are_rejected_at_construction(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorViewer(tiny_model(), probe=data[0][:4], **kwargs)


def test_save_and_load_round_trip_exactly(trained, tmp_path):
    _, viewer = trained
    path = tmp_path / "run.npz"
    viewer.save(path)
    loaded = TensorViewer.load(path)
    assert loaded.epochs == viewer.epochs
    assert loaded.layers == viewer.layers
    for epoch in viewer.epochs:
        assert loaded.summary(epoch) == viewer.summary(epoch)
        for layer in viewer.layers:
            assert loaded.stats(layer, epoch) == viewer.stats(layer, epoch)
            got, want = loaded.values(layer, epoch), viewer.values(layer, epoch)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    assert loaded._history.logs() == viewer._history.logs()


def test_a_loaded_viewer_displays_without_the_model(trained, tmp_path, sent):
    _, viewer = trained
    path = tmp_path / "run.npz"
    viewer.save(path)
    loaded = TensorViewer.load(path)
    kinds = [c["kind"] for c, _ in sent]
    assert kinds[0] == "catalog"
    assert kinds.count("step") == 3
    assert kinds.count("snapshot") == 3 * len(viewer.layers)
    catalog = sent[0][0]
    assert [layer["id"] for layer in catalog["layers"]] == viewer.layers
    content, buffers = next((c, b) for c, b in sent if c["kind"] == "snapshot")
    assert len(buffers) == 2 and content["display"]["layout"] in ("NHWC", "ND")
    assert loaded.layer == "conv"


def test_a_loaded_viewer_answers_a_replay_request(trained, tmp_path, sent):
    _, viewer = trained
    path = tmp_path / "run.npz"
    viewer.save(path)
    loaded = TensorViewer.load(path)
    sent.clear()
    loaded._front_end.on_message(loaded._canvas, {"kind": "replay"}, [])
    assert [c["kind"] for c, _ in sent].count("snapshot") == 3 * len(viewer.layers)


def test_a_loaded_viewer_cannot_record(trained, tmp_path):
    _, viewer = trained
    path = tmp_path / "run.npz"
    viewer.save(path)
    loaded = TensorViewer.load(path)
    with pytest.raises(RuntimeError, match=r"snapshot\(\) needs a model.*saved history"):
        loaded.snapshot()
    with pytest.raises(RuntimeError, match=r"callback\(\) needs a model"):
        loaded.callback()


def test_load_of_a_foreign_file_is_a_clear_error(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, kernel=np.ones(3))
    with pytest.raises(ValueError, match=r"weights.npz.*not a kerasviz_widget history"):
        TensorViewer.load(path)


def test_save_html_writes_one_self_contained_page(trained, tmp_path):
    _, viewer = trained
    path = tmp_path / "run.html"
    viewer.save_html(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert "<script src" not in text and "<link" not in text  # nothing fetched
    assert text.count("</script>") == 2  # the data and the loader; the bundle is inside the data
    assert '\\"kind\\"' not in text and '"kind":"snapshot"' in text


def test_save_html_escapes_layer_names():
    from kerasviz_widget.io.html import page

    catalog = {"kind": "catalog", "layers": [{"id": "</script><b>x</b>"}]}
    text = page([(catalog, [])])
    assert "</script><b>" not in text
