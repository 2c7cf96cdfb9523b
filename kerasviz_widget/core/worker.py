"""One background thread that runs a viewer's or a recorder's jobs in order.

During `fit` the training thread only evaluates the probe; the reductions, the history and the
sends (or the writes to a run folder) run here, in parallel with training. The callback's throttle
counts this thread's time as the snapshot's cost too.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import warnings
from collections.abc import Callable

JOIN_TIMEOUT = 120.0
"""Most seconds `Worker.join` waits by default: a flush at the end of `fit` never hangs. A job of
a viewer takes milliseconds to a few seconds; one still running after this long is left to finish
on its own, and its step arrives when it does."""


class Worker:
    """Runs submitted jobs one after another on a daemon thread, started on first use.

    An exception a job raises goes to its `on_error`. So does a `BaseException` that is not an
    `Exception` (`SystemExit`, an abort of a C extension): the thread that ran the job ends, as
    such an exception means, and a new thread takes over the jobs still queued. No wait is
    unbounded: `join` returns after `timeout` seconds at the latest.

    Args:
        name: The thread's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds = 0.0
        """Total seconds spent in jobs."""
        self.last_seconds = 0.0
        """Seconds the latest finished job took."""
        self.cpu_seconds = 0.0
        """Total CPU seconds of this thread in jobs (`time.thread_time`): `seconds` less the
        time spent waiting, e.g. for the GIL while the training loop runs Python."""
        self.replaced = 0
        """How many threads ended on a `BaseException` and were replaced."""
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def idle(self) -> bool:
        """Whether every submitted job has finished."""
        return self._jobs.unfinished_tasks == 0

    def submit(self, job: Callable[[], None], on_error: Callable[[BaseException], None]) -> None:
        """Run `job` after the jobs before it; an exception it raises goes to `on_error`."""
        self._jobs.put((job, on_error))
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        """Start a thread if none is alive (first use, or the last one ended)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def join(self, timeout: float = JOIN_TIMEOUT) -> bool:
        """Wait until every submitted job has finished, at most `timeout` seconds.

        Returns:
            Whether every job has finished.
        """
        jobs = self._jobs
        deadline = time.monotonic() + timeout
        with jobs.all_tasks_done:
            while jobs.unfinished_tasks:
                thread = self._thread
                if thread is None or not thread.is_alive():
                    jobs.all_tasks_done.release()
                    try:
                        self._ensure_thread()
                    finally:
                        jobs.all_tasks_done.acquire()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                jobs.all_tasks_done.wait(min(left, 0.5))
        return True

    def close(self, timeout: float = JOIN_TIMEOUT) -> bool:
        """Finish the queued jobs (at most `timeout` seconds), then end the thread. A job
        submitted later starts a new thread.

        Returns:
            Whether every job had finished.
        """
        done = self.join(timeout)
        with self._lock:
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._jobs.put(None)  # wakes the thread, which ends
            thread.join(timeout=min(timeout, 5.0))
        return done

    def _run(self) -> None:
        jobs = self._jobs
        while True:
            item = jobs.get()
            if item is None:  # close()
                jobs.task_done()
                return
            job, on_error = item
            start, cpu = time.perf_counter(), time.thread_time()
            fatal = False
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - reported through on_error
                on_error(exc)
            except BaseException as exc:  # noqa: BLE001 - reported, then this thread ends
                fatal = True
                self.replaced += 1
                with contextlib.suppress(Exception):
                    on_error(exc)
            finally:
                self.last_seconds = time.perf_counter() - start
                self.seconds += self.last_seconds
                self.cpu_seconds += time.thread_time() - cpu
                # Dropped at once: a finished job must not keep its step (and model) alive.
                item = job = on_error = None
                jobs.task_done()
            if fatal:
                with self._lock:
                    self._thread = None
                if jobs.unfinished_tasks:
                    self._ensure_thread()
                return


class FailureLog:
    """Failures of one training run, warned about once, from the training thread.

    A job on the worker thread cannot warn where the user looks (a warning raised there is not
    attributed to the training code), so it adds its message here, and the callback reports it on
    the training thread at the next step.

    Args:
        what: What keeps recording despite the failure, for the message, e.g. `"viewer"`.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.warned = False
        self._pending: list[str] = []

    def add(self, message: str) -> None:
        self._pending.append(message)

    def new_run(self) -> None:
        """A new `fit` starts: its first failure is warned again."""
        self.warned = False

    def report(self) -> None:
        """Warn about the first failure added since the last report, once per run."""
        pending, self._pending = self._pending, []
        if pending and not self.warned:
            self.warned = True
            warnings.warn(
                f"{pending[0]} Training goes on; the {self.what} keeps trying at the next step.",
                RuntimeWarning,
                stacklevel=5,
            )
