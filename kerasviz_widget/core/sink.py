"""`Sink`: where a recording session hands its steps.

A sink is one small class: the in-memory `History`, the widget's front-end, a run folder, the
TensorBoard histograms. A `RecordingSession` calls, for every sink it holds:

- `taken(step)` on the recording (training) thread, the moment the probe was evaluated, before
  the step is reduced: `step` has its label, batch and logs, no snapshots yet;
- `write(step)` with the finished step, on the session's worker thread during `fit` (on the
  training thread for a short step, where every sink of the session is `inline`);
- `status(state, message, skipped)` when the recording state changes (`idle`, `live`, `error`);
- `begin_run(session)` and `end_run(interrupted)` around every `fit`;
- `close()` when the session is closed.

Every method but `write` does nothing by default. A `Store` is a sink that keeps the steps and
knows their labels (`epochs`): the in-memory `History`, a run folder. A session's first sink is its
store: the callback continues the numbering of a second `fit` after the store's newest step. An exception in `write` is a failure of that
step: it is shown and warned once, and training goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .session import RecordingSession
    from .step import Step


class Sink:
    """Receives the steps of a recording session; subclass it and override `write`."""

    inline = False
    """Whether `write` only works in memory and never waits on anything outside the process (no
    file, no network): a session whose sinks all are may finish a short step on the training
    thread instead of its worker (`RecordingSession.record`)."""

    def taken(self, step: Step) -> None:
        """The probe of `step` was evaluated (recording thread); its snapshots are not yet made."""

    def write(self, step: Step) -> None:
        """Keep, send or store one finished step."""
        raise NotImplementedError

    def status(self, state: str, message: str = "", skipped: int = 0) -> None:
        """The recording state changed; `skipped` counts throttled per-batch snapshots."""

    def begin_run(self, session: RecordingSession) -> None:
        """A `fit` starts recording through `session`."""

    def end_run(self, interrupted: bool = False) -> None:
        """The `fit` ended (`interrupted`: it stopped without `on_train_end`)."""

    def close(self) -> None:
        """The session is closed: release what the sink holds."""


class Store(Sink):
    """A sink that keeps the steps it is given, and lists their labels."""

    @property
    def epochs(self) -> list[float | int]:
        """Labels of the steps kept, ascending."""
        raise NotImplementedError
