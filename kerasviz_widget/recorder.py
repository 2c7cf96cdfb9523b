"""`Recorder`: record a training run to a folder from a script, for a notebook to follow.

The Recorder is a Keras callback with the same recording semantics as `viewer.callback()` (epoch 0
before training, every epoch, optionally every N batches with fractional labels, throttled, a
failure warned once and never stopping training): it is the same callback class
(`core.callback.RecordingCallback`) over a recording session whose sinks are a run folder
(`io.runfolder.RunWriter`) and, optionally, TensorBoard histograms (`io.tensorboard`). It imports no
Jupyter package, so it runs in plain scripts, on remote machines and under `tf.distribute`.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Sequence
from typing import Any

import keras

from .core.callback import MAX_OVERHEAD, RecordingCallback, check_every_n_batches
from .core.extract import Extractor, check_probe, probe_info
from .core.session import RecordingSession
from .core.settings import (
    DEFAULT_BINS,
    DEFAULT_BUDGET_MB,
    DEFAULT_MAX_VALUES,
    Settings,
    refuse_other_keywords,
)
from .io import runfolder
from .io.files import check_path, join
from .io.tensorboard import TensorBoardSink


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


#: The keyword arguments of `Recorder`, listed when another one is passed.
ACCEPTED = ("layers", "every_n_batches", "budget_mb", "bins", "max_values", "tensorboard")


class Recorder(RecordingCallback):
    """A Keras callback that records a run to a folder, for a notebook to follow or load.

    Use it in a training script, which may run on another machine, for hours, or under
    `tf.distribute`. Like a viewer and its callback, it records the watched layers' outputs on
    `probe` before training (epoch 0, when the recorder is made), after every epoch and, with
    `every_n_batches`, every that many batches (fractional labels: `1.5` is halfway through the second epoch), with the training logs.
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
        budget_mb: float = DEFAULT_BUDGET_MB,
        bins: int = DEFAULT_BINS,
        max_values: int = DEFAULT_MAX_VALUES,
        tensorboard: bool = False,
        **kwargs: Any,
    ) -> None:
        refuse_other_keywords("Recorder", kwargs, ACCEPTED)
        self.logdir = check_path(logdir, "logdir", "runs/experiment-1")
        every_n_batches = check_every_n_batches(every_n_batches, who="Recorder")
        settings = Settings.check(bins, max_values, budget_mb, who="Recorder")
        probe = check_probe(model, probe)
        extractor = Extractor(model, layers, probe=probe)
        self.chief, self.task = is_chief(model)
        """Whether this process writes (`False` on the non-chief workers of a cluster)."""
        self._writer: runfolder.RunWriter | None = None
        session = None
        if self.chief:
            manifest = {
                "model": str(getattr(model, "name", "")),
                "layers": [info.to_json() for info in extractor.layers],
                "probe": probe_info(probe),
                "bins": settings.bins,
                "max_values": settings.max_values,
                "every_n_batches": every_n_batches,
                "task": self.task,
                "tensorboard": runfolder.TENSORBOARD if tensorboard else None,
            }
            self._writer = runfolder.RunWriter(self.logdir, manifest, probe, settings.budget_bytes)
            sinks: list[Any] = []
            if tensorboard:
                sinks.append(
                    TensorBoardSink(join(self.logdir, runfolder.TENSORBOARD), settings.bins, model)
                )
            session = RecordingSession(
                extractor,
                probe,
                settings,
                self._writer,
                sinks,
                who="kerasviz_widget.Recorder",
                what="recorder",
            )
            # Release the lock when the recorder is collected or the interpreter exits.
            weakref.finalize(self, self._writer.close)
        super().__init__(session, every_n_batches, max_overhead=MAX_OVERHEAD, who="Recorder")
        if session is not None:
            # Like a viewer, record epoch 0 at once: the run shows the untrained model, and the
            # extractor is traced here rather than inside `fit`.
            session.record(epoch=0)

    @property
    def epochs(self) -> list[float | int]:
        """Epoch labels written to the run folder, ascending; empty on non-chief workers."""
        return self._writer.epochs if self._writer is not None else []

    def close(self) -> None:
        """Finish writing: flush the TensorBoard events and release the folder's lock.

        The run stays readable, and `TensorViewer.load(logdir)` opens it. Called at the end of
        the process too, so a script needs it only to record another run in the same process.
        """
        if self.session is not None:
            self.session.close()


__all__ = ["Recorder"]
