"""Health through the viewer: `health()`, `first_bad_layer()`, `summary()`, the `findings`
messages sent after each step, the overview's statistics on the wire, and the same answers from a
saved history, a loaded run folder and a followed one."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer
from kerasviz_widget.io import protocol
from kerasviz_widget.widget.canvas import Canvas
from tests.test_recorder import wait_for

layers = keras.layers


def probe(n: int = 8, d: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.fixture
def sent(monkeypatch):
    """Every message the front-end widget is sent, as `content` dicts."""
    messages = []

    def send(self, content, buffers=None):
        if "kind" in content:
            messages.extend(c for c, _ in protocol.unbatch(content, buffers or []))

    monkeypatch.setattr(Canvas, "send", send)
    return messages


class Breaks(keras.callbacks.Callback):
    """Sets the gate to 0 (so `x / gate` is infinite) at the end of epoch `at` (a label)."""

    def __init__(self, gate: keras.Variable, at: int) -> None:
        super().__init__()
        self.gate, self.at = gate, at

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.at:
            self.gate.assign(0.0)


class Gate(layers.Layer):
    """Divides by a non-trainable weight (a weight of the model, so every backend reads its
    current value; a variable closed over by a `Lambda` is a constant to a compiled JAX call)."""

    def build(self, input_shape):
        self.gate = self.add_weight(shape=(), initializer="ones", trainable=False, name="gate")

    def call(self, t):
        return t / self.gate


def breaking_model() -> tuple[keras.Model, keras.Variable]:
    """A model whose layer `blowup` divides by a gate; the gate is returned to drop it to 0."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(4, activation="tanh", name="dense"),
            Gate(name="blowup"),
            layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model, model.get_layer("blowup").gate


def train(model: keras.Model, gate: keras.Variable, callback: keras.callbacks.Callback) -> None:
    x, y = probe(n=32, seed=1), np.zeros((32, 1), np.float32)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[Breaks(gate, 2), callback])


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """A viewer and a Recorder's run folder of the same `fit`, whose `blowup` makes Inf at
    epoch 2."""
    model, gate = breaking_model()
    viewer = TensorViewer(model, probe())
    train(model, gate, viewer.callback())
    logdir = tmp_path_factory.mktemp("run") / "run"
    model, gate = breaking_model()
    recorder = Recorder(model, probe(), logdir)
    train(model, gate, recorder)
    recorder.close()
    return viewer, str(logdir)


# ----------------------------------------------------------------- during fit


def test_a_layer_that_makes_inf_at_epoch_2_is_the_first_bad_layer(broken_run):
    viewer, _ = broken_run
    assert viewer.epochs == [0, 1, 2, 3]
    assert viewer.first_bad_layer() == ("blowup", 2)
    assert viewer.health(epoch=1) == []
    inf = [f for f in viewer.health(epoch=2) if f["kind"] == "inf"]
    assert [f["layer"] for f in inf] == ["blowup"]
    assert inf[0]["message"] == "blowup: 100% of values are infinite (±Inf) at epoch 2"
    assert {f["epoch"] for f in viewer.health(epoch=None)} == {2, 3}


def test_findings_are_sent_after_every_step_with_the_first_bad_layer_so_far(sent):
    model, gate = breaking_model()
    viewer = TensorViewer(model, probe())
    train(model, gate, viewer.callback())
    kinds = [m["kind"] for m in sent]
    # Each step: its step message, its snapshots, then its findings.
    assert kinds.count("findings") == 4
    for i, k in enumerate(kinds):
        if k == "findings":
            assert kinds[i - 1] == "snapshot"
    found = [m for m in sent if m["kind"] == "findings"]
    assert [m["epoch"] for m in found] == [0, 1, 2, 3]
    assert [m["first_bad"] for m in found] == [None, None, ["blowup", 2], ["blowup", 2]]
    assert found[1]["findings"] == []
    assert found[2]["findings"] == viewer.health(epoch=2)
    assert set(found[2]["findings"][0]) == {"layer", "epoch", "kind", "fraction", "message"}


def test_a_replay_sends_the_findings_of_every_step(broken_run, sent):
    viewer, _ = broken_run
    viewer._front_end.replay()
    found = [m for m in sent if m["kind"] == "findings"]
    assert [m["epoch"] for m in found] == viewer.epochs
    assert all(m["first_bad"] == ["blowup", 2] for m in found)
    assert [f for m in found for f in m["findings"]] == sorted(
        viewer.health(epoch=None), key=lambda f: f["epoch"]
    )


def test_each_kind_is_found_through_the_viewer():
    keras.utils.set_random_seed(0)
    x = keras.Input((6,), name="x")
    outputs = [
        layers.Dense(
            8, activation="relu", bias_initializer=keras.initializers.Constant(-100.0), name="dead"
        )(x),
        layers.Dense(8, activation="sigmoid", name="sigmoid")(
            layers.Lambda(lambda t: t * 100.0, name="large")(x)
        ),
        layers.Lambda(lambda t: t * 0.0 + 1.0, name="ones")(x),
        layers.Lambda(lambda t: t * 1e4, name="explode")(x),
        layers.Lambda(lambda t: t * 1e-4, name="vanish")(x),
        layers.Dense(8, activation="tanh", name="healthy")(x),
    ]
    viewer = TensorViewer(keras.Model(x, outputs), probe(n=16))
    kinds = {}
    for f in viewer.health():
        kinds.setdefault(f["layer"], []).append(f["kind"])
    assert kinds == {
        "dead": ["dead", "constant", "vanishing"],
        "sigmoid": ["saturated"],
        "ones": ["constant", "vanishing"],
        "explode": ["exploding"],
        "vanish": ["vanishing"],
    }
    # The thresholds are the viewer's keyword arguments.
    strict = {(f["layer"], f["kind"]) for f in viewer.health(saturated=1.0, scale=1e5)}
    assert ("dead", "dead") in strict and ("ones", "constant") in strict
    assert not strict & {
        ("sigmoid", "saturated"),
        ("explode", "exploding"),
        ("vanish", "vanishing"),
    }
    assert viewer.first_bad_layer() is None


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
    viewer = TensorViewer(model, probe(n=16))
    x, y = probe(n=64, seed=3), np.arange(64) % 3
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[viewer.callback()])
    assert viewer.health(epoch=None) == []
    assert viewer.first_bad_layer() is None


def test_health_rejects_bad_thresholds_and_unknown_epochs(broken_run):
    viewer, _ = broken_run
    with pytest.raises(ValueError, match=r"dead=2; it must be a fraction between 0 and 1"):
        viewer.health(dead=2)
    with pytest.raises(KeyError, match=r"Epoch 9 was never recorded"):
        viewer.health(epoch=9)


# ----------------------------------------------------------------- summary


def test_summary_is_one_aligned_strip_per_layer_with_the_flags(broken_run):
    viewer, _ = broken_run
    lines = viewer.summary(epoch=2).splitlines()
    assert lines[0].startswith("epoch 2  loss ")
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == viewer.layers
    assert rows["blowup"].endswith("Inf!")
    assert "Inf!" not in rows["dense"] and "NaN!" not in rows["dense"]
    mean = viewer.stats("dense", epoch=2)["mean"]
    assert f"μ={mean:.4g}" in rows["dense"]
    # The sparklines start in the same column on every line.
    starts = {line.index("x∈[") for line in lines[1:]}
    assert len(starts) == 1


# ----------------------------------------------------------------- statistics on the wire


def test_the_catalog_lists_the_overview_statistics_and_snapshots_carry_them(sent):
    model, gate = breaking_model()
    TensorViewer(model, probe())
    (catalog,) = [m for m in sent if m["kind"] == "catalog"]
    keys = [s["key"] for s in catalog["overview_stats"]]
    assert keys == list(protocol.OVERVIEW_STATS)
    snap = next(m for m in sent if m["kind"] == "snapshot")
    assert set(keys) <= set(snap["stats"])


def test_relative_change_is_kept_for_every_step_after_the_first(broken_run):
    viewer, _ = broken_run
    assert viewer.stats("dense", 0)["relative_change"] is None
    assert viewer.stats("dense", 1)["relative_change"] > 0  # one epoch of SGD moved it
    assert viewer.stats("input", 1)["relative_change"] == 0.0  # the probe does not change


# ----------------------------------------------------------------- saved and recorded runs


def test_a_saved_history_gives_the_same_findings(broken_run, tmp_path):
    viewer, _ = broken_run
    viewer.save(tmp_path / "run.npz")
    loaded = TensorViewer.load(tmp_path / "run.npz")
    assert loaded.first_bad_layer() == ("blowup", 2)
    assert loaded.health(epoch=None) == viewer.health(epoch=None)
    assert loaded.summary(epoch=3) == viewer.summary(epoch=3)
    assert loaded.stats("dense", 2) == viewer.stats("dense", 2)


def test_a_loaded_run_folder_shows_the_same_findings(broken_run, sent):
    viewer, logdir = broken_run
    loaded = TensorViewer.load(logdir)
    assert loaded.first_bad_layer() == ("blowup", 2)
    assert loaded.health(epoch=None) == viewer.health(epoch=None)
    assert loaded.stats("dense", 1)["relative_change"] == pytest.approx(
        viewer.stats("dense", 1)["relative_change"], rel=1e-6
    )
    found = [m for m in sent if m["kind"] == "findings"]
    assert [m["epoch"] for m in found] == [0, 1, 2, 3]
    assert found[-1]["first_bad"] == ["blowup", 2]


def test_a_followed_run_folder_shows_the_findings_as_steps_arrive(tmp_path, sent):
    model, gate = breaking_model()
    recorder = Recorder(model, probe(), tmp_path / "run")
    recorder.set_model(model)
    recorder.on_train_begin()
    viewer = TensorViewer.follow(str(tmp_path / "run"), poll_seconds=0.05)
    assert viewer.first_bad_layer() is None
    x, y = probe(n=32, seed=1), np.zeros((32, 1), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    gate.assign(0.0)
    recorder.on_epoch_end(0, {"loss": 1.0})
    wait_for(lambda: viewer.epochs == [0, 1])
    wait_for(lambda: any(m["kind"] == "findings" and m["epoch"] == 1 for m in sent))
    assert viewer.first_bad_layer() == ("blowup", 1)
    last = [m for m in sent if m["kind"] == "findings"][-1]
    assert last["first_bad"] == ["blowup", 1]
    viewer.close()
    recorder.close()
