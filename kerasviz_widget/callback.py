"""The Keras callback that records snapshots while `fit` runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from .widget import TensorViewer


class ViewerCallback(keras.callbacks.Callback):
    """Records a snapshot before training and after every epoch.

    It only triggers `viewer.snapshot()` and forwards the training logs; a failure inside the viewer
    is caught by the viewer, shown in the widget and warned once, and training goes on.

    Args:
        viewer: The `TensorViewer` to record into.
    """

    def __init__(self, viewer: TensorViewer) -> None:
        super().__init__()
        self.viewer = viewer

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.viewer._set_state("live")
        if not self.viewer.epochs:
            self.viewer._record(epoch=0, logs=None)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.viewer._record(epoch=epoch + 1, logs=logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.viewer._set_state("idle")
