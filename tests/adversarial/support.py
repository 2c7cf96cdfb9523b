"""What the adversarial tests share: tiny models, the wire as Jupyter would pack it, and faults.

The tests drive the public API only. Faults that no public input can provoke (a reduction that
raises, a history that refuses a step, a dead worker thread) are injected by the functions under
"Faults" below (the recording session's `reduce_many`, the history's `Sink.write`, the run
folder's `tf.io.gfile` writes): they are the one place in this suite that knows where the package keeps those
stages, so a change of the package's layout is answered here, once.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from kerasviz_widget.io import protocol

# ----------------------------------------------------------------------------- models


class Tripwire(keras.layers.Layer):
    """The identity, except that in inference mode it fails while `armed` is 1.

    The viewer evaluates the probe with `training=False`, `fit` trains with `training=True`: an
    armed tripwire breaks the viewer's extraction and nothing else, like a layer whose output
    cannot be read back. `armed` is a non-trainable weight, so arming it needs no retrace.
    """

    def build(self, input_shape: Any) -> None:
        self.armed = self.add_weight(shape=(), initializer="zeros", trainable=False, name="armed")

    def call(self, x: Any, training: bool | None = None) -> Any:
        if training:
            return x
        import tensorflow as tf

        check = tf.debugging.assert_equal(
            self.armed.value, 0.0, message="INJECTED extraction fault"
        )
        with tf.control_dependencies([check]):
            return tf.identity(x)


def tiny(seed: int = 0, *, tripwire: bool = False) -> keras.Model:
    """Dense 4 -> 3 -> 1, compiled with plain SGD: fast, deterministic training."""
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="dense")]
    if tripwire:
        layers.append(Tripwire(name="tripwire"))
    layers.append(keras.layers.Dense(1, name="out"))
    model = keras.Sequential(layers, name="tiny")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


class Reusable:
    """One compiled `tiny` model that every test of a module starts from in the same state.

    Building and compiling a model, and tracing its train function, cost most of a small `fit`;
    `fresh()` puts back the initial weights and optimizer state instead (plain SGD: the state is
    the iteration count), so a `fit` from it is bit for bit a `fit` of a new model.
    """

    def __init__(self, *, tripwire: bool = False) -> None:
        self.model = tiny(tripwire=tripwire)
        self.model.optimizer.build(self.model.trainable_variables)
        self._weights = [np.array(keras.ops.convert_to_numpy(v)) for v in self.model.weights]
        self._optimizer = [
            np.array(keras.ops.convert_to_numpy(v)) for v in self.model.optimizer.variables
        ]

    def fresh(self) -> keras.Model:
        for v, value in zip(self.model.weights, self._weights, strict=True):
            v.assign(value)
        for v, value in zip(self.model.optimizer.variables, self._optimizer, strict=True):
            v.assign(value)
        return self.model


def tiny_data(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4), dtype=np.float32)
    return x, x.sum(axis=1, keepdims=True)


def weights(model: keras.Model) -> list[np.ndarray]:
    """The trained weights (the tripwire's switch is not one)."""
    return [np.array(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights]


def assert_same_weights(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for wa, wb in zip(a, b, strict=True):
        assert wa.dtype == wb.dtype and wa.shape == wb.shape
        assert wa.tobytes() == wb.tobytes(), "training changed: the weights differ bit for bit"


# ----------------------------------------------------------------------------- the wire


def canvas_of(viewer: Any) -> Any:
    """The anywidget front-end of a viewer: the viewer itself, one of its attributes (a viewer
    that owns its widget), or one of its `children` (a viewer that is a box of widgets)."""
    import anywidget

    todo = [viewer]
    seen: set[int] = set()
    while todo:
        widget = todo.pop(0)
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if isinstance(widget, anywidget.AnyWidget):
            return widget
        todo.extend(getattr(widget, "children", ()) or ())
        if widget is viewer:
            todo.extend(v for v in vars(viewer).values() if hasattr(v, "comm"))
    raise AssertionError("the viewer has no anywidget front-end")


class Wire:
    """Every message the viewer's front-end widget puts on its comm, packed as Jupyter packs it.

    Jupyter's session packer refuses NaN and infinities (`allow_nan=False`); `packed_errors`
    lists the messages that hold one.
    """

    def __init__(self, viewer: Any) -> None:
        import json

        from jupyter_client.session import json_default

        # Jupyter's packer first tries exactly this; its fallback (deprecated, with a warning)
        # would turn a NaN into something the front-end does not expect.
        self._pack = lambda data: json.dumps(data, default=json_default, allow_nan=False)
        self.canvas = canvas_of(viewer)
        self.raw: list[tuple[dict[str, Any], list[Any]]] = []
        self.packed_errors: list[str] = []
        self._lock = threading.Lock()
        comm = self.canvas.comm
        assert comm is not None, "the viewer's front-end has no comm"
        self._original = comm.send
        comm.send = self._send

    def _send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        try:
            self._pack(data)
        except (ValueError, TypeError) as exc:
            with self._lock:
                self.packed_errors.append(f"{exc}: {str(data)[:300]}")
        with self._lock:
            self.raw.append((data, list(buffers or [])))

    @property
    def custom(self) -> list[tuple[dict[str, Any], list[Any]]]:
        """The custom messages (`widget.send`): `(content, buffers)`."""
        with self._lock:
            raw = list(self.raw)
        return [
            message
            for d, b in raw
            if isinstance(d, dict) and d.get("method") == "custom"
            for message in protocol.unbatch(d["content"], b)
        ]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [c for c, _ in self.custom if c.get("kind") == kind]

    def last_status(self) -> dict[str, Any]:
        statuses = self.kind("status")
        assert statuses, "the viewer sent no status"
        return statuses[-1]


# ----------------------------------------------------------------------------- faults


class WorkerDeath(BaseException):  # noqa: N818 - it is what it is: not an Exception
    """A `BaseException` that is not an `Exception`, as `SystemExit` or a C extension's abort."""


def _replace_everywhere(monkeypatch: Any, original: Any, replacement: Any) -> int:
    """Rebind every name in the package's modules that refers to `original`."""
    count = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("kerasviz_widget") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                monkeypatch.setattr(module, attr, replacement)
                count += 1
    return count


def _on_worker() -> bool:
    return threading.current_thread() is not threading.main_thread()


def finish_steps(monkeypatch: Any, where: str) -> None:
    """Decide where a viewer finishes its steps during `fit` (`core.session.INLINE_SECONDS`):
    `"worker"` always on its worker thread; `"inline"` on the training thread wherever the rule
    allows it (a step measured, the worker idle), whatever the step costs."""
    session = importlib.import_module("kerasviz_widget.core.session")
    monkeypatch.setattr(session, "INLINE_SECONDS", {"worker": 0.0, "inline": 3600.0}[where])


class Settle(keras.callbacks.Callback):
    """Waits for a recording session's worker at every epoch start, so that the rule of
    `finish_steps` finds it idle (a job still running keeps the next step on the worker, as a
    busy machine may make it)."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.session.flush()


def fail_reduction(
    monkeypatch: Any,
    exc: Callable[[], BaseException],
    *,
    times: int | None = None,
    thread: str | None = None,
) -> list[str]:
    """Make every reduction from now on raise `exc()` (`times` times, or always; only on the
    thread named `thread`, if given): call it once the viewer or recorder is built. Returns the
    names of the threads where one failed (the worker's, or `"MainThread"` for a step finished
    on the training thread)."""
    reduce = importlib.import_module("kerasviz_widget.core.reduce")
    original = reduce.reduce_many
    failures: list[str] = []

    def reduce_many(*args: Any, **kwargs: Any) -> Any:
        name = threading.current_thread().name
        if (times is None or len(failures) < times) and thread in (None, name):
            failures.append(name)
            raise exc()
        return original(*args, **kwargs)

    assert _replace_everywhere(monkeypatch, original, reduce_many) > 0
    return failures


def slow_reduction(monkeypatch: Any, seconds: float) -> list[float]:
    """Make every reduction take `seconds` longer; returns the thread names that reduced."""
    reduce = importlib.import_module("kerasviz_widget.core.reduce")
    original = reduce.reduce_many
    threads: list[float] = []

    def reduce_many(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        threading.Event().wait(seconds)
        return original(*args, **kwargs)

    assert _replace_everywhere(monkeypatch, original, reduce_many) > 0
    return threads


def stuck_reduction(monkeypatch: Any) -> threading.Event:
    """Make every reduction on the worker wait until the returned event is set: a job stuck for
    good, as one deadlocked in a C extension. Set the event at the end of the test."""
    reduce = importlib.import_module("kerasviz_widget.core.reduce")
    original = reduce.reduce_many
    release = threading.Event()

    def reduce_many(*args: Any, **kwargs: Any) -> Any:
        if _on_worker():
            release.wait()
        return original(*args, **kwargs)

    assert _replace_everywhere(monkeypatch, original, reduce_many) > 0
    return release


def short_worker_wait(monkeypatch: Any, seconds: float) -> None:
    """Cap every wait on a worker (`Worker.join`, whose default limit is `JOIN_TIMEOUT`, 120 s)
    at `seconds`, so that a test of a stuck worker takes seconds, not minutes."""
    worker = importlib.import_module("kerasviz_widget.core.worker")
    original = worker.Worker.join

    def join(self: Any, timeout: float = seconds) -> bool:
        return original(self, min(timeout, seconds))

    monkeypatch.setattr(worker.Worker, "join", join)


def fail_history(monkeypatch: Any, exc: Callable[[], BaseException]) -> None:
    """Make the in-memory history refuse every new step (its `Sink.write`, which the recording
    session calls)."""
    history = importlib.import_module("kerasviz_widget.core.history")

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise exc()

    monkeypatch.setattr(history.History, "write", write)


def fail_send(viewer: Any, exc: Callable[[], BaseException]) -> None:
    """Make every message to the front-end raise, as a comm whose kernel went away."""
    comm = canvas_of(viewer).comm

    def send(*args: Any, **kwargs: Any) -> None:
        raise exc()

    comm.send = send


@contextlib.contextmanager
def full_disk(monkeypatch: Any, *, match: str = ".tmp-") -> Iterator[list[str]]:
    """Writes to files whose name contains `match` fail with ENOSPC after the file is created.

    Patches both filesystems the package's one atomic writer (`io.files`) writes through:
    `tf.io.gfile.GFile` (URLs such as `gs://`) and Python's `open` (local paths), so a step
    file's temporary copy exists on disk, one byte long, when the error comes.
    """
    from tensorflow.io import gfile

    files = importlib.import_module("kerasviz_widget.io.files")
    created: list[str] = []

    class Full:
        def __init__(self, inner: Any, path: str, mode: str) -> None:
            self._inner = inner
            self._path = str(path)
            self._fail = any(m in mode for m in "wxa") and match in self._path

        def write(self, data: Any) -> Any:
            if self._fail:
                self._inner.write(b"\0" if isinstance(data, (bytes, memoryview)) else "\0")
                self._inner.flush()
                created.append(self._path)
                raise OSError(errno.ENOSPC, "No space left on device (INJECTED)", self._path)
            return self._inner.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: Any) -> None:
            self._inner.close()

    original_gfile, original_open = gfile.GFile, open
    monkeypatch.setattr(
        gfile, "GFile", lambda path, mode="r": Full(original_gfile(path, mode), path, mode)
    )
    monkeypatch.setattr(
        files,
        "open",
        lambda path, mode="r", *a, **k: Full(original_open(path, mode, *a, **k), path, mode),
        raising=False,
    )
    yield created


def kerasviz_warnings(records: list[Any]) -> list[str]:
    """The messages of the warnings this package raised (other libraries' are left out)."""
    words = ("kerasviz", "viewer", "Recorder")
    return [str(w.message) for w in records if any(word in str(w.message) for word in words)]
