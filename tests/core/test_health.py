"""Health findings on models built to show each kind, and none on a healthy model.

Steps are recorded the way the viewer and the Recorder record them: one `Extractor` call, then
`reduce_many` with the catalog's activation bounds, into a `History`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from kerasviz_widget.core import health
from kerasviz_widget.core.extract import Extractor, catalog
from kerasviz_widget.core.history import History
from kerasviz_widget.core.reduce import reduce_many
from kerasviz_widget.core.step import Step
from kerasviz_widget.io import npz

layers = keras.layers


class Watch:
    """Records steps of one model on one probe, as the viewer does."""

    def __init__(self, model: keras.Model, probe: np.ndarray) -> None:
        self.extractor = Extractor(model, probe=probe)
        self.probe = probe
        self.history = History(2**24)
        self.catalog = [info.to_json() for info in self.extractor.layers]

    def record(self, epoch: int) -> None:
        arrays = self.extractor(self.probe)
        bounds = {info.id: info.bounds for info in self.extractor.layers}
        snapshots = reduce_many(arrays, epoch=epoch, bounds=bounds)
        self.history.add(Step(epoch=epoch, snapshots=snapshots, arrays=arrays))

    def findings(self, **kwargs: Any) -> list[dict[str, Any]]:
        return health.findings(self.history, self.catalog, **kwargs)

    def kinds(self, layer: str, **kwargs: Any) -> list[str]:
        return [f["kind"] for f in self.findings(**kwargs) if f["layer"] == layer]


def probe(n: int = 16, d: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.fixture(scope="module")
def zoo() -> Watch:
    """One model, one branch from the input per kind of finding, recorded at epoch 0."""
    keras.utils.set_random_seed(0)
    x = keras.Input((6,), name="x")
    half = np.array([-100.0] * 4 + [100.0] * 4, dtype=np.float32)
    outputs = [
        layers.Dense(
            8, activation="relu", bias_initializer=keras.initializers.Constant(-100.0), name="dead"
        )(x),
        layers.Dense(
            8,
            activation="relu",
            bias_initializer=keras.initializers.Constant(half),
            kernel_initializer="zeros",
            name="half_dead",
        )(x),
        layers.Dense(8, activation="sigmoid", name="sigmoid")(
            layers.Lambda(lambda t: t * 100.0, name="large")(x)
        ),
        layers.Lambda(lambda t: t * 0.0, name="times_zero")(x),
        layers.Lambda(lambda t: t * 1e4, name="explode")(x),
        layers.Lambda(lambda t: t * 1e-4, name="vanish")(x),
        layers.Dense(8, activation="tanh", name="healthy")(x),
    ]
    watch = Watch(keras.Model(x, outputs), probe())
    watch.record(0)
    return watch


# ------------------------------------------------------------------------------ each kind


def test_a_relu_layer_with_a_large_negative_bias_is_dead(zoo):
    (dead,) = [f for f in zoo.findings() if f["layer"] == "dead" and f["kind"] == "dead"]
    assert dead == {
        "layer": "dead",
        "epoch": 0,
        "kind": "dead",
        "fraction": 1.0,
        "message": "dead: 100% of units are dead (always 0) at epoch 0",
    }


def test_the_dead_threshold_is_inclusive(zoo):
    assert zoo.history.stats("half_dead", 0)["dead_fraction"] == 0.5
    assert "dead" in zoo.kinds("half_dead", dead=0.5)
    assert "dead" not in zoo.kinds("half_dead", dead=0.5000001)


def test_a_sigmoid_fed_large_inputs_is_saturated(zoo):
    (found,) = [f for f in zoo.findings() if f["layer"] == "sigmoid"]
    assert found["kind"] == "saturated" and found["fraction"] > 0.9
    assert found["message"].startswith("sigmoid: ")
    assert "saturated (within 1% of the bounds 0 and 1) at epoch 0" in found["message"]


def test_a_layer_that_multiplies_by_zero_is_constant(zoo):
    kinds = zoo.kinds("times_zero")
    assert "constant" in kinds
    # All zeros: every unit is dead and the output does not vary either; each is reported.
    assert kinds == ["dead", "constant", "vanishing"]


def test_scaling_by_1e4_explodes_and_by_1e_minus_4_vanishes(zoo):
    assert zoo.kinds("explode") == ["exploding"]
    assert zoo.kinds("vanish") == ["vanishing"]
    (explode,) = [f for f in zoo.findings() if f["layer"] == "explode"]
    assert explode["fraction"] == pytest.approx(1e4, rel=1e-5)
    assert "is 1e+04 times the probe input's" in explode["message"]


def test_the_scale_threshold_is_strict_on_both_sides(zoo):
    # Exploding is judged as `std / input_std > scale`, so its boundary is exact; vanishing as
    # `std / input_std < 1 / scale`, within a rounding of the boundary.
    ratio = zoo.history.stats("explode", 0)["std"] / zoo.history.stats("input", 0)["std"]
    assert zoo.kinds("explode", scale=ratio) == []
    assert zoo.kinds("explode", scale=ratio * (1 - 1e-9)) == ["exploding"]
    inverse = zoo.history.stats("input", 0)["std"] / zoo.history.stats("vanish", 0)["std"]
    assert zoo.kinds("vanish", scale=inverse * (1 + 1e-9)) == []
    assert zoo.kinds("vanish", scale=inverse * (1 - 1e-9)) == ["vanishing"]


def test_healthy_branches_and_the_input_give_no_finding(zoo):
    flagged = {f["layer"] for f in zoo.findings()}
    assert flagged == {"dead", "half_dead", "sigmoid", "times_zero", "explode", "vanish"}


def test_findings_are_in_model_order(zoo):
    order = [c["id"] for c in zoo.catalog]
    layers_found = [f["layer"] for f in zoo.findings()]
    assert layers_found == sorted(layers_found, key=order.index)


@pytest.mark.parametrize("which", ["zoo", "breaking"])
def test_a_steps_own_statistics_give_the_findings_its_stored_copy_gives(which, request):
    # A viewer sends each step's findings from the step's statistics, before reading any store.
    watch = request.getfixturevalue(which)
    for epoch in watch.history.epochs:
        stored = watch.findings(epoch=epoch)
        step = watch.history.step(epoch)
        stats = {lid: snap.stats for lid, snap in reversed(step.snapshots.items())}
        assert health.step_findings(stats, watch.catalog, epoch=epoch) == stored
    assert any(watch.findings(epoch=e) for e in watch.history.epochs)


# ------------------------------------------------------------------------------ thresholds


def test_the_saturated_threshold_is_strict():
    x = probe(n=8, d=4)
    x[:, :2] = np.where(x[:, :2] > 0, 50.0, -50.0)  # half the values saturate the sigmoid
    x[:, 2:] *= 0.1
    model = keras.Sequential([keras.Input((4,)), layers.Activation("sigmoid", name="act")])
    watch = Watch(model, x)
    watch.record(0)
    assert watch.history.stats("act", 0)["saturated_fraction"] == 0.5
    assert "saturated" not in watch.kinds("act", saturated=0.5)
    assert "saturated" in watch.kinds("act", saturated=0.4999999)


def test_a_relu6_layer_is_saturated_by_its_upper_bound_only():
    # A healthy relu6 layer: about half its values are 0 (the lower bound), few reach 6.
    x = probe(n=16, d=8)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            layers.Activation("relu6", name="healthy"),
            layers.Lambda(lambda t: t * 100.0, name="large"),
            layers.ReLU(max_value=6.0, name="capped"),
        ]
    )
    watch = Watch(model, x)
    watch.record(0)
    assert watch.history.stats("healthy", 0)["zero_fraction"] > 0.4
    assert watch.kinds("healthy") == []
    (found,) = [f for f in watch.findings() if f["kind"] == "saturated"]
    assert found["layer"] == "capped" and 0.4 < found["fraction"] < 0.6  # the values at 6 only
    assert "within 1% of the upper bound 6) at epoch 0" in found["message"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dead": 1.5}, r"dead=1\.5; it must be a fraction between 0 and 1"),
        ({"saturated": -0.1}, r"saturated=-0\.1; it must be a fraction"),
        ({"scale": 1}, r"scale=1; it must be a finite number > 1"),
        ({"dead": True}, r"dead=True"),
    ],
)
def test_bad_thresholds_are_errors_naming_the_argument(zoo, kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.findings(**kwargs)


def test_an_epoch_never_recorded_is_a_key_error_listing_the_recorded(zoo):
    with pytest.raises(KeyError, match=r"Epoch 7 was never recorded. Recorded epochs: \[0\]"):
        zoo.findings(epoch=7)


# ------------------------------------------------------------------------------ bounds


@pytest.mark.parametrize(
    ("layer", "bounds"),
    [
        (layers.Dense(2, activation="sigmoid"), (0.0, 1.0)),
        (layers.Dense(2, activation="tanh"), (-1.0, 1.0)),
        (layers.Conv2D(2, 3, activation="hard_sigmoid"), (0.0, 1.0)),
        (layers.Activation("softsign"), (-1.0, 1.0)),
        (layers.Activation("relu6"), (None, 6.0)),
        (layers.Activation("softmax"), (0.0, 1.0)),
        (layers.Activation("hard_tanh"), (-1.0, 1.0)),
        (layers.Softmax(), (0.0, 1.0)),
        (layers.ReLU(max_value=6.0), (None, 6.0)),
        (layers.ReLU(max_value=0.0), None),
        (layers.ReLU(), None),
        (layers.ReLU(max_value=6.0, negative_slope=0.1), None),
        (layers.Dense(2, activation="relu"), None),
        (layers.Dense(2), None),
        (layers.Flatten(), None),
    ],
)
def test_bounds_come_from_the_activations_name(layer, bounds):
    assert health.activation_bounds(layer) == bounds


def test_only_a_single_output_is_taken_as_bounded():
    lstm = layers.LSTM(3, return_state=True)
    assert health.activation_bounds(lstm) == (-1.0, 1.0)
    assert health.activation_bounds(lstm, output_index=2) is None


def test_the_catalog_carries_the_bounds():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            layers.Dense(2, activation="tanh", name="d"),
            layers.ReLU(6.0, name="r"),
        ]
    )
    entries = {info.id: info.to_json() for info in catalog(model)}
    assert entries["d"]["bounds"] == [-1.0, 1.0]
    assert entries["r"]["bounds"] == [None, 6.0]
    assert entries["input"]["bounds"] is None


# ------------------------------------------------------------------------------ during fit


class Breaks(keras.callbacks.Callback):
    """Sets the gate to 0 (so `x / gate` is infinite) at the end of epoch `at` (a label)."""

    def __init__(self, gate: keras.Variable, at: int) -> None:
        super().__init__()
        self.gate, self.at = gate, at

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.at:
            self.gate.assign(0.0)


class Records(keras.callbacks.Callback):
    def __init__(self, watch: Watch) -> None:
        super().__init__()
        self.watch = watch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.watch.record(epoch + 1)


class Gate(layers.Layer):
    """Divides by a non-trainable weight (a weight of the model, so every backend reads its
    current value; a variable closed over by a `Lambda` is a constant to a compiled JAX call)."""

    def build(self, input_shape):
        self.gate = self.add_weight(shape=(), initializer="ones", trainable=False, name="gate")

    def call(self, t):
        return t / self.gate


@pytest.fixture(scope="module")
def breaking() -> Watch:
    """A model whose layer divides by a gate that drops to 0 at epoch 2 of `fit`."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(4, activation="tanh", name="dense"),
            Gate(name="blowup"),
            layers.Dense(1, name="out"),
        ]
    )
    gate = model.get_layer("blowup").gate
    model.compile(optimizer="sgd", loss="mse")
    watch = Watch(model, probe(n=8))
    watch.record(0)
    x, y = probe(n=32, seed=1), np.zeros((32, 1), np.float32)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[Breaks(gate, 2), Records(watch)])
    return watch


def test_a_lambda_that_makes_inf_at_epoch_2_is_the_first_bad_layer(breaking):
    assert health.first_bad_layer(breaking.history, breaking.catalog) == ("blowup", 2)
    everything = breaking.findings(epoch=None)
    assert not [f for f in everything if f["epoch"] in (0, 1)]
    inf = [f for f in everything if f["layer"] == "blowup" and f["kind"] == "inf"]
    assert inf[0]["epoch"] == 2 and inf[0]["fraction"] == 1.0
    assert inf[0]["message"] == "blowup: 100% of values are infinite (±Inf) at epoch 2"


def test_every_step_lists_each_layer_in_model_order_then_its_steps(breaking):
    everything = breaking.findings(epoch=None)
    keys = [(f["layer"], f["epoch"]) for f in everything]
    order = [c["id"] for c in breaking.catalog]
    assert keys == sorted(keys, key=lambda k: (order.index(k[0]), k[1]))
    assert {f["epoch"] for f in everything} == {2, 3}
    assert breaking.findings(epoch=2) == [f for f in everything if f["epoch"] == 2]


def test_a_healthy_model_gives_no_finding_while_it_trains():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(8, activation="tanh", name="hidden"),
            layers.Dense(3, activation="softmax", name="probs"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    watch = Watch(model, probe())
    watch.record(0)
    x, y = probe(n=64, seed=3), np.arange(64) % 3
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[Records(watch)])
    assert watch.history.epochs == [0, 1, 2]
    assert watch.findings(epoch=None) == []
    assert health.first_bad_layer(watch.history, watch.catalog) is None


# ------------------------------------------------------------------------------ loaded runs


def test_a_saved_and_loaded_run_gives_the_same_findings(breaking, zoo, tmp_path):
    for watch in (breaking, zoo):
        path = tmp_path / "run.npz"
        npz.write_history(path, watch.history, catalog=watch.catalog)
        data = npz.read_history(path)
        loaded = History(2**24)
        for step in data.steps:
            loaded.add(step, thin=False)
        assert data.catalog == watch.catalog
        assert health.findings(loaded, data.catalog, epoch=None) == watch.findings(epoch=None)
        assert health.first_bad_layer(loaded, data.catalog) == health.first_bad_layer(
            watch.history, watch.catalog
        )


def test_the_histogram_note_says_what_the_histogram_leaves_out():
    from kerasviz_widget.core.reduce import reduce_array

    def note(values):
        return health.histogram_note(
            reduce_array("l", np.asarray(values, np.float32), epoch=0).stats
        )

    assert note(np.ones((4, 3))) is None
    assert note(np.full((4, 3), np.nan)) == "no finite value: 12 NaN"
    assert note([[np.inf, -np.inf], [np.nan, np.nan]]) == "no finite value: 2 NaN and 2 infinite"
    mixed = np.ones((500, 4))
    mixed[:3, 0] = np.nan
    mixed[3, 1] = -np.inf
    assert note(mixed) == "3 NaN and 1 infinite not counted"
    many = np.ones((2000, 2))
    many[:1500, 0] = np.inf
    assert note(many) == "1,500 infinite not counted"
    assert note(np.zeros((0, 3))) == "empty output"
