"""`FrontEnd`: the sink that sends a viewer's steps to its canvas as protocol messages.

After each step's snapshots it sends the step's health findings and the run's first bad layer
(`core.health`, decided here from the viewer's history and catalog, so a recorded, loaded or
followed run shows the same), which the front-end shows as they are. It also answers a new view's `replay` request (the catalog, then every step and every kept
snapshot), and, while a `fit` records, watches for a cell that ends without `on_train_end`
(IPython's `post_run_cell`, e.g. after a `KeyboardInterrupt`) to end the run's status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..core import health
from ..core.history import History
from ..core.session import RecordingSession
from ..core.sink import Sink
from ..core.step import Step, label
from ..io import protocol
from .canvas import Canvas


class FrontEnd(Sink):
    """Sends steps and statuses to a `Canvas`, and replays the history to a new view.

    Args:
        canvas: The front-end widget.
        history: The viewer's history, for replays.
        catalog: Returns the catalog message (the layers can change while recording).
    """

    inline = True
    """A send hands the message to the kernel's I/O thread and returns: a short step may be sent
    from the training thread."""

    def __init__(
        self, canvas: Canvas, history: History, catalog: Callable[[], protocol.Message]
    ) -> None:
        self.canvas = canvas
        self.history = history
        self.catalog = catalog
        self._session: RecordingSession | None = None
        self._first_bad: tuple[str, float | int] | None = None
        self.after_run: Callable[[], None] | None = None
        """Called at the end of each run, once its steps were sent (the static picture)."""
        canvas.on_msg(self.on_message)

    def send(self, message: protocol.Message) -> None:
        content, buffers = message
        self.canvas.send(content, buffers=buffers or None)

    # ----------------------------------------------------------------- Sink

    def write(self, step: Step) -> None:
        """Send a step, its snapshots unless their display arrays were thinned away, and its
        findings, in `batch` messages (one, unless its buffers pass `protocol.BATCH_BYTES`; the
        history holds the step already: every store is written first)."""
        messages = [*_step_messages(step), self._findings(step)]
        for message in protocol.batches(messages):
            self.send(message)

    def layers(self) -> list[dict[str, Any]]:
        """The layer catalog, as the catalog message carries it."""
        return list(self.catalog()[0]["layers"])

    def _findings(self, recorded: Step) -> protocol.Message:
        """The findings message of a step (from its own statistics: the history holds the same);
        updates the first bad layer."""
        catalog = self.layers()
        stats = {lid: snap.stats for lid, snap in recorded.snapshots.items()}
        found = health.step_findings(stats, catalog, epoch=recorded.epoch)
        step = label(recorded.epoch)
        candidate = health.first_bad(found)
        if self._first_bad is not None and self._first_bad[1] == step:
            # The step was recorded again: look at the whole history (rare).
            self._first_bad = health.first_bad_layer(self.history, catalog)
        elif candidate is not None and (self._first_bad is None or step < self._first_bad[1]):
            self._first_bad = candidate
        return protocol.encode_findings(step, found, self._first_bad)

    def status(self, state: str, message: str = "", skipped: int = 0) -> None:
        """Show a status line; never raises (the front-end may be gone)."""
        with contextlib.suppress(Exception):
            self.send(protocol.encode_status(state, message, skipped))

    def begin_run(self, session: RecordingSession) -> None:
        self._session = session
        with contextlib.suppress(Exception):
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and self.after_cell not in shell.events.callbacks.get(
                "post_run_cell", []
            ):
                shell.events.register("post_run_cell", self.after_cell)

    def end_run(self, interrupted: bool = False) -> None:
        with contextlib.suppress(Exception):
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                shell.events.unregister("post_run_cell", self.after_cell)
        if interrupted and len(self.history):
            # A step may have been half sent when the interrupt came: send the latest again.
            with contextlib.suppress(Exception):
                self.write(self.history.step(-1))
        if self.after_run is not None:
            with contextlib.suppress(Exception):
                self.after_run()

    def after_cell(self, *_args: Any) -> None:
        """IPython `post_run_cell` hook: a `fit` that raised (e.g. `KeyboardInterrupt`) never
        calls `on_train_end`, so its status would stay `live`."""
        if self._session is not None and self._session.running:
            self._session.end_run(interrupted=True)

    # ----------------------------------------------------------------- replay

    def messages(self) -> Iterator[protocol.Message]:
        """The catalog, then every step with its kept snapshots and its findings: what a new
        front-end needs."""
        catalog = self.catalog()
        yield catalog
        layers = catalog[0]["layers"]
        first = health.first_bad_layer(self.history, layers)
        by_step: dict[float | int, list[dict[str, Any]]] = {}
        for f in health.findings(self.history, layers, epoch=None):
            by_step.setdefault(f["epoch"], []).append(f)
        for key in self.history.epochs:
            yield from _step_messages(self.history.step(key))
            yield protocol.encode_findings(key, by_step.get(key, []), first)

    def replay(self) -> None:
        for message in protocol.batches(self.messages()):
            self.send(message)

    def on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        """A message from the front-end: `{"kind": "replay"}` when a new view has no store."""
        if content.get("kind") == "replay":
            self.replay()


def _step_messages(step: Step) -> Iterator[protocol.Message]:
    yield protocol.encode_step(step.epoch, step.batch, step.logs)
    if step.has_display:
        for snap in step.snapshots.values():
            yield protocol.encode_snapshot(snap)
