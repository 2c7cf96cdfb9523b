"""`RecordingCallback`: the Keras callback that records a session's steps while `fit` runs.

`TensorViewer.callback()` and `Recorder` are this class over recording sessions with different
sinks (a history and a front-end; a run folder). It drives the session through its public methods
only.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
import time
from collections.abc import Callable
from typing import Any

import keras

from .extract import sync_trainer_state
from .session import RecordingSession

#: Largest share of training wall time that the recording may take before per-batch snapshots are
#: skipped (epoch snapshots, never skipped, count first).
MAX_OVERHEAD = 0.05


def check_every_n_batches(every_n_batches: Any, *, who: str) -> int | None:
    """`every_n_batches` as an `int` (NumPy integers too), or `None`; else a `ValueError` naming
    `who`."""
    if every_n_batches is None:
        return None
    if (
        isinstance(every_n_batches, bool)
        or not isinstance(every_n_batches, numbers.Integral)
        or every_n_batches < 1
    ):
        raise ValueError(
            f"{who} received every_n_batches={every_n_batches!r}; it must be a positive "
            "integer, e.g. `every_n_batches=10`, or `None` to record only at epoch ends."
        )
    return int(every_n_batches)


class RecordingCallback(keras.callbacks.Callback):
    """Records a snapshot before training, after every epoch and, optionally, every N batches.

    The callback only triggers the session's recording and forwards the training logs (loss,
    metrics, `val_*`), which travel with each step. Epoch labels follow what a person counts: 0 is
    the model before training, 1 is after the first epoch; a snapshot taken inside an epoch gets a
    fractional label (2.5 is halfway through the third epoch). A second `fit` continues the
    numbering after the newest recorded step, and `fit(..., initial_epoch=k)` is respected.

    A per-batch snapshot is taken as the batch after it begins, with the logs Keras gave at the
    end of the batch before (the model's running metrics). Its batch-end hook only counts batches
    and is `async_safe`, so Keras keeps dispatching batches asynchronously (a batch-end hook that
    is not would make Keras wait for the device after every batch: 4% of a JAX fit of 51 ms
    epochs). An epoch-only callback has no batch hook.

    Per-batch snapshots are throttled: the callback measures how long each snapshot takes and how
    much training time has passed, and skips a due snapshot when the session's running cost would
    exceed `max_overhead` of the training time (the session's worker time counts too). Epoch
    snapshots are never skipped, but their cost counts: where they alone take most of the budget
    (epochs of a few tens of milliseconds), few per-batch snapshots are taken. Skipped snapshots
    are counted (`skipped`) and the count goes to the session's status.

    A failure inside the session (an output that cannot be extracted, the front-end gone, a full
    disk, ...) is caught, shown in the status and warned once per `fit`; training goes on.

    Args:
        session: The recording session, or `None` for a callback that records nothing (a
            `Recorder` on a worker that is not the chief).
        every_n_batches: Also snapshot every this many training batches. Defaults to `None`,
            epoch ends only.
        max_overhead: Largest share of training wall time that the recording may take before
            per-batch snapshots are skipped. Defaults to `0.05`.
        clock: A function returning seconds, used to measure costs. Defaults to
            `time.perf_counter`.

    Raises:
        ValueError: If `every_n_batches` is not a positive integer or `max_overhead` is not in
            (0, 1].

    Example:

    ```python
    >>> model.fit(x, y, epochs=5, callbacks=[viewer.callback(every_n_batches=10)])
    >>> viewer.epochs[:3]
    [0, 0.25, 0.5]
    ```
    """

    async_safe = True
    """Keras may run the batch-end hook on a thread of its own (it only counts batches)."""

    def __init__(
        self,
        session: RecordingSession | None,
        every_n_batches: int | None = None,
        *,
        max_overhead: float = MAX_OVERHEAD,
        clock: Callable[[], float] = time.perf_counter,
        who: str = "TensorViewer.callback",
    ) -> None:
        super().__init__()
        every_n_batches = check_every_n_batches(every_n_batches, who=who)
        if not 0 < max_overhead <= 1:
            raise ValueError(
                f"{who} received max_overhead={max_overhead!r}; it must be in (0, 1], "
                "e.g. `0.05` for 5% of training time."
            )
        if every_n_batches is None:  # no batch hook at all
            base = keras.callbacks.Callback
            self.on_train_batch_begin = base.on_train_batch_begin.__get__(self)
            self.on_train_batch_end = base.on_train_batch_end.__get__(self)
        self._lock = threading.Lock()
        self.session = session
        self.every_n_batches = every_n_batches
        self.max_overhead = float(max_overhead)
        self.clock = clock
        self._reset()

    # ----------------------------------------------------------------- state

    def _reset(self) -> None:
        self.skipped = 0
        """Per-batch snapshots skipped by the throttle during the current (or last) `fit`."""
        self.taken = 0
        """Per-batch snapshots taken during the current (or last) `fit`."""
        self._offset: int | None = None
        self._epoch = 0
        self._start = self.clock()
        self._spent = 0.0
        self._cost = 0.0
        self._last_bucket = 0
        self._steps_seen: int | None = None
        self._ended = 0
        self._worker_seen = self.session.worker_seconds if self.session else 0.0
        self._shown_skipped = 0

    def _timed(self, **kwargs: Any) -> None:
        t0 = self.clock()
        self.session.record(background=True, **kwargs)
        cost = self.clock() - t0
        self._spent += cost + self._worker_delta()
        # The next snapshot costs about this one (on the training thread, where it finished
        # there), plus the worker's last job (where it went to the worker).
        self._cost = cost + (0.0 if self.session.last_inline else self.session.last_worker_seconds)

    def _worker_delta(self) -> float:
        """Seconds the session's worker thread spent since the last call."""
        total = self.session.worker_seconds
        delta, self._worker_seen = total - self._worker_seen, total
        return delta

    def _status(self) -> None:
        self._shown_skipped = self.skipped
        message = "recording while training"
        if self.skipped:
            message += (
                f"; {self.skipped} per-batch snapshots skipped to stay within "
                f"{self.max_overhead:.0%} of training time"
            )
        self.session.status("live", message, skipped=self.skipped)

    # ----------------------------------------------------------------- hooks

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.session is None:
            return
        self._reset()
        self.session.begin_run()
        self._status()
        if not self.session.epochs:
            self._timed(epoch=0, logs=None)
        # The first estimate of a snapshot's cost is the session's latest one.
        self._cost = self.session.last_record_seconds + self.session.last_worker_seconds
        self._start = self.clock()
        self._spent = 0.0
        self._worker_seen = self.session.worker_seconds

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.session is None:
            return
        if self._offset is None:
            # Continue after the newest recorded step: a second `fit` without `initial_epoch`
            # starts again at Keras epoch 0, and must not overwrite the first run's labels.
            self.session.flush()
            epochs = self.session.epochs
            latest = epochs[-1] if epochs else 0
            self._offset = max(0, math.ceil(latest) - epoch)
        self._epoch = epoch + self._offset
        self._last_bucket = 0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # A per-batch snapshot is taken as the next batch begins, on the training thread, where
        # the weights are those after the batches done (see the class docstring).
        n = self.every_n_batches
        if n is None or self.session is None:
            return
        done = batch  # batches finished in this epoch
        bucket = done // n
        if bucket <= self._last_bucket:
            return
        self._last_bucket = bucket
        steps = self.params.get("steps") if self.params else None
        steps = steps or self._steps_seen
        if not steps or done >= steps:
            # Unknown epoch length (no fractional label yet), or the epoch end is next anyway.
            return
        self._spent += self._worker_delta()
        now = self.clock()
        training = (now - self._start) - self._spent
        if self._spent + self._cost > self.max_overhead * training:
            self.skipped += 1
            return
        self.taken += 1
        label = round(self._epoch + done / steps, 6)
        self._timed(epoch=label, batch=batch - 1, logs=self._running_logs())

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Only counts the batches (`async_safe`: Keras may run it on a thread of its own, and
        # runs every pending one before `on_epoch_end`).
        with self._lock:
            self._ended = max(self._ended, batch + 1)

    def _running_logs(self) -> dict[str, Any] | None:
        """The logs Keras gave at the end of the batch before: the model's running metrics
        (`Model.get_metrics_result`). On JAX the trainer holds the metrics' state, so it is synced
        into the model first, as the extractor does for the weights. `None` if they cannot be
        read: the step is recorded without logs."""
        with contextlib.suppress(Exception):
            sync_trainer_state(self.model)
            return self.model.get_metrics_result()
        return None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.session is None:
            return
        if self._offset is None:  # on_epoch_begin was not called (a hand-driven loop)
            self.on_epoch_begin(epoch)
        if not (self.params and self.params.get("steps")):
            # An epoch of unknown length: its batches, for the labels of the next epochs (Keras
            # has run every batch-end hook by now). Not its batch-begin calls: on TensorFlow and
            # JAX the batch that finds the data exhausted has begun too.
            self._steps_seen = self._ended or None
        self._ended = 0
        self._timed(epoch=self._epoch + 1, logs=logs)
        self.session.report_failures()
        if self.skipped != self._shown_skipped:
            self._status()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.session is not None:
            self.session.end_run(skipped=self.skipped)
