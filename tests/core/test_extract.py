"""Tests of the layer catalog, the cached extractor and `layer_output`.

Every model kind is checked against an independent oracle: for graph-reachable layers a fresh
sub-model's `predict`, for subclassed and inner-nested layers the layers called by hand.
"""

from __future__ import annotations

import gc
import os

import keras
import ml_dtypes
import numpy as np
import pytest
from keras import layers

from kerasviz_widget.core.extract import (
    INPUT_ID,
    Extractor,
    catalog,
    check_probe,
    layer_output,
    probe_info,
    unknown_layer_error,
)

RTOL = 1e-5
ATOL = 1e-6


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _np(tensor):
    """A backend tensor (an eager layer call's output) as NumPy, on every backend."""
    return keras.ops.convert_to_numpy(tensor)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _oracle(model, tensor, x):
    """The value of a graph tensor through a fresh sub-model's `predict`."""
    return keras.Model(model.inputs, tensor).predict(x, verbose=0)


def _assert_graph_layers_match(model, x, arrays):
    """Every `graph` output equals the fresh sub-model oracle."""
    checked = 0
    for info in catalog(model):
        if info.strategy == "graph":
            np.testing.assert_allclose(
                arrays[info.id], _oracle(model, info.tensor, x), rtol=RTOL, atol=ATOL
            )
            checked += 1
    assert checked > 0


def _rss_bytes():
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ----------------------------------------------------------------------------- model kinds


def test_sequential_with_input_matches_submodels():
    model = keras.Sequential(
        [keras.Input((6,)), layers.Dense(8, activation="relu", name="h"), layers.Dense(3, name="o")]
    )
    x = _x(5, 6)
    arrays = Extractor(model)(x)
    assert list(arrays) == [INPUT_ID, "h", "o"]
    _assert_graph_layers_match(model, x, arrays)


def test_sequential_built_by_first_call():
    model = keras.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(2)])
    x = _x(3, 5)
    model(x[:1])
    extractor = Extractor(model)
    assert [i.strategy for i in extractor.layers] == ["input", "graph", "graph"]
    _assert_graph_layers_match(model, x, extractor(x))


def test_sequential_built_by_fit():
    model = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(1, name="o")])
    model.compile("sgd", "mse")
    x = _x(16, 3)
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    arrays = Extractor(model)(x)
    np.testing.assert_allclose(arrays["o"], model.predict(x, verbose=0), rtol=RTOL)
    _assert_graph_layers_match(model, x, arrays)


def test_functional_with_add_and_concatenate_branches():
    inp = keras.Input((6,))
    a = layers.Dense(4, name="a")(inp)
    b = layers.Dense(4, name="b")(inp)
    s = layers.Add(name="add")([a, b])
    c = layers.Concatenate(name="cat")([s, a])
    out = layers.Dense(2, name="out")(c)
    model = keras.Model(inp, out)
    x = _x(4, 6)
    arrays = Extractor(model)(x)
    assert set(arrays) == {INPUT_ID, "a", "b", "add", "cat", "out"}
    np.testing.assert_allclose(arrays["add"], arrays["a"] + arrays["b"], rtol=RTOL)
    _assert_graph_layers_match(model, x, arrays)


def test_multi_input_multi_output_functional():
    i1 = keras.Input((3,), name="left")
    i2 = keras.Input((2,), name="right")
    h = layers.Concatenate(name="cat")([i1, i2])
    o1 = layers.Dense(2, name="o1")(h)
    o2 = layers.Dense(1, name="o2")(h)
    model = keras.Model([i1, i2], [o1, o2])
    x = [_x(4, 3), _x(4, 2, seed=1)]
    extractor = Extractor(model)
    arrays = extractor(x)
    assert extractor.ids[:2] == ["input:left", "input:right"]
    np.testing.assert_array_equal(arrays["input:right"], x[1])
    _assert_graph_layers_match(model, x, arrays)
    by_name = extractor({"left": x[0], "right": x[1]})
    np.testing.assert_array_equal(by_name["o2"], arrays["o2"])


def test_dict_inputs():
    inputs = {"a": keras.Input((3,), name="a"), "b": keras.Input((2,), name="b")}
    h = layers.Concatenate(name="cat")([inputs["a"], inputs["b"]])
    model = keras.Model(inputs, layers.Dense(2, name="out")(h))
    x = {"b": _x(4, 2, seed=1), "a": _x(4, 3)}
    probe = check_probe(model, x)
    arrays = Extractor(model)(probe)
    assert [k for k in arrays if k.startswith("input")] == ["input:a", "input:b"]
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(arrays["out"], expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(arrays["cat"], np.concatenate([x["a"], x["b"]], axis=1))


def test_nested_sequential_inner_layers_are_watchable():
    encoder = keras.Sequential(
        [keras.Input((6,)), layers.Dense(5, name="d1"), layers.Dense(3, name="d2")],
        name="encoder",
    )
    inp = keras.Input((6,))
    model = keras.Model(inp, layers.Dense(2, name="head")(encoder(inp)))
    x = _x(4, 6)
    extractor = Extractor(model)
    arrays = extractor(x)
    strategies = {i.id: i.strategy for i in extractor.layers}
    assert strategies == {
        "input": "input",
        "encoder": "graph",
        "encoder/d1": "capture",
        "encoder/d2": "capture",
        "head": "graph",
    }
    d1 = _np(encoder.get_layer("d1")(x))
    np.testing.assert_allclose(arrays["encoder/d1"], d1, rtol=RTOL, atol=ATOL)
    d2 = _np(encoder.get_layer("d2")(d1))
    np.testing.assert_allclose(arrays["encoder/d2"], d2, rtol=RTOL, atol=ATOL)
    _assert_graph_layers_match(model, x, arrays)


def test_nested_functional_inside_sequential_and_inner_only_watch():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, layers.Dense(3, activation="relu", name="core")(inner_in))
    inner.name = "block"
    model = keras.Sequential([keras.Input((4,)), layers.Dense(4, name="pre"), inner])
    x = _x(3, 4)
    arrays = Extractor(model, ["block/core"])(x)
    pre = _np(model.get_layer("pre")(x))
    expected = _np(inner.get_layer("core")(pre))
    assert list(arrays) == ["block/core"]
    np.testing.assert_allclose(arrays["block/core"], expected, rtol=RTOL, atol=ATOL)


class Branchy(keras.Model):
    """A subclassed model with Python control flow in `call`."""

    def __init__(self, skip=True):
        super().__init__()
        self.skip = skip
        self.stem = layers.Dense(4, name="stem")
        self.blocks = [layers.Dense(4, activation="relu", name=f"block{i}") for i in range(2)]
        self.head = layers.Dense(2, name="head")

    def call(self, x, training=False):
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h) if self.skip else block(h)
        if x.shape[-1] > 3:
            h = self.head(h)
        return h


def test_subclassed_model_with_control_flow_matches_manual_calls():
    model = Branchy()
    x = _x(5, 6)
    model(x)
    extractor = Extractor(model)
    arrays = extractor(x)
    assert extractor.ids == ["input", "stem", "block0", "block1", "head"]
    assert {i.strategy for i in extractor.layers[1:]} == {"capture"}
    h = _np(model.stem(x))
    np.testing.assert_allclose(arrays["stem"], h, rtol=RTOL, atol=ATOL)
    for block in model.blocks:
        out = _np(block(h))
        np.testing.assert_allclose(arrays[block.name], out, rtol=RTOL, atol=ATOL)
        h = h + out
    np.testing.assert_allclose(arrays["head"], _np(model.head(h)), rtol=RTOL, atol=ATOL)


def test_shared_layer_called_twice_lists_each_call():
    shared = layers.Dense(3, name="shared")
    i1 = keras.Input((3,), name="p")
    i2 = keras.Input((3,), name="q")
    a = shared(i1)
    b = shared(i2)
    model = keras.Model([i1, i2], layers.Add(name="add")([a, b]))
    x = [_x(4, 3), _x(4, 3, seed=1)]
    arrays = Extractor(model)(x)
    assert {"shared", "shared@1"} <= set(arrays)
    np.testing.assert_allclose(arrays["shared"], _oracle(model, a, x), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(arrays["shared@1"], _oracle(model, b, x), rtol=RTOL, atol=ATOL)


def test_shared_layer_in_subclassed_model():
    class Twice(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(3, name="d")

        def call(self, x):
            return self.d(self.d(x))

    model = Twice()
    x = _x(2, 3)
    model(x)
    arrays = Extractor(model)(x)
    first = _np(model.d(x))
    assert list(arrays) == ["input", "d", "d@1"]
    np.testing.assert_allclose(arrays["d@1"], _np(model.d(first)), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cell", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_recurrent_layers_both_return_sequences(cell):
    inp = keras.Input((5, 3))
    seq = cell(4, return_sequences=True, name="seq")(inp)
    last = cell(2, return_sequences=False, name="last")(seq)
    model = keras.Model(inp, last)
    x = _x(3, 5, 3)
    arrays = Extractor(model)(x)
    assert arrays["seq"].shape == (3, 5, 4)
    assert arrays["last"].shape == (3, 2)
    _assert_graph_layers_match(model, x, arrays)


def test_layer_with_several_outputs_gets_indexed_ids():
    inp = keras.Input((5, 3))
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True, name="lstm")(inp)
    model = keras.Model(inp, layers.Add(name="add")([h, c]))
    x = _x(2, 5, 3)
    arrays = Extractor(model)(x)
    assert {"lstm:0", "lstm:1", "lstm:2"} <= set(arrays)
    assert "lstm" not in arrays
    for index, tensor in enumerate([seq, h, c]):
        np.testing.assert_allclose(
            arrays[f"lstm:{index}"], _oracle(model, tensor, x), rtol=RTOL, atol=ATOL
        )


def test_embedding_with_integer_input():
    inp = keras.Input((6,), dtype="int32")
    emb = layers.Embedding(20, 4, name="emb")(inp)
    model = keras.Model(inp, layers.GlobalAveragePooling1D(name="pool")(emb))
    x = np.random.default_rng(0).integers(0, 20, size=(3, 6)).astype("int32")
    arrays = Extractor(model)(x)
    table = model.get_layer("emb").embeddings.numpy()
    np.testing.assert_allclose(arrays["emb"], table[x], rtol=RTOL)
    _assert_graph_layers_match(model, x, arrays)


def test_dropout_and_batchnorm_run_in_inference_mode():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(6, name="dense"),
            layers.BatchNormalization(name="bn"),
            layers.Dropout(0.5, name="drop"),
        ]
    )
    model.compile("sgd", "mse")
    x = _x(32, 4)
    model.fit(x, np.zeros((32, 6)), epochs=1, verbose=0)
    arrays = Extractor(model)(x)
    bn = model.get_layer("bn")
    mean, var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    gamma, beta = bn.gamma.numpy(), bn.beta.numpy()
    expected = (arrays["dense"] - mean) / np.sqrt(var + bn.epsilon) * gamma + beta
    np.testing.assert_allclose(arrays["bn"], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(arrays["drop"], arrays["bn"])


def test_mixed_precision_model():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential(
            [keras.Input((6,)), layers.Dense(4, activation="relu", name="d"), layers.Dense(2)]
        )
        x = _x(4, 6)
        arrays = Extractor(model)(x)
        assert arrays["d"].dtype == np.float16
        _assert_graph_layers_match(model, x, arrays)
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ----------------------------------------------------------------------------- catalog


def test_catalog_reports_class_shape_params_and_strategy():
    model = keras.Sequential(
        [keras.Input((6,)), layers.Dense(4, name="dense"), layers.ReLU(name="act")]
    )
    infos = catalog(model)
    assert [i.to_json() for i in infos] == [
        {
            "id": "input",
            "class_name": "Input",
            "output_shape": [None, 6],
            "params": 0,
            "strategy": "input",
            "bounds": None,
        },
        {
            "id": "dense",
            "class_name": "Dense",
            "output_shape": [None, 4],
            "params": 6 * 4 + 4,
            "strategy": "graph",
            "bounds": None,
        },
        {
            "id": "act",
            "class_name": "ReLU",
            "output_shape": [None, 4],
            "params": 0,
            "strategy": "graph",
            "bounds": None,
        },
    ]


def test_probe_info_reports_size_and_shapes():
    assert probe_info(np.zeros((7, 3, 2))) == {"n": 7, "input_shapes": [[7, 3, 2]]}
    info = probe_info({"a": np.zeros((2, 3)), "b": np.zeros((2, 5))})
    assert info == {"n": 2, "input_shapes": [[2, 3], [2, 5]]}


# ----------------------------------------------------------------------------- capture safety


class _Boom(layers.Layer):
    armed = False

    def call(self, x):
        if self.armed:
            raise RuntimeError("boom")
        return x * 2.0


def test_capture_leaves_model_unchanged_when_the_call_raises():
    class Wrapped(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(3, name="d")
            self.boom = _Boom(name="boom")

        def call(self, x):
            return self.boom(self.d(x))

    model = Wrapped()
    x = _x(2, 3)
    before = _np(model(x))
    model.boom.armed = True
    with pytest.raises(RuntimeError, match="boom"):
        Extractor(model, probe=x)
    assert "call" not in vars(model.d)
    assert "call" not in vars(model.boom)
    model.boom.armed = False
    np.testing.assert_array_equal(_np(model(x)), before)


def test_capture_leaves_no_hooks_after_success():
    model = Branchy()
    x = _x(2, 6)
    model(x)
    Extractor(model)(x)
    for layer in [model.stem, *model.blocks, model.head]:
        assert "call" not in vars(layer)
        assert type(layer).call is layers.Dense.call


def _fit_weights(with_viewer):
    keras.utils.set_random_seed(1)
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(5, name="in1")], name="inner")
    inp = keras.Input((4,))
    h = layers.Dropout(0.3, name="drop")(inner(inp))
    model = keras.Model(inp, layers.Dense(1, name="out")(h))
    model.compile("adam", "mse")
    x = _x(32, 4)
    y = x.sum(axis=1, keepdims=True)
    callbacks = []
    if with_viewer:
        extractor = Extractor(model)

        class Snap(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                extractor(x[:4])

        callbacks = [Snap()]
    model.fit(x, y, epochs=2, batch_size=8, shuffle=True, verbose=0, callbacks=callbacks)
    return [w.numpy() for w in model.weights]


def test_viewer_does_not_change_what_fit_computes():
    plain = _fit_weights(with_viewer=False)
    viewed = _fit_weights(with_viewer=True)
    assert len(plain) == len(viewed)
    for a, b in zip(plain, viewed, strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- caching


def test_200_snapshots_keep_traces_and_memory_constant():
    inner = keras.Sequential([keras.Input((8,)), layers.Dense(8, name="i")], name="inner")
    inp = keras.Input((8,))
    model = keras.Model(inp, layers.Dense(4, name="out")(inner(inp)))
    extractor = Extractor(model)
    x = _x(16, 8)
    for _ in range(20):
        extractor(x)
    traces, rss = extractor.trace_count, _rss_bytes()
    for _ in range(200):
        extractor(x)
    assert traces == 1
    assert extractor.trace_count == traces
    assert _rss_bytes() - rss < 32 * 2**20  # stated bound: 32 MB over 200 snapshots


def test_batch_size_change_reuses_the_compiled_function():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    extractor = Extractor(model)
    extractor(_x(4, 3))
    extractor(_x(9, 3))
    extractor(_x(4, 3))
    # One trace serves every batch size on TensorFlow; XLA on JAX compiles once per probe shape.
    assert extractor.trace_count == (2 if keras.backend.backend() == "jax" else 1)


def test_extractor_rebuilds_when_the_model_structure_changes():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="first")])
    extractor = Extractor(model)
    x = _x(2, 3)
    assert list(extractor(x)) == ["input", "first"]
    model.add(layers.Dense(1, name="second"))
    arrays = extractor(x)
    assert list(arrays) == ["input", "first", "second"]
    np.testing.assert_allclose(arrays["second"], model.predict(x, verbose=0), rtol=RTOL)


def test_watched_subset_only_returns_those_layers():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, name="a"), layers.Dense(2)])
    arrays = Extractor(model, ["a"])(_x(2, 3))
    assert list(arrays) == ["a"]


# ----------------------------------------------------------------------------- layer_output


def _small_functional():
    inp = keras.Input((5,), name="x")
    h = layers.Dense(4, activation="relu", name="hidden")(inp)
    out = layers.Dense(2, name="out")(h)
    return keras.Model(inp, out)


@pytest.mark.parametrize(
    "spec",
    ["name", "index", "layer", "output", "get_layer_output", "input_of_next"],
)
def test_layer_output_accepts_every_kind_of_reference(spec):
    model = _small_functional()
    x = _x(3, 5)
    hidden = model.get_layer("hidden")
    ref = {
        "name": "hidden",
        "index": 1,
        "layer": hidden,
        "output": hidden.output,
        "get_layer_output": model.get_layer("hidden").output,
        "input_of_next": model.get_layer("out").input,
    }[spec]
    expected = _oracle(model, hidden.output, x)
    np.testing.assert_allclose(layer_output(model, ref, x), expected, rtol=RTOL, atol=ATOL)


def test_layer_output_of_the_model_input_returns_the_probe():
    model = _small_functional()
    x = _x(3, 5)
    np.testing.assert_array_equal(layer_output(model, model.input, x), x)


def test_layer_output_takes_a_path_id_of_a_nested_model():
    encoder = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d")], name="enc")
    inp = keras.Input((4,))
    model = keras.Model(inp, layers.Dense(1)(encoder(inp)))
    x = _x(2, 4)
    expected = _np(encoder.get_layer("d")(x))
    np.testing.assert_allclose(layer_output(model, "enc/d", x), expected, rtol=RTOL, atol=ATOL)
    by_tensor = layer_output(model, encoder.get_layer("d").output, x)
    np.testing.assert_allclose(by_tensor, expected, rtol=RTOL, atol=ATOL)


def test_layer_output_inside_a_callback_during_fit():
    model = _small_functional()
    model.compile("sgd", "mse")
    x = _x(16, 5)
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            value = layer_output(self.model, self.model.get_layer("hidden").output, x[:4])
            seen.append((value, _oracle(self.model, self.model.get_layer("hidden").output, x[:4])))

    model.fit(x, np.zeros((16, 2)), epochs=2, verbose=0, callbacks=[Probe()])
    assert len(seen) == 2
    for value, expected in seen:
        assert isinstance(value, np.ndarray)
        np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL)
    assert not np.array_equal(seen[0][0], seen[1][0])  # training moved the weights


# ----------------------------------------------------------------------------- errors


def test_unknown_layer_suggests_closest_ids():
    model = _small_functional()
    with pytest.raises(ValueError, match=r"Unknown layer 'hiden'\. Did you mean 'hidden'\?"):
        Extractor(model, ["hiden"])
    with pytest.raises(ValueError, match=r"Available layers: input, hidden, out\. Pass one"):
        layer_output(model, "hiden", _x(2, 5))


def test_unknown_layer_error_lists_available_ids():
    error = unknown_layer_error("dense_9", ["input", "dense", "dense_1"])
    assert "Did you mean 'dense_1', 'dense'?" in str(error)
    assert "Available layers: input, dense, dense_1." in str(error)


def test_probe_of_wrong_shape_names_expected_and_got():
    model = _small_functional()
    with pytest.raises(ValueError, match=r"shape \(3, 4\).*expects shape \(None, 5\)"):
        check_probe(model, np.zeros((3, 4), "float32"))


def test_probe_of_wrong_dtype_names_expected_and_got():
    inp = keras.Input((4,), dtype="int32")
    model = keras.Model(inp, layers.Embedding(10, 2)(inp))
    with pytest.raises(ValueError, match=r"dtype float64.*expects integer inputs \(int32\)"):
        check_probe(model, np.zeros((2, 4)))


def test_probe_of_strings_is_rejected():
    model = _small_functional()
    with pytest.raises(ValueError, match=r"dtype <U1.*expects numbers"):
        check_probe(model, np.full((2, 5), "a"))


@pytest.mark.parametrize("name", ["bfloat16", "float8_e4m3fn"])
def test_probe_of_a_float_numpy_has_no_kind_for_is_taken_as_float32(name):
    # JAX and mixed-precision pipelines hand out bfloat16 batches (ml_dtypes, NumPy kind "V").
    model = _small_functional()
    probe = np.linspace(-2, 2, 10).reshape(2, 5).astype(getattr(ml_dtypes, name))
    checked = check_probe(model, probe)
    assert checked.dtype == np.float32
    np.testing.assert_array_equal(checked, probe.astype(np.float32))
    out = layer_output(model, model.layers[-1].name, probe)
    np.testing.assert_allclose(out, model.predict_on_batch(probe.astype(np.float32)), rtol=1e-6)


def test_probe_as_a_bfloat16_tensor_of_the_backend():
    # PyTorch's bfloat16 tensors do not convert with np.asarray; Keras converts them.
    model = _small_functional()
    values = np.linspace(-2, 2, 10, dtype="float32").reshape(2, 5)
    probe = keras.ops.convert_to_tensor(values, dtype="bfloat16")
    checked = check_probe(model, probe)
    assert checked.dtype == np.float32
    np.testing.assert_array_equal(checked, values.astype(ml_dtypes.bfloat16).astype(np.float32))


def test_probe_of_structured_dtype_is_rejected():
    model = _small_functional()
    with pytest.raises(ValueError, match=r"dtype \[\('a', '<f4'\)\].*expects numbers"):
        check_probe(model, np.zeros((2, 5), dtype=[("a", "f4")]))


def test_empty_probe_is_rejected():
    model = _small_functional()
    with pytest.raises(ValueError, match=r"probe is empty \(shape \(0, 5\)\).*x_val\[:16\]"):
        check_probe(model, np.zeros((0, 5), "float32"))


def test_multi_input_probe_with_missing_key():
    i1, i2 = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    model = keras.Model([i1, i2], layers.Concatenate()([i1, i2]))
    with pytest.raises(ValueError, match=r"Missing: \['b'\].*Pass a dict with exactly these keys"):
        check_probe(model, {"a": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"single array.*has 2 inputs"):
        check_probe(model, np.zeros((2, 3)))


def test_unbuilt_model_says_how_to_build_it():
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match=r"not built.*model\.build\(\(None, \*input_shape\)\)"):
        Extractor(model)
    with pytest.raises(ValueError, match="not built"):
        layer_output(model, 0, np.zeros((1, 3)))


def test_keras_tensor_of_another_model_is_rejected():
    model = _small_functional()
    other = _small_functional()
    with pytest.raises(ValueError, match=r"not part of the graph of model .*another model"):
        layer_output(model, other.get_layer("hidden").output, _x(2, 5))


def test_layer_output_rejects_a_bad_index():
    model = _small_functional()
    with pytest.raises(ValueError, match=r"index 7 is out of range.*3 entries in `model.layers`"):
        layer_output(model, 7, _x(2, 5))


def test_probe_over_the_memory_budget_says_how_large():
    model = keras.Sequential([keras.Input((100,)), layers.Dense(1000, name="wide")])
    x = _x(64, 100)
    # input 64*100*4 + wide 64*1000*4 bytes = 281,600 bytes
    with pytest.raises(ValueError, match=r"would take 0\.3 MB.*budget of 0\.1 MB.*at most 23"):
        check_probe(model, x, budget_bytes=0.1 * 2**20)
    with pytest.raises(ValueError, match=r"'wide' 0\.2 MB"):
        Extractor(model, probe=x, budget_bytes=0.1 * 2**20)
    extractor = Extractor(model, ["wide"], budget_bytes=0.3 * 2**20)
    assert extractor(x[:8])["wide"].shape == (8, 1000)


def test_a_probe_checked_once_is_not_checked_again_yet_every_change_is_seen(monkeypatch):
    # A recording passes the same probe array at every step: its check (shape, dtype, budget) is
    # done once. Its values are read where they are; any change of shape, dtype, budget or model
    # structure, or another array, is checked again.
    from kerasviz_widget.core import extract as extract_module

    model = keras.Sequential([keras.Input((100,)), layers.Dense(1000, name="wide")])
    extractor = Extractor(model, ["wide"], budget_bytes=0.3 * 2**20)
    checks = []
    normalize = extract_module._normalize
    monkeypatch.setattr(extract_module, "_normalize", lambda *a: checks.append(1) or normalize(*a))
    x = _x(8, 100)
    first = extractor(x)["wide"]
    assert len(checks) == 1
    x[:] = _x(8, 100, seed=1)  # new values, same array: read as they are now
    np.testing.assert_allclose(
        extractor(x)["wide"], model.predict_on_batch(x), rtol=RTOL, atol=ATOL
    )
    assert len(checks) == 1 and not np.allclose(first, extractor(x)["wide"])
    extractor.budget_bytes = 0.02 * 2**20  # the same array no longer fits (32 KB of outputs)
    with pytest.raises(ValueError, match=r"more than the memory budget"):
        extractor(x)
    extractor.budget_bytes = 0.3 * 2**20
    extractor(x)
    checks.clear()
    x.shape = (4, 200)  # reshaped in place: checked again, and refused
    with pytest.raises(ValueError, match=r"shape \(4, 200\).*expects shape \(None, 100\)"):
        extractor(x)
    assert len(checks) == 1
    wide = _x(8, 100).astype("float64")  # converted: its copy is checked at every call
    extractor(wide)
    extractor(wide)
    assert len(checks) == 3
    # The extractor does not keep a checked probe alive.
    y = _x(8, 100)
    extractor(y)
    gone = extract_module.weakref.ref(y)
    del y
    gc.collect()
    assert gone() is None


def test_subclassed_model_without_known_input_needs_a_probe():
    model2 = Branchy()
    model2(_x(1, 6))
    model2._build_shapes_dict = None
    with pytest.raises(ValueError, match=r"does not record its input shape.*probe="):
        Extractor(model2)
    assert Extractor(model2, probe=_x(2, 6))(_x(2, 6))["head"].shape == (2, 2)
