"""See the activations of every Keras layer, live while a model trains.

`TensorViewer` is a Jupyter widget that evaluates the outputs of a model's layers on a small probe
batch, keeps every snapshot in a bounded history, and draws them as a heatmap, a histogram and a
timeline that can be scrubbed through epochs. `layer_output` is the one-off answer to "how do I turn
a `KerasTensor` into a NumPy array?".

Heavy modules (Keras and its backend, ipywidgets) are imported on first use of the names that need
them, so `import kerasviz_widget` is cheap and works without a Keras backend; the first use of one of
these names without a backend raises one `ImportError` that says which extra to install.
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


# The modules Keras 3 imports for its backends (the numpy backend also needs JAX).
_BACKEND_MODULES = {"tensorflow", "jax", "jaxlib", "torch"}


def _no_backend_error(missing: str) -> ImportError:
    """The one error for a missing Keras backend: which module is missing and the three extras."""
    return ImportError(
        f"kerasviz_widget needs a Keras backend, and Keras could not import {missing!r} "
        "(the backend that KERAS_BACKEND or ~/.keras/keras.json selects; TensorFlow when neither "
        "does). Install the package with a backend:\n"
        '    pip install "kerasviz-widget[tensorflow]"\n'
        '    pip install "kerasviz-widget[jax]"\n'
        '    pip install "kerasviz-widget[torch]"\n'
        "and set KERAS_BACKEND=jax or KERAS_BACKEND=torch before importing Keras for the last two."
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        import sys

        try:
            module = importlib.import_module(f".{_LAZY[name]}", __name__)
        except ModuleNotFoundError as error:
            missing = (error.name or "").partition(".")[0]
            # Keras itself failed (a failed import leaves no `keras` module behind): no backend.
            if missing in _BACKEND_MODULES and "keras" not in sys.modules:
                raise _no_backend_error(missing) from error
            raise
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
