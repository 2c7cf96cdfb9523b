"""`TensorBoardSink`: each recorded step's activation histograms, for `tensorboard --logdir`.

TensorFlow is imported when the first step is written, so the rest of the I/O layer never needs
it.
"""

from __future__ import annotations

from typing import Any

from ..core.sink import Sink
from ..core.step import Step


def tensorboard_tag(layer_id: str) -> str:
    """The TensorBoard tag suffix of a layer id (`:` becomes `_`; nested ids keep their `/`)."""
    return layer_id.replace(":", "_")


class TensorBoardSink(Sink):
    """Writes every watched layer's histogram with `tf.summary.histogram`.

    Epoch ends are written as `activations/<layer>` at step `epoch`; per-batch steps as
    `batch_activations/<layer>` at the optimizer's iteration count when the step was taken.

    Args:
        logdir: The folder of the event files.
        bins: Histogram buckets.
        model: The model, whose optimizer counts the iterations.
    """

    def __init__(self, logdir: str, bins: int, model: Any) -> None:
        try:
            import tensorflow  # noqa: F401 - `tf.summary` writes the histograms
        except ImportError:
            raise ImportError(
                "`tensorboard=True` writes the activation histograms with `tf.summary`, and "
                "TensorFlow is not installed. Install TensorFlow (`pip install tensorflow`), or "
                "pass `tensorboard=False` (the run folder itself needs no TensorFlow)."
            ) from None
        self.logdir = logdir
        self.bins = int(bins)
        self.model = model
        self._writer: Any = None
        self._steps: dict[float, tuple[str, int]] = {}

    def taken(self, step: Step) -> None:
        """Read the tag prefix and TensorBoard step at recording time (training thread)."""
        if step.batch is None and float(step.epoch).is_integer():
            self._steps[float(step.epoch)] = ("activations", int(step.epoch))
            return
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        count = int(iterations) if iterations is not None else 0
        self._steps[float(step.epoch)] = ("batch_activations", count)

    def write(self, step: Step) -> None:
        import tensorflow as tf

        prefix, number = self._steps.pop(float(step.epoch))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.logdir)
        with self._writer.as_default():
            for lid, array in (step.arrays or {}).items():
                tf.summary.histogram(
                    f"{prefix}/{tensorboard_tag(lid)}", array, step=number, buckets=self.bins
                )

    def end_run(self, interrupted: bool = False) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
