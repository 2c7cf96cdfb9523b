"""`FrontEnd`: the sink that sends a viewer's steps to its canvas as protocol messages.

It also answers a new view's `replay` request (the catalog, then every step and every kept
snapshot), and, while a `fit` records, watches for a cell that ends without `on_train_end`
(IPython's `post_run_cell`, e.g. after a `KeyboardInterrupt`) to end the run's status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..core.history import History
from ..core.session import RecordingSession
from ..core.sink import Sink
from ..core.step import Step
from ..io import protocol
from .canvas import Canvas


class FrontEnd(Sink):
    """Sends steps and statuses to a `Canvas`, and replays the history to a new view.

    Args:
        canvas: The front-end widget.
        history: The viewer's history, for replays.
        catalog: Returns the catalog message (the layers can change while recording).
    """

    def __init__(
        self, canvas: Canvas, history: History, catalog: Callable[[], protocol.Message]
    ) -> None:
        self.canvas = canvas
        self.history = history
        self.catalog = catalog
        self._session: RecordingSession | None = None
        self.after_run: Callable[[], None] | None = None
        """Called at the end of each run, once its steps were sent (the static picture)."""
        canvas.on_msg(self.on_message)

    def send(self, message: protocol.Message) -> None:
        content, buffers = message
        self.canvas.send(content, buffers=buffers or None)

    # ----------------------------------------------------------------- Sink

    def write(self, step: Step) -> None:
        """Send a step, and its snapshots unless their display arrays were thinned away."""
        for message in _step_messages(step):
            self.send(message)

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
        """The catalog, then every step with its kept snapshots: what a new front-end needs."""
        yield self.catalog()
        for key in self.history.epochs:
            yield from _step_messages(self.history.step(key))

    def replay(self) -> None:
        for message in self.messages():
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
