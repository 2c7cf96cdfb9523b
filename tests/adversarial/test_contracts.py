"""Contracts that held in no test: lookups by what was recorded, budgets as documented, no false
refusal on unknown spatial sizes, sublayers of custom layers, and a closed viewer that lets go.
"""

from __future__ import annotations

import gc
import re
import weakref

import keras
import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from tests.adversarial import support

# ----------------------------------------------------------------------------- lookups


@pytest.mark.timeout(60)
def test_lookups_answer_by_what_was_recorded_at_that_step():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, name="a"),
            keras.layers.Dense(2, name="b"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    model.fit(x, y[:, :1].repeat(2, axis=1), epochs=1, verbose=0, callbacks=[viewer.callback()])
    recorded = viewer.values("b", 1).copy()
    model.pop()
    model.add(keras.layers.Dense(1, name="c"))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[viewer.callback()])
    assert viewer.epochs == [0, 1, 2]
    assert "b" in viewer.summary(1) and "c" in viewer.summary(2)
    np.testing.assert_array_equal(viewer.values("b", 1), recorded)
    assert viewer.stats("b", 1)["shape"] == (4, 2)
    assert viewer.values("c", 2).shape == (4, 1)
    with pytest.raises(KeyError, match=r"'b' was not recorded at epoch 2"):
        viewer.values("b", 2)


# ----------------------------------------------------------------------------- budgets


def wide_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, name="dense"), keras.layers.Dense(1, name="out")]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def kept_with_values(viewer: TensorViewer) -> list:
    kept = []
    for epoch in viewer.epochs:
        try:
            viewer.values("out", epoch)
        except KeyError:
            continue
        kept.append(epoch)
    return kept


@pytest.mark.timeout(90)
def test_a_recorder_budget_counts_only_the_full_arrays(tmp_path):
    """Full arrays of 52 B a step (one sample), 31 steps: 1.6 KB in all, well within 0.1 MB. The
    statistics and 1,024-bin histograms of every step (12 KB a step) are kept whatever the
    budget, so they must not count against it: every step keeps its full arrays."""
    model = wide_model()
    x, y = support.tiny_data()
    recorder = Recorder(model, x[:1], str(tmp_path / "run"), budget_mb=0.1, bins=1024)
    model.fit(x, y, epochs=30, batch_size=32, verbose=0, callbacks=[recorder])
    recorder.close()
    loaded = TensorViewer.load(str(tmp_path / "run"))
    assert kept_with_values(loaded) == loaded.epochs == list(range(31))


@pytest.mark.timeout(90)
def test_a_small_recorder_budget_keeps_the_first_and_the_last_full_arrays(tmp_path):
    model = wide_model()
    x, y = support.tiny_data()
    per_step = (4 + 8 + 1) * 4  # bytes of one step's full arrays (1 sample)
    budget_mb = 3.5 * per_step / 2**20  # room for three steps
    recorder = Recorder(model, x[:1], str(tmp_path / "run"), budget_mb=budget_mb)
    model.fit(x, y, epochs=20, batch_size=32, verbose=0, callbacks=[recorder])
    recorder.close()
    kept = kept_with_values(TensorViewer.load(str(tmp_path / "run")))
    assert kept[0] == 0 and kept[-1] == 20, kept
    assert 2 <= len(kept) <= 3, kept


def test_a_budget_too_small_for_one_sample_says_watch_fewer_layers_once():
    model = support.tiny()
    x, _ = support.tiny_data()
    with pytest.raises(ValueError, match="budget") as info:
        TensorViewer(model, x[:4], budget_mb=1e-5)
    assert len(re.findall("watch fewer layers", str(info.value), re.IGNORECASE)) == 1, info.value


@pytest.mark.timeout(60)
def test_unknown_spatial_sizes_are_estimated_from_what_the_probe_really_gives():
    """A stride-8 convolution on inputs of unknown size, as transfer-learning bases are built:
    the probe's outputs take 0.13 MB; an estimate that takes every unknown size as the probe's
    largest dimension (64) and ignores the stride says 2.1 MB and refuses a 0.5 MB budget."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(64, 8, strides=8, name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(pooled))
    probe = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    viewer = TensorViewer(model, probe, budget_mb=0.5)
    assert viewer.values("conv", 0).shape == (2, 8, 8, 64)


# ----------------------------------------------------------------------------- sublayers


class TransformerBlock(keras.layers.Layer):
    """The block of the keras.io text-classification example, with named sublayers."""

    def __init__(self, embed_dim: int, heads: int, ff_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.att = keras.layers.MultiHeadAttention(heads, embed_dim, name="att")
        self.ffn = keras.Sequential(
            [keras.layers.Dense(ff_dim, activation="relu"), keras.layers.Dense(embed_dim)],
            name="ffn",
        )
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.drop = keras.layers.Dropout(0.1, name="drop")

    def call(self, x, training=False):
        attended = self.drop(self.att(x, x), training=training)
        h = self.norm1(x + attended)
        return self.norm2(h + self.drop(self.ffn(h), training=training))


@pytest.mark.timeout(90)
def test_sublayers_of_a_custom_layer_are_listed_with_path_ids_and_extracted_exactly():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 8))
    block = TransformerBlock(8, 2, 16, name="transformer_block")
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(block(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(pooled))
    x = np.random.default_rng(0).normal(size=(4, 6, 8)).astype(np.float32)
    viewer = TensorViewer(model, x)
    for sub in ("att", "ffn", "norm1", "norm2"):
        assert f"transformer_block/{sub}" in viewer.layers, viewer.layers
    attended = keras.ops.convert_to_numpy(block.att(x, x, training=False))
    h = keras.ops.convert_to_numpy(block.norm1(x + attended))
    ffn = keras.ops.convert_to_numpy(block.ffn(h, training=False))
    np.testing.assert_allclose(viewer.values("transformer_block/att", 0), attended, atol=1e-5)
    np.testing.assert_allclose(viewer.values("transformer_block/norm1", 0), h, atol=1e-5)
    np.testing.assert_allclose(viewer.values("transformer_block/ffn", 0), ffn, atol=1e-5)


# ----------------------------------------------------------------------------- release


@pytest.mark.timeout(60)
def test_a_closed_and_deleted_viewer_lets_its_model_go():
    model = support.tiny(seed=7)
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[viewer.callback()])
    alive = weakref.ref(model)
    viewer.close()
    del viewer, model
    gc.collect()
    assert alive() is None, "the model is still referenced after the viewer was closed"


@pytest.fixture(scope="module")
def transfer_base() -> keras.Model:
    """`MobileNetV2(include_top=False)` without `input_shape`: the usual transfer-learning base,
    its input of unknown size (`(None, None, None, 3)`)."""
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(include_top=False, weights=None)
    assert base.input_shape == (None, None, None, 3)
    return base


def images(n: int, size: int) -> np.ndarray:
    return np.random.default_rng(0).random((n, size, size, 3), dtype=np.float32)


@pytest.mark.timeout(120)
def test_a_transfer_learning_base_of_unknown_input_size_is_not_refused(transfer_base):
    """At 64 px its 2-sample outputs take a few MB, while taking every unknown size as 64 px (no
    downsampling) estimates about 1 GB, past the default budget of 512 MB."""
    viewer = TensorViewer(transfer_base, images(2, 64))
    last = viewer.layers[-1]
    assert viewer.values(last, 0).shape == (2, 2, 2, 1280)
    total = sum(viewer.values(layer, 0).nbytes for layer in viewer.layers)
    assert total < 64 * 2**20


def real_bytes(viewer: TensorViewer) -> int:
    """The bytes of every watched output on the probe, as recorded (not estimated)."""
    return sum(viewer.values(layer, 0).nbytes for layer in viewer.layers)


@pytest.mark.timeout(120)
def test_the_budget_check_of_a_transfer_learning_base_counts_what_the_probe_really_gives(
    transfer_base,
):
    """2 samples of 32 px: the check's total is the bytes the outputs really take (3.5 MB, 32x
    downsampling included), so a budget 1% above them is accepted and one 1% below is refused
    with that total in the message; an estimate that takes every unknown size as 32 px says
    hundreds of MB and refuses both."""
    probe = images(2, 32)
    viewer = TensorViewer(transfer_base, probe)
    assert viewer.values(viewer.layers[-1], 0).shape == (2, 1, 1, 1280)
    total = real_bytes(viewer)
    viewer.close()
    TensorViewer(transfer_base, probe, budget_mb=1.01 * total / 2**20).close()
    with pytest.raises(ValueError, match="budget") as info:
        TensorViewer(transfer_base, probe, budget_mb=0.99 * total / 2**20)
    assert f"would take {total / 2**20:.1f} MB" in str(info.value), info.value
    assert "at most 1 samples fit" in str(info.value), info.value


@pytest.mark.timeout(120)
def test_a_transfer_learning_base_too_large_for_one_sample_says_watch_fewer_layers_once(
    transfer_base,
):
    with pytest.raises(ValueError, match="Not even one sample fits") as info:
        TensorViewer(transfer_base, images(2, 32), budget_mb=0.01)
    assert len(re.findall("watch fewer layers", str(info.value), re.IGNORECASE)) == 1, info.value


# ----------------------------------------------------------------------------- layer_output


@pytest.mark.timeout(60)
def test_layer_output_traces_once_per_model_and_lets_the_model_go(monkeypatch):
    from kerasviz_widget import layer_output
    from kerasviz_widget.core import extract

    traced: list[int] = []
    original = extract.Extractor._make_fn

    def make_fn(self, arrays, *rest):
        traced.append(1)
        return original(self, arrays, *rest)

    monkeypatch.setattr(extract.Extractor, "_make_fn", make_fn)
    model = support.tiny(seed=3)
    x, _ = support.tiny_data()
    out = layer_output(model, "out", x[:4])
    np.testing.assert_allclose(out, model.predict(x[:4], verbose=0), rtol=1e-5, atol=1e-6)
    assert layer_output(model, "dense", x[:4]).shape == (4, 3)
    assert layer_output(model, model.get_layer("out").output, x[:2]).shape == (2, 1)
    assert len(traced) == 1, "a call for another layer traced a new function"
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None, "layer_output's cache keeps the model alive"


@pytest.mark.timeout(240)
def test_twenty_viewers_created_fitted_closed_and_deleted_leave_no_memory_behind():
    """A notebook cell re-run 20 times: each run makes a model and a viewer, fits, closes the
    viewer and drops both. Every model is collected, and the process's resident memory returns
    to within 5% of where it stood. The starting point is taken after two warm-up runs, so that
    TensorFlow's and Keras' one-time allocations (runtime, kernels, tracing machinery) are not
    counted as growth."""
    import psutil

    x, y = support.tiny_data()

    def run(seed: int) -> weakref.ref:
        model = support.tiny(seed=seed)
        viewer = TensorViewer(model, x[:4])
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[viewer.callback()])
        viewer.close()
        alive = weakref.ref(model)
        del viewer, model
        return alive

    for seed in range(2):
        run(seed)
    gc.collect()
    start = psutil.Process().memory_info().rss
    models = [run(seed) for seed in range(20)]
    gc.collect()
    end = psutil.Process().memory_info().rss
    assert [m for m in models if m() is not None] == [], "closed viewers kept their models"
    assert end <= 1.05 * start, f"RSS grew from {start / 2**20:.0f} MB to {end / 2**20:.0f} MB"
