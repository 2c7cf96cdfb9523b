"""See the activations of every Keras layer, live while a model trains.

`TensorViewer` is a Jupyter widget that evaluates the outputs of a model's layers on a small probe
batch, keeps every snapshot in a bounded history, and draws them as a heatmap, a histogram and a
timeline that can be scrubbed through epochs. `layer_output` is the one-off answer to "how do I turn
a `KerasTensor` into a NumPy array?".

Heavy modules (TensorFlow, ipywidgets) are imported on first use of the names that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["TensorViewer", "Recorder", "layer_output", "__version__"]

if TYPE_CHECKING:
    from .core.extract import layer_output
    from .recorder import Recorder
    from .widget.viewer import TensorViewer

_LAZY = {"TensorViewer": "widget.viewer", "Recorder": "recorder", "layer_output": "core.extract"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
