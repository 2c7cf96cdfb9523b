"""The layer catalog and the cached extractor.

One extractor serves all watched layers in one forward pass. It is built once and reused for every
snapshot; it is rebuilt only when the watched set changes.

Strategies:

- `graph`: one multi-output `keras.Model(model.inputs, outputs)`, called through its compiled
  predict function (`predict_on_batch`), always in inference mode.
- `input`: the probe itself, shown as the layer `input`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

INPUT_ID = "input"


@dataclass
class LayerInfo:
    """One watchable output of a model: a layer output, or the probe input."""

    id: str
    class_name: str
    output_shape: tuple[int | None, ...]
    params: int
    strategy: str
    tensor: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class_name": self.class_name,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "strategy": self.strategy,
        }


def _check_built(model: keras.Model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Expected a `keras.Model`, but received an object of type {type(model).__name__}."
        )
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            f"The model {model.name!r} is not built, so its layers have no outputs yet. Build it "
            "first: give it an `keras.Input(shape=...)`, call it once on a batch "
            "(`model(x[:1])`), or call `model.build((None, *input_shape))`."
        )


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def catalog(model: keras.Model) -> list[LayerInfo]:
    """Every watchable output of `model`, in model order, starting with the probe `input`."""
    _check_built(model)
    inputs = model.inputs
    infos = [
        LayerInfo(
            id=INPUT_ID,
            class_name="Input",
            output_shape=_shape(inputs[0]),
            params=0,
            strategy="input",
        )
    ]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        outputs = layer.output
        if isinstance(outputs, (list, tuple)):
            named = [(f"{layer.name}:{i}", t) for i, t in enumerate(outputs)]
        else:
            named = [(layer.name, outputs)]
        for lid, tensor in named:
            infos.append(
                LayerInfo(
                    id=lid,
                    class_name=type(layer).__name__,
                    output_shape=_shape(tensor),
                    params=int(layer.count_params()),
                    strategy="graph",
                    tensor=tensor,
                )
            )
    return infos


def unknown_layer_error(layer: object, available: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(str(layer), available, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown layer {layer!r}.{hint} Available layers: {', '.join(available)}. "
        "Pass one of these ids (see `viewer.layers`)."
    )


def check_probe(model: keras.Model, probe: Any) -> np.ndarray:
    """Validate a probe batch against the model's input; returns it as a NumPy array."""
    expected = _shape(model.inputs[0])
    try:
        x = np.asarray(probe)
    except Exception as exc:  # noqa: BLE001 - report any conversion failure the same way
        raise TypeError(
            f"The probe must be a NumPy array (or convertible to one), got {type(probe).__name__}."
        ) from exc
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(
            f"The probe is empty (shape {x.shape}). Pass a small batch of inputs, "
            "e.g. `probe=x_val[:16]`."
        )
    ok = x.ndim == len(expected) and all(
        e is None or e == g for e, g in zip(expected[1:], x.shape[1:], strict=True)
    )
    if not ok:
        raise ValueError(
            f"The probe has shape {x.shape}, but the model {model.name!r} expects inputs of "
            f"shape {expected} (batch first). Pass a batch shaped like your training inputs, "
            "e.g. `probe=x_val[:16]`."
        )
    return x


class Extractor:
    """Evaluates the watched outputs of a model on a probe in one forward pass.

    Args:
        model: A built Keras 3 model.
        layers: Ids to watch, from `catalog(model)`. Defaults to every layer.
    """

    def __init__(self, model: keras.Model, layers: Sequence[str] | None = None) -> None:
        self.model = model
        self.catalog = catalog(model)
        by_id = {info.id: info for info in self.catalog}
        ids = list(by_id) if layers is None else list(layers)
        for lid in ids:
            if lid not in by_id:
                raise unknown_layer_error(lid, list(by_id))
        self.layers = [by_id[lid] for lid in ids]
        graph = [info for info in self.layers if info.strategy == "graph"]
        self._graph_ids = [info.id for info in graph]
        self._graph_model = (
            keras.Model(model.inputs, [info.tensor for info in graph], name="kerasviz_extractor")
            if graph
            else None
        )

    @property
    def ids(self) -> list[str]:
        return [info.id for info in self.layers]

    def __call__(self, probe: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs of every watched layer on `probe`, as NumPy arrays, in `self.ids` order."""
        out: dict[str, np.ndarray] = {}
        if self._graph_model is not None:
            values = self._graph_model.predict_on_batch(probe)
            if not isinstance(values, (list, tuple)):
                values = [values]
            out.update(zip(self._graph_ids, (np.asarray(v) for v in values), strict=True))
        return {lid: (np.asarray(probe) if lid == INPUT_ID else out[lid]) for lid in self.ids}


def _resolve_layer(model: keras.Model, layer: Any) -> Any:
    """A tensor of `model` for a name, index, `Layer` or `KerasTensor`."""
    if isinstance(layer, keras.KerasTensor):
        return layer
    if isinstance(layer, int) and not isinstance(layer, bool):
        layer = model.layers[layer]
    if isinstance(layer, str):
        names = [info.id for info in catalog(model)]
        try:
            layer = model.get_layer(layer)
        except ValueError:
            raise unknown_layer_error(layer, names) from None
    if isinstance(layer, keras.layers.Layer):
        return layer.output
    raise TypeError(
        "`layer` must be a layer name, an index into `model.layers`, a `keras.layers.Layer` or "
        f"a symbolic `KerasTensor` such as `layer.output`; received {type(layer).__name__}."
    )


def layer_output(model: keras.Model, layer: Any, x: Any) -> np.ndarray:
    """Evaluate one layer output (or any symbolic tensor of the model) on `x`, as NumPy.

    This is the answer to "how do I turn a `KerasTensor` into a NumPy array?": a `KerasTensor` is
    symbolic and holds no values, so it must be evaluated on inputs.

    Args:
        model: A built Keras 3 model.
        layer: A layer name, an index into `model.layers`, a `keras.layers.Layer`, or a symbolic
            `KerasTensor` of this model (`layer.output`, `layer.input`).
        x: A batch of model inputs.

    Returns:
        The output as a NumPy array.

    Example:

    >>> layer_output(model, model.layers[2].output, x[:4]).shape
    (4, 10)
    """
    _check_built(model)
    tensor = _resolve_layer(model, layer)
    x = check_probe(model, x)
    sub = keras.Model(model.inputs, tensor)
    return np.asarray(sub(x, training=False))
