"""One background thread that runs a viewer's or a recorder's jobs in order.

During `fit` the training thread only evaluates the probe; the reductions, the history and the
sends (or the writes to a run folder) run here, in parallel with training. The callback's throttle
counts this thread's time as the snapshot's cost too.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections.abc import Callable


class Worker:
    """Runs submitted jobs one after another on a daemon thread, started on first use.

    Args:
        name: The thread's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds = 0.0
        """Total seconds spent in jobs."""
        self.last_seconds = 0.0
        """Seconds the latest finished job took."""
        self._jobs: queue.Queue | None = None

    def submit(self, job: Callable[[], None], on_error: Callable[[BaseException], None]) -> None:
        """Run `job` after the jobs before it; an exception it raises goes to `on_error`."""
        if self._jobs is None:
            self._jobs = queue.Queue()
            threading.Thread(
                target=self._run, args=(self._jobs,), name=self.name, daemon=True
            ).start()
        self._jobs.put((job, on_error))

    def join(self) -> None:
        """Wait until every submitted job has finished."""
        if self._jobs is not None:
            self._jobs.join()

    def _run(self, jobs: queue.Queue) -> None:
        while True:
            job, on_error = jobs.get()
            start = time.perf_counter()
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - reported through on_error
                on_error(exc)
            finally:
                self.last_seconds = time.perf_counter() - start
                self.seconds += self.last_seconds
                jobs.task_done()


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
