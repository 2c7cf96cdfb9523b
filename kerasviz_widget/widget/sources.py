"""Where a viewer's steps come from: a model it records, a saved `.npz` history, or a run folder.

A source describes the layers (`catalog`, `layers`, `probe_info`, `settings`) and, on `start`,
delivers its steps to the viewer's history and front-end. Only a `ModelSource` records: the others
answer `recording()` with an error that says what to do instead.
"""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..core.extract import Extractor, check_probe, probe_info
from ..core.history import History
from ..core.session import RecordingSession
from ..core.settings import Settings
from ..io import npz, runfolder
from ..io.files import fs
from .frontend import FrontEnd


class Source:
    """What every source gives a viewer; a source without a model cannot record."""

    settings: Settings
    probe_info: dict[str, Any]

    def catalog(self) -> list[dict[str, Any]]:
        """The layer catalog, as the `catalog` message carries it."""
        raise NotImplementedError

    @property
    def layers(self) -> list[str]:
        """Ids of the layers, in model order."""
        return [str(info["id"]) for info in self.catalog()]

    def start(self, history: History, front_end: FrontEnd) -> None:
        """Deliver the steps there are now to the viewer's history and front-end."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the source holds (a recording session and its worker thread, a polling
        thread); the steps already delivered stay."""

    def recording(self, what: str) -> RecordingSession:
        """The session that records new steps; raises for a source without a model."""
        raise RuntimeError(
            f"TensorViewer.{what}() needs a model, but this viewer shows a saved history or "
            "a recorded run and has no model to evaluate: it can only display and answer "
            "values(), stats(), summary(), save() and save_html(). To record new steps, "
            "create `TensorViewer(model, probe)`, or use `Recorder(model, probe, logdir)` "
            "in the training script."
        )


class ModelSource(Source):
    """Steps recorded from a model on a probe, through one recording session.

    Args:
        model: A built Keras 3 model.
        probe: A small batch of model inputs.
        layers: Ids of the layers to watch, or `None` for every layer.
        settings: The recording settings.
    """

    def __init__(
        self, model: Any, probe: Any, layers: Sequence[str] | None, settings: Settings
    ) -> None:
        self.settings = settings
        self.probe = check_probe(model, probe)
        self.probe_info = probe_info(self.probe)
        self.extractor = Extractor(
            model, layers, probe=self.probe, budget_bytes=settings.budget_bytes
        )
        self.session: RecordingSession | None = None

    def catalog(self) -> list[dict[str, Any]]:
        return [info.to_json() for info in self.extractor.layers]

    @property
    def layers(self) -> list[str]:
        return self.extractor.ids

    def start(self, history: History, front_end: FrontEnd) -> None:
        """Record epoch 0 (the model before training) into the history and the front-end."""
        self.session = RecordingSession(
            self.extractor, self.probe, self.settings, history, [front_end]
        )
        self.session.record(epoch=0)

    def recording(self, what: str) -> RecordingSession:
        assert self.session is not None, "start() the source first"
        return self.session

    def close(self) -> None:
        """Finish the session's steps and end its worker thread (`RecordingSession.close`)."""
        if self.session is not None:
            self.session.close()


class HistoryFile(Source):
    """The steps of a `.npz` history written by `viewer.save`, restored as they were saved.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If the file is not a readable history.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        data = npz.read_history(path)
        self.steps = data.steps
        self.settings = data.settings
        self.probe_info = data.probe
        self._catalog = data.catalog or [
            {"id": lid, "class_name": "", "output_shape": [], "params": 0, "strategy": "loaded"}
            for lid in (data.steps[-1].snapshots if data.steps else ())
        ]

    def catalog(self) -> list[dict[str, Any]]:
        return self._catalog

    def start(self, history: History, front_end: FrontEnd) -> None:
        for step in self.steps:
            history.add(step, thin=False)
            front_end.write(step)


class RunFolder(Source):
    """The steps of a `Recorder`'s run folder; `follow` streams new ones as they are written.

    Args:
        logdir: The run folder.
        budget_mb: Memory budget of the viewer's history, in MB.

    Raises:
        ValueError: If `logdir` is not a run folder, or was written by a newer version.
    """

    def __init__(self, logdir: str, budget_mb: float) -> None:
        self.reader = runfolder.RunReader(logdir)
        self.logdir = self.reader.logdir
        manifest = self.reader.manifest
        self.settings = Settings.from_json(manifest, budget_mb=budget_mb)
        self.probe_info = probe_info(self.reader.probe)
        self._catalog = [dict(info) for info in manifest["layers"]]
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()

    @staticmethod
    def holds_run(path: str | os.PathLike[str]) -> bool:
        """Whether `TensorViewer.load(path)` means a run folder: a folder, or a missing path
        without a file suffix."""
        return fs().isdir(str(path)) or (
            not fs().exists(str(path)) and not pathlib.Path(path).suffix
        )

    def catalog(self) -> list[dict[str, Any]]:
        return self._catalog

    def start(self, history: History, front_end: FrontEnd) -> None:
        self.ingest(history, front_end)

    def ingest(self, history: History, front_end: FrontEnd) -> int:
        """Add the run's new steps to the history and send them; returns how many."""
        steps = self.reader.poll()
        for step in steps:
            # A step thinned in the folder already comes without full arrays, and stays so.
            history.write(step)
            front_end.write(step)
        return len(steps)

    def follow(
        self, history: History, front_end: FrontEnd, poll_seconds: float, alive: Callable[[], bool]
    ) -> None:
        """Poll the folder on a background thread until `alive()` is false; an error is shown,
        polling goes on."""
        live = f"Following the run in {self.logdir}."

        def loop() -> None:
            shown = ""
            while not self._stop.wait(poll_seconds):
                if not alive():  # the widget was closed
                    break
                try:
                    self.ingest(history, front_end)
                    if shown:
                        shown = ""
                        front_end.status("live", live)
                except Exception as exc:  # noqa: BLE001 - keep following; show what went wrong
                    message = f"Could not read the run in {self.logdir}: {exc}"
                    if message != shown:
                        shown = message
                        front_end.status("error", message)

        front_end.status("live", live)
        self.thread = threading.Thread(
            target=loop, name=f"kerasviz-follow-{self.logdir}", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        """Stop following: the polling thread ends (it is waited for at most 5 s)."""
        self._stop.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
