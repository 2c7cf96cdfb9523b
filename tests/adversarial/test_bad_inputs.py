"""Bad input to every public function and constructor: a clear error, or a documented acceptance.

Each refusal is checked for its exception type, for naming what was wrong (the argument or the
file) and for saying what to do instead (docs/contract.md, "Bad input"). Settings have documented
upper bounds, checked before anything is allocated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import tracemalloc
import zipfile
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from kerasviz_widget import Recorder, TensorViewer, layer_output
from tests.adversarial import support

#: Words of an instruction: every refusal tells the user what to do.
ADVICE = re.compile(
    r"\b(pass|use|give|build|call|create|delete|choose|watch|raise|upgrade|set|take|remove|"
    r"make|check|free|write|save|record|convert|wrap|rename|install|must|accepts|one of)\b"
    r"|e\.g\.",
    re.IGNORECASE,
)


@dataclasses.dataclass
class Env:
    model: keras.Model
    x: np.ndarray
    y: np.ndarray
    viewer: TensorViewer
    loaded: TensorViewer
    tmp: Any
    int_model: keras.Model
    two_inputs: keras.Model
    other: keras.Model


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    tmp = tmp_path_factory.mktemp("bad")
    model = support.tiny()
    x, y = support.tiny_data()
    viewer = TensorViewer(model, x[:4])
    viewer.snapshot()
    viewer.save(tmp / "saved.npz")
    loaded = TensorViewer.load(tmp / "saved.npz")
    (tmp / "text.npz").write_text("this is not an archive")
    np.save(tmp / "single.npy", np.arange(3))
    with open(tmp / "single_as.npz", "wb") as f:
        np.save(f, np.arange(3))  # one array in .npy format, under an .npz name
    with zipfile.ZipFile(tmp / "plain.npz", "w") as z:
        z.writestr("readme.txt", "a zip, not NumPy")
    (tmp / "notrun").mkdir()
    (tmp / "notrun" / "notes.txt").write_text("hello")
    (tmp / "afile").write_text("I am a file")
    (tmp / "adir.npz").mkdir()
    keras.utils.set_random_seed(0)
    int_model = keras.Sequential(
        [keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 2, name="embed")]
    )
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    two = keras.Model(
        [a, b], keras.layers.Dense(1, name="head")(keras.layers.Concatenate()([a, b]))
    )
    return Env(model, x, y, viewer, loaded, tmp, int_model, two, support.tiny(seed=1))


def dataset(env: Env) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((env.x, env.y)).batch(4)


@dataclasses.dataclass
class Case:
    call: Callable[[Env], Any]
    exc: type[BaseException] | tuple[type[BaseException], ...]
    names: tuple[str, ...]
    """Text the message must contain (the argument, the value or the file); `{tmp}` is the
    module's temporary folder."""


def viewer_with(**kwargs: Any) -> Callable[[Env], Any]:
    return lambda env: TensorViewer(env.model, env.x[:4], **kwargs)


def probe(value: Callable[[Env], Any]) -> Callable[[Env], Any]:
    return lambda env: TensorViewer(env.model, value(env))


def recorder(name: str, **kwargs: Any) -> Callable[[Env], Any]:
    return lambda env: Recorder(env.model, env.x[:4], str(env.tmp / name), **kwargs)


def in_folder(folder: Any, call: Callable[[], Any]) -> Any:
    """Run `call` with `folder` as the working directory (what a relative path writes into)."""
    folder.mkdir(exist_ok=True)
    with contextlib.chdir(folder):
        return call()


def gen(env: Env) -> Any:
    return (row for row in env.x[:4])


CASES: dict[str, Case] = {
    # ------------------------------------------------------------ TensorViewer(model, ...)
    "model is a function": Case(
        lambda env: TensorViewer(print, env.x[:4]), TypeError, ("keras.Model",)
    ),
    "model is a layer": Case(
        lambda env: TensorViewer(keras.layers.Dense(2), env.x[:4]), TypeError, ("keras.Model",)
    ),
    "model not built": Case(
        lambda env: TensorViewer(keras.Sequential([keras.layers.Dense(2)]), env.x[:4]),
        ValueError,
        ("not built",),
    ),
    # ------------------------------------------------------------ probe
    "probe None": Case(probe(lambda env: None), TypeError, ("probe", "None")),
    "probe empty": Case(probe(lambda env: env.x[:0]), ValueError, ("probe", "empty")),
    "probe a scalar": Case(probe(lambda env: 3.0), ValueError, ("probe",)),
    "probe wrong features": Case(probe(lambda env: env.x[:4, :3]), ValueError, ("probe", "(4, 3)")),
    "probe wrong rank": Case(
        probe(lambda env: env.x[:4, :, None]), ValueError, ("probe", "(4, 4, 1)")
    ),
    "probe strings": Case(
        probe(lambda env: np.array([["a"] * 4] * 2)), ValueError, ("probe", "dtype")
    ),
    "probe objects": Case(
        probe(lambda env: np.array([[object()] * 4] * 2)), ValueError, ("probe", "object")
    ),
    "probe ragged lists": Case(
        probe(lambda env: [[1.0, 2.0], [3.0]]), (TypeError, ValueError), ("probe",)
    ),
    "probe a tf.data Dataset": Case(probe(dataset), TypeError, ("probe", "Dataset")),
    "probe a generator": Case(probe(gen), TypeError, ("probe", "generator")),
    "probe dict with wrong keys": Case(
        lambda env: TensorViewer(env.two_inputs, {"a": np.zeros((2, 2)), "c": np.zeros((2, 3))}),
        ValueError,
        ("probe", "'c'"),
    ),
    "probe batch sizes differ": Case(
        lambda env: TensorViewer(env.two_inputs, {"a": np.zeros((2, 2)), "b": np.zeros((3, 3))}),
        ValueError,
        ("batch sizes",),
    ),
    "probe one array for two inputs": Case(
        lambda env: TensorViewer(env.two_inputs, np.zeros((2, 2))),
        ValueError,
        ("probe", "2 inputs"),
    ),
    "probe floats for an Embedding": Case(
        lambda env: TensorViewer(env.int_model, np.zeros((2, 3), np.float32)),
        ValueError,
        ("probe", "integer"),
    ),
    # ------------------------------------------------------------ layers
    "layers a string": Case(viewer_with(layers="dense"), TypeError, ("layers", "'dense'")),
    "layers empty": Case(viewer_with(layers=[]), ValueError, ("layers", "empty")),
    "layers twice the same": Case(
        viewer_with(layers=["dense", "dense"]), ValueError, ("layers", "'dense'")
    ),
    "layers unknown": Case(viewer_with(layers=["nope"]), ValueError, ("'nope'", "dense")),
    "layers an int": Case(viewer_with(layers=[1]), (TypeError, ValueError), ("layer", "1")),
    "layers holds None": Case(
        viewer_with(layers=["dense", None]), (TypeError, ValueError), ("None",)
    ),
    # ------------------------------------------------------------ settings
    "bins 1": Case(viewer_with(bins=1), ValueError, ("bins=1",)),
    "bins negative": Case(viewer_with(bins=-5), ValueError, ("bins=-5",)),
    "bins a float": Case(viewer_with(bins=2.5), ValueError, ("bins=2.5",)),
    "bins a string": Case(viewer_with(bins="64"), ValueError, ("bins='64'",)),
    "bins a bool": Case(viewer_with(bins=True), ValueError, ("bins=True",)),
    # Over any sensible bound, yet small enough not to hurt the machine if it were allocated.
    "bins 10**5": Case(viewer_with(bins=10**5), ValueError, ("bins=100000", "at most")),
    "max_values 0": Case(viewer_with(max_values=0), ValueError, ("max_values=0",)),
    "max_values 10**12": Case(
        viewer_with(max_values=10**12), ValueError, ("max_values=1000000000000", "at most")
    ),
    "max_values a float": Case(viewer_with(max_values=1e5), ValueError, ("max_values=100000.0",)),
    "budget_mb 0": Case(viewer_with(budget_mb=0), ValueError, ("budget_mb=0",)),
    "budget_mb negative": Case(viewer_with(budget_mb=-1.5), ValueError, ("budget_mb=-1.5",)),
    "budget_mb nan": Case(viewer_with(budget_mb=float("nan")), ValueError, ("budget_mb=nan",)),
    "budget_mb inf": Case(viewer_with(budget_mb=float("inf")), ValueError, ("budget_mb=inf",)),
    "budget_mb a string": Case(viewer_with(budget_mb="512"), ValueError, ("budget_mb='512'",)),
    "budget_mb 10**12": Case(viewer_with(budget_mb=1e12), ValueError, ("budget_mb", "at most")),
    "unknown keyword": Case(viewer_with(colour="red"), TypeError, ("colour", "budget_mb")),
    # ------------------------------------------------------------ viewer.callback
    "every_n_batches 0": Case(
        lambda env: env.viewer.callback(0), ValueError, ("every_n_batches=0",)
    ),
    "every_n_batches negative": Case(
        lambda env: env.viewer.callback(-1), ValueError, ("every_n_batches=-1",)
    ),
    "every_n_batches a float": Case(
        lambda env: env.viewer.callback(1.5), ValueError, ("every_n_batches=1.5",)
    ),
    "every_n_batches a string": Case(
        lambda env: env.viewer.callback("10"), ValueError, ("every_n_batches='10'",)
    ),
    "every_n_batches a bool": Case(
        lambda env: env.viewer.callback(True), ValueError, ("every_n_batches=True",)
    ),
    "callback of a loaded viewer": Case(
        lambda env: env.loaded.callback(), RuntimeError, ("callback",)
    ),
    # ------------------------------------------------------------ viewer.snapshot
    "snapshot label negative": Case(lambda env: env.viewer.snapshot(-1), ValueError, ("label=-1",)),
    "snapshot label nan": Case(
        lambda env: env.viewer.snapshot(float("nan")), ValueError, ("label=nan",)
    ),
    "snapshot label inf": Case(
        lambda env: env.viewer.snapshot(float("inf")), ValueError, ("label=inf",)
    ),
    "snapshot label a string": Case(
        lambda env: env.viewer.snapshot("one"), ValueError, ("label='one'",)
    ),
    "snapshot logs a string": Case(
        lambda env: env.viewer.snapshot(5, logs="loss"), TypeError, ("logs", "'loss'")
    ),
    "snapshot of a loaded viewer": Case(
        lambda env: env.loaded.snapshot(), RuntimeError, ("snapshot",)
    ),
    # ------------------------------------------------------------ values / stats / summary
    "values unknown layer": Case(
        lambda env: env.viewer.values("dens"), ValueError, ("'dens'", "'dense'")
    ),
    "values an int layer": Case(lambda env: env.viewer.values(1), ValueError, ("1", "dense")),
    "values unrecorded epoch": Case(
        lambda env: env.viewer.values("dense", 99), KeyError, ("99", "[0, 1")
    ),
    "values epoch a string": Case(
        lambda env: env.viewer.values("dense", "last"), TypeError, ("'last'", "-1")
    ),
    "values epoch None": Case(
        lambda env: env.viewer.values("dense", None), TypeError, ("None", "-1")
    ),
    "values epoch nan": Case(
        lambda env: env.viewer.values("dense", float("nan")), KeyError, ("nan",)
    ),
    "stats unknown layer": Case(lambda env: env.viewer.stats("nope"), ValueError, ("'nope'",)),
    "stats unrecorded epoch": Case(lambda env: env.viewer.stats("dense", 7), KeyError, ("7",)),
    "summary unrecorded epoch": Case(lambda env: env.viewer.summary(42), KeyError, ("42",)),
    "summary epoch a list": Case(lambda env: env.viewer.summary([1]), TypeError, ("[1]",)),
    "select an unknown layer": Case(
        lambda env: setattr(env.viewer, "layer", "nope"), ValueError, ("'nope'",)
    ),
    "select an unrecorded epoch": Case(
        lambda env: setattr(env.viewer, "epoch", 99), KeyError, ("99",)
    ),
    # ------------------------------------------------------------ save / save_html
    "save into a missing folder": Case(
        lambda env: env.viewer.save(env.tmp / "missing" / "run.npz"),
        FileNotFoundError,
        ("{tmp}/missing",),
    ),
    "save over a folder": Case(
        lambda env: env.viewer.save(env.tmp / "adir.npz"), OSError, ("adir.npz",)
    ),
    "save path None": Case(lambda env: env.viewer.save(None), TypeError, ("path", "None")),
    "save_html into a missing folder": Case(
        lambda env: env.viewer.save_html(env.tmp / "missing" / "run.html"),
        FileNotFoundError,
        ("{tmp}/missing",),
    ),
    "save_html path None": Case(
        lambda env: env.viewer.save_html(None), TypeError, ("path", "None")
    ),
    # ------------------------------------------------------------ TensorViewer.load / follow
    "load a missing file": Case(
        lambda env: TensorViewer.load(env.tmp / "nothing.npz"), FileNotFoundError, ("nothing.npz",)
    ),
    "load a text file": Case(
        lambda env: TensorViewer.load(env.tmp / "text.npz"), ValueError, ("text.npz",)
    ),
    "load a .npy": Case(
        lambda env: TensorViewer.load(env.tmp / "single.npy"), ValueError, ("single.npy",)
    ),
    "load one array saved as .npz": Case(
        lambda env: TensorViewer.load(env.tmp / "single_as.npz"), ValueError, ("single_as.npz",)
    ),
    "load a plain zip": Case(
        lambda env: TensorViewer.load(env.tmp / "plain.npz"), ValueError, ("plain.npz",)
    ),
    "load a folder that is no run": Case(
        lambda env: TensorViewer.load(env.tmp / "notrun"), ValueError, ("notrun", "notes.txt")
    ),
    "load a missing folder": Case(
        lambda env: TensorViewer.load(env.tmp / "nowhere"), ValueError, ("nowhere",)
    ),
    "load path None": Case(lambda env: TensorViewer.load(None), TypeError, ("path", "None")),
    "load budget_mb 0": Case(
        lambda env: TensorViewer.load(env.tmp / "saved.npz", budget_mb=0),
        ValueError,
        ("budget_mb=0",),
    ),
    "follow poll_seconds 0": Case(
        lambda env: TensorViewer.follow(str(env.tmp / "notrun"), poll_seconds=0),
        ValueError,
        ("poll_seconds=0",),
    ),
    "follow poll_seconds nan": Case(
        lambda env: TensorViewer.follow(str(env.tmp / "notrun"), poll_seconds=float("nan")),
        ValueError,
        ("poll_seconds=nan",),
    ),
    "follow a folder that is no run": Case(
        lambda env: TensorViewer.follow(str(env.tmp / "notrun")), ValueError, ("notrun",)
    ),
    # ------------------------------------------------------------ Recorder
    "recorder logdir empty": Case(
        lambda env: in_folder(env.tmp / "cwd", lambda: Recorder(env.model, env.x[:4], "")),
        ValueError,
        ("logdir", "''"),
    ),
    "recorder logdir None": Case(
        lambda env: Recorder(env.model, env.x[:4], None), TypeError, ("logdir", "None")
    ),
    "recorder logdir is a file": Case(recorder("afile"), (OSError, ValueError), ("{tmp}/afile",)),
    "recorder logdir inside a file": Case(
        recorder("afile/run"), (OSError, ValueError), ("{tmp}/afile",)
    ),
    "recorder logdir unwritable": Case(
        lambda env: Recorder(env.model, env.x[:4], "/sys/kerasviz-run"),
        OSError,
        ("/sys/kerasviz-run",),
    ),
    "recorder every_n_batches 0": Case(
        recorder("r1", every_n_batches=0), ValueError, ("every_n_batches=0",)
    ),
    "recorder bins 10**5": Case(recorder("r2", bins=10**5), ValueError, ("bins=100000", "at most")),
    "recorder budget_mb 0": Case(recorder("r3", budget_mb=0), ValueError, ("budget_mb=0",)),
    "recorder layers a string": Case(
        recorder("r4", layers="dense"), TypeError, ("layers", "'dense'")
    ),
    "recorder layers empty": Case(recorder("r5", layers=[]), ValueError, ("layers", "empty")),
    "recorder layers twice": Case(
        recorder("r6", layers=["out", "out"]), ValueError, ("layers", "'out'")
    ),
    "recorder unknown keyword": Case(recorder("r7", budget=1), TypeError, ("budget", "budget_mb")),
    "recorder probe a Dataset": Case(
        lambda env: Recorder(env.model, dataset(env), str(env.tmp / "r8")),
        TypeError,
        ("probe", "Dataset"),
    ),
    # ------------------------------------------------------------ layer_output
    "layer_output model a string": Case(
        lambda env: layer_output("model", "dense", env.x[:2]), TypeError, ("keras.Model",)
    ),
    "layer_output unknown layer": Case(
        lambda env: layer_output(env.model, "nope", env.x[:2]), ValueError, ("'nope'", "dense")
    ),
    "layer_output index out of range": Case(
        lambda env: layer_output(env.model, 99, env.x[:2]), ValueError, ("99",)
    ),
    "layer_output a bool": Case(
        lambda env: layer_output(env.model, True, env.x[:2]), TypeError, ("True",)
    ),
    "layer_output a float": Case(
        lambda env: layer_output(env.model, 1.5, env.x[:2]), TypeError, ("float",)
    ),
    "layer_output a tensor of another model": Case(
        lambda env: layer_output(env.model, env.other.get_layer("dense").output, env.x[:2]),
        ValueError,
        ("another model",),
    ),
    "layer_output a layer of another model": Case(
        lambda env: layer_output(env.model, env.other.get_layer("dense"), env.x[:2]),
        ValueError,
        ("not part of model",),
    ),
    "layer_output x wrong shape": Case(
        lambda env: layer_output(env.model, "dense", env.x[:2, :3]), ValueError, ("(2, 3)",)
    ),
    "layer_output x a Dataset": Case(
        lambda env: layer_output(env.model, "dense", dataset(env)), TypeError, ("Dataset",)
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_with_the_argument_named_and_the_fix(env, case):
    spec = CASES[case]
    with pytest.raises(BaseException) as info:  # noqa: PT011 - the type is asserted below
        spec.call(env)
    exc = info.value
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    assert isinstance(exc, spec.exc), f"{type(exc).__name__}: {message}"
    for name in spec.names:
        assert name.format(tmp=env.tmp) in str(message), f"{name!r} not in: {message}"
    assert ADVICE.search(str(message)), f"the message says nothing to do: {message}"


def test_there_are_at_least_fifty_kinds_of_bad_input():
    assert len(CASES) >= 50


# ----------------------------------------------------------------------------- accepted


def test_numpy_integers_are_accepted_wherever_python_integers_are(env, tmp_path):
    viewer = TensorViewer(env.model, env.x[:4], bins=np.int64(8), max_values=np.int32(64))
    assert viewer.callback(every_n_batches=np.int64(2)).every_n_batches == 2
    recorder = Recorder(env.model, env.x[:4], str(tmp_path / "run"), every_n_batches=np.int64(2))
    recorder.close()
    assert viewer.stats("dense", 0)["shape"] == (4, 3)
    assert viewer.snapshot(np.int64(5)) == 5
    assert viewer.values("dense", np.int64(5)).shape == (4, 3)


def test_a_huge_bins_is_refused_before_anything_is_allocated(env):
    # 10**7 bins would be 2 x 76 MB of figure arrays (10**9, as reported: 2 x 7.45 GiB).
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="bins"):
            TensorViewer(env.model, env.x[:4], bins=10**7)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB allocated before the refusal"


def test_the_probe_is_copied_when_the_viewer_is_made(env):
    p = env.x[:4].copy()
    viewer = TensorViewer(env.model, p)
    stats = viewer.stats("input", 0)
    p *= 100
    np.testing.assert_array_equal(viewer.values("input", 0), env.x[:4])
    assert viewer.stats("input", 0) == stats
    viewer.snapshot()
    np.testing.assert_array_equal(viewer.values("input"), env.x[:4])
    expected = env.model.predict(env.x[:4], verbose=0)
    np.testing.assert_allclose(viewer.values("out"), expected, rtol=1e-5, atol=1e-6)


def test_the_recorder_copies_its_probe_too(env, tmp_path):
    p = env.x[:4].copy()
    recorder = Recorder(env.model, p, str(tmp_path / "run"))
    p *= 100
    env.model.fit(env.x, env.y, epochs=1, verbose=0, callbacks=[recorder])
    recorder.close()
    loaded = TensorViewer.load(str(tmp_path / "run"))
    np.testing.assert_array_equal(loaded.values("input", 1), env.x[:4])


def test_a_layer_named_input_does_not_hide_the_probe(env):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="input"), keras.layers.Dense(1, name="out")]
    )
    viewer = TensorViewer(model, env.x[:4])
    ids = viewer.layers
    assert len(ids) == len(set(ids)) == 3, ids
    dense = keras.Model(model.inputs, model.get_layer("input").output).predict(env.x[:4], verbose=0)
    probe_ids = [i for i in ids if np.array_equal(viewer.values(i, 0), env.x[:4])]
    dense_ids = [
        i
        for i in ids
        if viewer.values(i, 0).shape == dense.shape
        and np.allclose(viewer.values(i, 0), dense, atol=1e-6)
    ]
    assert len(probe_ids) == 1 and len(dense_ids) == 1 and probe_ids != dense_ids, ids
    # The id a user types for the layer is its name; the probe's moves (docs/contract.md).
    assert dense_ids == ["input"] and probe_ids == ["input:probe"]
