"""`Recorder`: record a training run to a folder from a script, for a notebook to follow.

The Recorder is a Keras callback with the same recording semantics as `viewer.callback()` (epoch 0
before training, every epoch, optionally every N batches with fractional labels, throttled, a
failure warned once and never stopping training), but instead of a widget it writes a run folder
(see `io.runfolder`). It imports no Jupyter package, so it runs in plain scripts, on remote machines and
under `tf.distribute`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from .core.callback import MAX_OVERHEAD, ViewerCallback, check_every_n_batches
from .core.extract import Extractor, check_probe
from .core.history import Step
from .core.history import label as _label
from .core.reduce import DEFAULT_BINS, DEFAULT_MAX_VALUES, check_settings, reduce_many
from .core.worker import FailureLog, Worker
from .io import runfolder


def _scalar_logs(logs: dict[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(Exception):
            array = np.asarray(value)
            if array.size == 1 and array.dtype.kind in "biuf":
                out[str(key)] = float(array.reshape(()))
    return out


def _probe_info(probe: Any) -> dict[str, Any]:
    if isinstance(probe, dict):
        arrays = [np.asarray(v) for v in probe.values()]
    elif isinstance(probe, (list, tuple)):
        arrays = [np.asarray(v) for v in probe]
    else:
        arrays = [np.asarray(probe)]
    return {"n": int(arrays[0].shape[0]), "input_shapes": [list(a.shape) for a in arrays]}


def is_chief(model: Any = None) -> tuple[bool, str | None]:
    """Whether this process should write, and its task name under a multi-worker cluster.

    Under `MultiWorkerMirroredStrategy` only the chief writes (the task `chief`, or `worker` 0 when
    the cluster has no `chief`), as Keras' own checkpoint callbacks do. On JAX with several
    processes (`keras.distribution.initialize`), only process 0 writes. Any other strategy, and no
    strategy, writes.
    """
    if not os.environ.get("TF_CONFIG") and keras.backend.backend() == "jax":
        import jax

        if jax.process_count() > 1:
            index = jax.process_index()
            return index == 0, f"process:{index}"
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    cluster = config.get("cluster") or {}
    strategy = getattr(model, "distribute_strategy", None)
    extended = getattr(strategy, "extended", None)
    if extended is not None and hasattr(extended, "should_checkpoint"):
        chief = bool(extended.should_checkpoint)
    elif task:
        kind, index = task.get("type"), int(task.get("index", 0))
        chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    else:
        chief = True
    name = f"{task['type']}:{task.get('index', 0)}" if task.get("type") else None
    return chief, name


class _RunSink:
    """What `ViewerCallback` drives, writing to a run folder instead of a widget."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._last_record_seconds = 0.0
        # During `fit` the probe is evaluated on the training thread; reducing and writing the
        # step run on this worker, in parallel with training.
        self._worker = Worker("kerasviz-recorder")
        self._failures = FailureLog("recorder")

    @property
    def _worker_seconds(self) -> float:
        return self._worker.seconds

    @property
    def _last_worker_seconds(self) -> float:
        return self._worker.last_seconds

    @property
    def epochs(self) -> list[float | int]:
        writer = self.recorder._writer
        return writer.epochs if writer is not None else []

    def _set_state(self, state: str, message: str = "", skipped: int = 0) -> None:
        pass

    def _begin_run(self) -> None:
        self._failures.new_run()

    def _end_run(self, skipped: int = 0, interrupted: bool = False) -> None:
        self._flush()
        self._report_failures()
        with contextlib.suppress(Exception):
            self.recorder._flush()

    def _flush(self) -> None:
        self._worker.join()

    def _fail(self, label: float | int, exc: BaseException) -> None:
        self._failures.add(
            f"kerasviz_widget.Recorder could not record epoch {label}: {type(exc).__name__}: {exc}"
        )

    def _report_failures(self) -> None:
        """Warn, on the training thread, about the first failure of this run."""
        self._failures.report()

    def _record(
        self,
        *,
        epoch: float,
        batch: int | None = None,
        logs: dict[str, Any] | None = None,
        raise_errors: bool = False,
        background: bool = False,
    ) -> None:
        start = time.perf_counter()
        label = _label(epoch)
        try:
            write = self.recorder._prepare(label, batch, logs)
            if background:
                self._worker.submit(write, lambda exc: self._fail(label, exc))
            else:
                write()
        except Exception as exc:
            if raise_errors:
                raise
            self._fail(label, exc)
            self._report_failures()
        finally:
            self._last_record_seconds = time.perf_counter() - start


class Recorder(ViewerCallback):
    """A Keras callback that records a run to a folder, for a notebook to follow or load.

    Use it in a training script, which may run on another machine, for hours, or under
    `tf.distribute`. Like a viewer and its callback, it records the watched layers' outputs on
    `probe` before training (epoch 0, when the recorder is made), after every epoch and, with `every_n_batches`, every that many
    batches (fractional labels: `1.5` is halfway through the second epoch), with the training logs.
    Each step goes to its own file in `logdir`, written atomically, so a reader never sees half a
    step and a script killed at any moment leaves a run that loads. Full-precision arrays are kept
    within `budget_mb`; past it, older steps keep only their statistics, histograms and display
    arrays, thinned evenly like the in-memory history (first and last step always kept).

    In a notebook, `TensorViewer.follow(logdir)` shows the run and streams new steps as they are
    written; `TensorViewer.load(logdir)` opens a finished run.

    Under `MultiWorkerMirroredStrategy` only the chief writes; the other workers' recorders do
    nothing. A recorder failure never stops training: it is warned once per `fit`.

    Args:
        model: A built Keras 3 model.
        probe: A small batch of model inputs, e.g. `x_val[:16]`.
        logdir: The run folder, created if missing; any path `tf.io.gfile` opens (a local folder,
            `gs://bucket/run`, ...). It must not hold another run.
        layers: Ids of the layers to record. Defaults to `None`, every layer.
        every_n_batches: Also record every this many training batches. Defaults to `None`, epoch
            ends only.
        budget_mb: Most megabytes of full-precision arrays kept in the folder. Defaults to `512`.
        bins: Histogram bins. Defaults to `64`.
        max_values: Most values per display array. Defaults to `262_144`.
        tensorboard: Also write each watched layer's activation histogram with
            `tf.summary.histogram` to `logdir/tensorboard`, for `tensorboard --logdir`. Epoch ends
            are written as `activations/<layer>` at step `epoch`; per-batch steps as
            `batch_activations/<layer>` at the optimizer's iteration count. Defaults to `False`.

    Raises:
        ValueError: If the probe does not match the model, a layer id is unknown, an argument is
            out of range, or `logdir` already holds a run.
        RuntimeError: If another recorder is writing to `logdir`.

    Example:

    >>> recorder = Recorder(model, x_val[:16], "runs/mnist", every_n_batches=100)
    >>> model.fit(x, y, epochs=20, callbacks=[recorder])
    >>> recorder.close()   # or let the process end
    """

    def __init__(
        self,
        model: Any,
        probe: Any,
        logdir: str | os.PathLike[str],
        *,
        layers: Sequence[str] | None = None,
        every_n_batches: int | None = None,
        budget_mb: float = 512,
        bins: int = DEFAULT_BINS,
        max_values: int = DEFAULT_MAX_VALUES,
        tensorboard: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"Recorder got an unexpected keyword argument {next(iter(kwargs))!r}")
        check_every_n_batches(every_n_batches, who="Recorder")
        bins, max_values, budget_bytes = check_settings(bins, max_values, budget_mb, who="Recorder")
        super().__init__(_RunSink(self), every_n_batches, max_overhead=MAX_OVERHEAD)
        self.logdir = os.fspath(logdir)
        self._probe = check_probe(model, probe)
        self._extractor = Extractor(model, layers, probe=self._probe)
        self._watched = model
        self._bins = int(bins)
        self._max_values = int(max_values)
        self._tensorboard = bool(tensorboard)
        if self._tensorboard:
            _check_tensorboard()
        self._tb_writer: Any = None
        self.chief, self.task = is_chief(model)
        """Whether this process writes (`False` on the non-chief workers of a cluster)."""
        self._writer: runfolder.RunWriter | None = None
        if self.chief:
            manifest = {
                "model": str(getattr(model, "name", "")),
                "layers": [info.to_json() for info in self._extractor.layers],
                "probe": _probe_info(self._probe),
                "bins": self._bins,
                "max_values": self._max_values,
                "every_n_batches": every_n_batches,
                "task": self.task,
                "tensorboard": runfolder.TENSORBOARD if self._tensorboard else None,
            }
            self._writer = runfolder.RunWriter(self.logdir, manifest, self._probe, budget_bytes)
            # Release the lock when the recorder is collected or the interpreter exits.
            weakref.finalize(self, self._writer.close)
            # Like a viewer, record epoch 0 at once: the run shows the untrained model, and the
            # extractor is traced here rather than inside `fit`.
            self.viewer._record(epoch=0)

    # ----------------------------------------------------------------- public API

    @property
    def epochs(self) -> list[float | int]:
        """Epoch labels written to the run folder, ascending; empty on non-chief workers."""
        return self.viewer.epochs

    def close(self) -> None:
        """Finish writing: flush the TensorBoard events and release the folder's lock.

        The run stays readable, and `TensorViewer.load(logdir)` opens it. Called at the end of
        the process too, so a script needs it only to record another run in the same process.
        """
        self.viewer._flush()  # steps still being written by the worker
        with contextlib.suppress(Exception):
            self._flush()
            if self._tb_writer is not None:
                self._tb_writer.close()
        if self._writer is not None:
            self._writer.close()

    # ----------------------------------------------------------------- hooks: chief only

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.chief:
            super().on_train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.chief:
            super().on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.chief:
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.chief:
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.chief:
            super().on_train_end(logs)

    # ----------------------------------------------------------------- internals

    def _prepare(
        self, label: float | int, batch: int | None, logs: dict[str, Any] | None
    ) -> Callable[[], None]:
        """Evaluate the probe now; returns the rest of the step (reduce, write), to run later."""
        if self._writer is None:
            return lambda: None
        arrays = self._extractor(self._probe)
        step = Step(epoch=label, batch=batch, logs=_scalar_logs(logs))
        tb_step = self._tensorboard_step(label, batch) if self._tensorboard else None

        def write() -> None:
            snaps = reduce_many(
                arrays, epoch=label, batch=batch, bins=self._bins, max_values=self._max_values
            )
            self._writer.write(step, snaps, arrays)
            if tb_step is not None:
                self._write_tensorboard(*tb_step, arrays)

        return write

    def _tensorboard_step(self, label: float | int, batch: int | None) -> tuple[str, int]:
        """The TensorBoard tag prefix and step of a recorded step, read at recording time."""
        if batch is None and float(label).is_integer():
            return "activations", int(label)
        optimizer = getattr(self.model or self._watched, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        return "batch_activations", int(iterations) if iterations is not None else 0

    def _write_tensorboard(self, prefix: str, step: int, arrays: dict[str, np.ndarray]) -> None:
        import tensorflow as tf

        if self._tb_writer is None:
            self._tb_writer = tf.summary.create_file_writer(
                runfolder.join(self.logdir, runfolder.TENSORBOARD)
            )
        with self._tb_writer.as_default():
            for lid, array in arrays.items():
                tf.summary.histogram(
                    f"{prefix}/{tensorboard_tag(lid)}", array, step=step, buckets=self._bins
                )

    def _flush(self) -> None:
        if self._tb_writer is not None:
            self._tb_writer.flush()


def _check_tensorboard() -> None:
    """Raise a clear error for `tensorboard=True` when TensorFlow, which writes it, is missing."""
    try:
        import tensorflow  # noqa: F401 - imported for `tf.summary` when the first step is written
    except ImportError:
        raise ImportError(
            "`tensorboard=True` writes the activation histograms with `tf.summary`, and "
            "TensorFlow is not installed. Install TensorFlow (`pip install tensorflow`), or pass "
            "`tensorboard=False` (the run folder itself needs no TensorFlow)."
        ) from None


def tensorboard_tag(layer_id: str) -> str:
    """The TensorBoard tag suffix of a layer id (`:` becomes `_`; nested ids keep their `/`)."""
    return layer_id.replace(":", "_")


__all__ = ["Recorder"]
