"""`RecordingSession`: evaluate the probe, reduce it, and hand every finished step to sinks.

A session holds what recording needs (the probe, the extractor, the `Settings`, a worker thread and
a failure log) and its sinks. `record` calls the extractor at once, on the calling thread (the
weights of that moment); fetching its results to the host (on JAX, waiting for the device), the
reductions and the sinks' writes run on the worker during `fit`, in parallel with training, or at
once otherwise. One exception during `fit`: a short step (under `INLINE_SECONDS` when last
measured) of a model that computes on the host's CPU, whose sinks all work in memory
(`Sink.inline`), is finished on the training thread when the worker is idle, because handing it
over costs training more than the step itself. The session holds the snapshots of the step it
recorded last, so that each step's `relative_change` statistic (`core.reduce.relative_change`) is
set before any sink sees the step: the history, the front-end and a run folder all carry it. A
failure is shown through the sinks' `status`, warned once per run (`report_failures`, from the
training thread), and never raised into training.

A viewer's session has the in-memory `History` and the widget's front-end as sinks; a `Recorder`'s
has a run folder and, optionally, TensorBoard histograms. The Keras callback
(`core.callback.RecordingCallback`) drives a session through its public methods only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .reduce import Snapshot, reduce_many, set_relative_changes
from .settings import Settings
from .sink import Sink, Store
from .step import Step, label, scalar_logs
from .worker import FailureLog, Worker

INLINE_SECONDS = 0.005
"""Longest step that a session finishes on the training thread during `fit` rather than on its
worker: its whole cost as last measured (the calling thread's part and the worker's job). Only
where the model computes on the host's CPU and every sink is `inline`, and only when the worker
has no job left (steps reach the sinks in order). On the host the worker shares the training
loop's cores and holds the interpreter the loop needs while it runs Python, so a step of a few
milliseconds costs training about twice as much on the worker as on the training thread
(bench/RESULTS.md, "Fit overhead"); a longer step, or one on an accelerator, stays on the worker,
which also keeps a stalled sink from holding up training. A step never measured (the first one
traces the extractor) goes to the worker."""


class RecordingSession:
    """Records steps of a model on a probe and hands them to sinks.

    Args:
        extract: The extractor: a function from the probe to the layer outputs by layer id
            (`core.extract.Extractor`); its `layers` (the catalog) give each layer's activation
            bounds to the reductions, for `saturated_fraction`.
        probe: The probe, as `check_probe` returns it.
        settings: The reduction settings.
        store: The first sink, which keeps the steps: a `History`, a run folder.
        sinks: Where finished steps go too, after the store. Defaults to none.
        who: Who records, for the failure messages, e.g. `"kerasviz_widget"`. Defaults to
            `"kerasviz_widget"`.
        what: What keeps recording after a failure, for the warning, e.g. `"viewer"`. Defaults to
            `"viewer"`.

    Example:

    >>> session = RecordingSession(Extractor(model, probe=x), x, Settings(), History(2**26))
    >>> session.record(epoch=0)
    0
    """

    def __init__(
        self,
        extract: Callable[[Any], Mapping[str, np.ndarray]],
        probe: Any,
        settings: Settings,
        store: Store,
        sinks: Iterable[Sink] = (),
        *,
        who: str = "kerasviz_widget",
        what: str = "viewer",
    ) -> None:
        self.extract = extract
        self.probe = probe
        self.settings = settings
        self.store = store
        self.others: list[Sink] = list(sinks)
        self.who = who
        self.background = True
        """Whether `record(..., background=True)` runs on the worker (tests turn it off)."""
        self.running = False
        """Whether a `fit` is recording (between `begin_run` and `end_run`)."""
        self.error = ""
        """The latest failure of the current run, or `""`."""
        self.last_record_seconds = 0.0
        """Seconds the latest `record` took on the calling thread."""
        self.step_seconds: float | None = None
        """Seconds the latest measured step took in all, on the calling thread and on the worker;
        `None` until one was (the first one also traces the extractor)."""
        self.last_inline = False
        """Whether the latest `record(background=True)` finished its step on the calling thread
        (`INLINE_SECONDS`)."""
        self._worker = Worker(f"kerasviz-{what}")
        self._failures = FailureLog(what)
        self._traced = False
        self._previous: dict[str, Snapshot] | None = None  # the last step's, for relative_change

    # ----------------------------------------------------------------- state

    @property
    def epochs(self) -> list[float | int]:
        """Labels of the steps kept by the store, ascending (call `flush()` first during `fit`)."""
        return self.store.epochs

    @property
    def sinks(self) -> list[Sink]:
        """The store, then the other sinks."""
        return [self.store, *self.others]

    @property
    def worker_seconds(self) -> float:
        """Total seconds of the worker's jobs (the callback's throttle counts them)."""
        return self._worker.seconds

    @property
    def last_worker_seconds(self) -> float:
        """Seconds the worker's latest job took."""
        return self._worker.last_seconds

    # ----------------------------------------------------------------- recording

    def record(
        self,
        *,
        epoch: float,
        batch: int | None = None,
        logs: Mapping[str, Any] | None = None,
        background: bool = False,
        raise_errors: bool = False,
    ) -> float | int:
        """Take one step now: evaluate the probe, then reduce it and hand it to every sink.

        With `background`, the reduction and the sinks run on the worker thread; `flush()` waits
        for them. A short step is finished here instead where handing it over costs more than it
        takes (`INLINE_SECONDS`); then a failure that is not an `Exception` is reported too,
        except `KeyboardInterrupt`. A step reaches the sinks only once it is complete, so an
        interrupt leaves them consistent. Errors are shown and warned once per run, unless
        `raise_errors`.

        Args:
            epoch: The epoch label.
            batch: The batch inside the epoch, or `None` at an epoch end. Defaults to `None`.
            logs: Training logs; only scalar entries are kept. Defaults to `None`.
            background: Run the reduction and the sinks on the worker. Defaults to `False`.
            raise_errors: Raise a failure instead of reporting it. Defaults to `False`.

        Returns:
            The step's label.
        """
        start = time.perf_counter()
        key = label(epoch)
        # The first recording also builds and traces the extractor: not a step's usual cost.
        measured, self._traced = self._traced, True
        inline = background and self.background and self._finishes_inline()
        worker = background and self.background and not inline
        self.last_inline = inline
        try:
            fetch = self._evaluate(defer=worker)
            step = Step(epoch=key, batch=batch, logs=scalar_logs(logs))
            for sink in self.sinks:
                sink.taken(step)
            if worker:
                self._worker.submit(
                    self._job(step, fetch, time.perf_counter() - start if measured else None),
                    lambda e: self._fail(key, e),
                )
            else:
                self._finish(step, *fetch())
        except Exception as exc:
            if raise_errors:
                raise
            self._fail(key, exc)
            self.report_failures()
        except BaseException as exc:
            # On the training thread a step fails as it would on the worker (`SystemExit` from a
            # library, an abort); the user's Ctrl-C stops `fit`.
            if not inline or raise_errors or isinstance(exc, KeyboardInterrupt):
                raise
            self._fail(key, exc)
            self.report_failures()
        finally:
            elapsed = time.perf_counter() - start
            self.last_record_seconds = elapsed if measured else 0.0
            if not worker:
                self.step_seconds = elapsed if measured else None
        return key

    def _finishes_inline(self) -> bool:
        """Whether the next step is finished on the calling thread (`INLINE_SECONDS`)."""
        return (
            self.step_seconds is not None
            and self.step_seconds < INLINE_SECONDS
            and self._worker.idle
            and all(sink.inline for sink in self.sinks)
            and bool(getattr(self.extract, "on_host", False))
        )

    def _job(
        self,
        step: Step,
        fetch: Callable[[], tuple[Mapping[str, np.ndarray], Any, Any]],
        part: float | None,
    ) -> Callable[[], None]:
        """The worker's part of a step; `part` is the calling thread's (`None`: not measured)."""

        def job() -> None:
            start = time.perf_counter()
            try:
                self._finish(step, *fetch())
            finally:
                self.step_seconds = None if part is None else part + time.perf_counter() - start

        return job

    def _evaluate(self, defer: bool) -> Callable[[], tuple[Mapping[str, np.ndarray], Any, Any]]:
        """Evaluate the probe with the weights of this moment; the function returned gives the
        layer outputs on the host, and their display arrays and ranges when the extractor
        computes them on the backend in the same call (`Extractor.start_with_displays`; else
        `None`). With `defer` (the worker will call it), JAX computes in the background (on an
        accelerator, or in that function on a CPU), and the worker waits for the results, not
        training."""
        start = getattr(self.extract, "start_with_displays", None)
        if start is None:
            arrays = self.extract(self.probe)
            return lambda: (arrays, None, None)
        return start(self.probe, self.settings.max_values, defer=defer)

    def _finish(
        self,
        step: Step,
        arrays: Mapping[str, np.ndarray],
        displays: Mapping[str, np.ndarray] | None = None,
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        """Reduce the arrays of one step and hand it to every sink."""
        s = self.settings
        step.snapshots = reduce_many(
            arrays,
            epoch=step.epoch,
            batch=step.batch,
            bins=s.bins,
            max_values=s.max_values,
            bounds={i.id: i.bounds for i in getattr(self.extract, "layers", ())},
            displays=displays,
            ranges=ranges,
        )
        set_relative_changes(step.snapshots, self._previous)
        self._previous = step.snapshots
        step.arrays = dict(arrays)
        for sink in self.sinks:
            sink.write(step)

    def _fail(self, key: float | int, exc: BaseException) -> None:
        message = f"{self.who} could not record epoch {key}: {type(exc).__name__}: {exc}"
        self.error = message
        self.status("error", message)
        self._failures.add(message)

    def flush(self) -> bool:
        """Wait until the worker has handed every step to the sinks (at most `JOIN_TIMEOUT`
        seconds: a flush never hangs); returns whether it has."""
        return self._worker.join()

    def report_failures(self) -> None:
        """Warn, on the calling (training) thread, about the first failure of this run."""
        self._failures.report()

    def status(self, state: str, message: str = "", skipped: int = 0) -> None:
        """Show a status through every sink; never raises (a front-end may be gone)."""
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.status(state, message, skipped)

    # ----------------------------------------------------------------- runs

    def begin_run(self) -> None:
        """A `fit` starts: forget the last run's error; its first failure is warned again."""
        self.running = True
        self.error = ""
        self._failures.new_run()
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.begin_run(self)

    def end_run(self, skipped: int = 0, interrupted: bool = False) -> None:
        """A `fit` ended (or stopped by an exception): finish its steps, show the final status.

        Args:
            skipped: Per-batch snapshots the throttle skipped. Defaults to `0`.
            interrupted: The run stopped without `on_train_end` (e.g. `KeyboardInterrupt`).
                Defaults to `False`.
        """
        self.running = False
        finished = self.flush()
        self.report_failures()
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.end_run(interrupted)
        note = f"{skipped} per-batch snapshots skipped to keep training fast." if skipped else ""
        epochs = self.epochs
        if interrupted and epochs:
            note = (
                f"Training stopped early; every completed step is kept (latest: epoch "
                f"{epochs[-1]}). {note}"
            ).strip()
        if not finished:
            note = f"{note} Steps still being recorded appear when they are done.".strip()
        if self.error:
            self.status("error", f"{self.error} {note}".strip(), skipped)
        else:
            self.status("idle", note, skipped)

    def close(self) -> None:
        """Finish every step (at most `JOIN_TIMEOUT` seconds), end the worker thread, and close
        every sink."""
        self._worker.close()
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.close()
