"""The layer catalog and the cached extractor.

One extractor serves all watched layers in one forward pass. It is built once and reused for every
snapshot; it is rebuilt only when the watched set or the model's structure changes.

Strategies, chosen per layer and shown in the catalog:

- `input`: the probe itself, shown as the layer `input` (`input:NAME` for a model with several
  inputs). A layer keeps its name as its id: if a layer is named `input`, the probe's id moves to
  `input:probe` (`input:NAME:probe` likewise).
- `graph`: the output of a node of the model's own graph (Sequential and Functional models,
  including Sequential models built without an `Input`). All graph outputs come from one
  multi-output `keras.Model(model.inputs, outputs)`, built once and called compiled in inference
  mode (`training=False`): a `tf.function` on TensorFlow, a `jax.jit` stateless call (the variable
  values are arguments, so training never leaves it stale) on JAX, eagerly without gradients on
  PyTorch.
- `capture`: an output that the top-level graph cannot reach: the layers of a subclassed model, the
  inner layers of a model used as a layer (`encoder/conv2d`), and the sublayers of a custom layer
  (`transformer_block/att`). They are recorded while one
  ordinary `model(x, training=False)` call is *traced*; the call hooks exist only during that trace
  and are removed even when it raises, so the model is left exactly as it was and `fit` computes
  exactly what it would without a viewer.

When both kinds are watched, one traced function runs the graph model once and records the capture
outputs inside that same pass. The traced function is compiled once per probe signature and reused,
so snapshots never add traced functions or memory. On TensorFlow the batch size is free; XLA on JAX
compiles one program per probe shape (a viewer's probe has one).

The catalog of a subclassed or nested model is found by one symbolic call of the model (Keras'
own shape inference on the current backend), so listing layers computes no values.

Ids:

- a layer called once: its name, `dense`;
- a layer called several times (a shared layer): one id per call, in execution order: `dense`,
  `dense@1`, `dense@2`;
- a layer with several outputs (`return_state=True`, a tuple output): `lstm:0`, `lstm:1`;
  combined with repeated calls: `dense@1:0`;
- a layer inside a model used as a layer, or inside a custom layer (one written outside Keras,
  e.g. a `TransformerBlock` and its attention `att`): `encoder/conv2d`,
  `transformer_block/att` (per call of the container: `encoder@1/conv2d`). Keras' own layers
  are recorded whole (the inside of a `MultiHeadAttention` is not listed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from .display import display_tensor, value_ranges
from .health import activation_bounds
from .reduce import Bounds

INPUT_ID = "input"
"""Id of the probe input in the catalog (`input:NAME` for each input of a multi-input model)."""

PROBE_SUFFIX = "probe"
"""Appended to a probe input's id that a layer's own id already takes: `input:probe`."""

STRATEGY_INPUT = "input"
STRATEGY_GRAPH = "graph"
STRATEGY_CAPTURE = "capture"

_MISSING = object()


@dataclass
class LayerInfo:
    """One watchable output of a model: a layer output, or a probe input.

    Attributes:
        id: Catalog id, e.g. `"conv2d"`, `"encoder/conv2d"`, `"lstm:1"`, `"dense@1"`.
        class_name: Class of the layer (`"Input"` for probe inputs).
        output_shape: Output shape, batch first; `None` for unknown dimensions.
        params: Parameter count of the layer (for a nested model: all its parameters).
        strategy: `"input"`, `"graph"` or `"capture"`.
        tensor: For `graph` outputs, the symbolic `KerasTensor` of the model graph.
        bounds: `(lo, hi)`, the output range of the layer's bounded activation (`(None, hi)` for
            the ReLU family, which saturates at the upper bound only), or `None`; set
            from the layer by `health.activation_bounds`.
    """

    id: str
    class_name: str
    output_shape: tuple[int | None, ...]
    params: int
    strategy: str
    tensor: Any = field(default=None, repr=False, compare=False)
    dtype: str = field(default="float32", repr=False, compare=False)
    layer: Any = field(default=None, repr=False, compare=False)
    call_id: str = field(default="", repr=False, compare=False)
    output_index: int | None = field(default=None, repr=False, compare=False)
    input_index: int | None = field(default=None, repr=False, compare=False)
    bounds: Bounds | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.bounds is None:
            self.bounds = activation_bounds(self.layer, self.output_index)

    def to_json(self) -> dict[str, Any]:
        """The catalog entry as the front-end receives it."""
        return {
            "id": self.id,
            "class_name": self.class_name,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "strategy": self.strategy,
            "bounds": None if self.bounds is None else list(self.bounds),
        }


# ----------------------------------------------------------------------------- model structure


def _functional_of(model: Any) -> Any:
    """The `Functional` graph behind a Sequential or Functional model, or `None` (subclassed)."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def _is_input_layer(op: Any) -> bool:
    return isinstance(op, keras.layers.InputLayer)


def _children(model: Any) -> list[Any]:
    """Direct sublayers of a model, in its own order, without `InputLayer`s."""
    return [layer for layer in model.layers if not _is_input_layer(layer)]


def _is_custom(layer: Any) -> bool:
    """A layer written outside Keras itself (a user's `TransformerBlock`, a keras-hub block)."""
    return not type(layer).__module__.startswith("keras.")


def _sublayers(layer: Any) -> list[Any]:
    """The layers whose calls are recorded inside `layer`: a model's layers, and the tracked
    sublayers of a custom layer (Keras' own layers are recorded whole)."""
    if isinstance(layer, keras.Model):
        return _children(layer)
    if _is_custom(layer):
        return [sub for sub in getattr(layer, "_layers", []) if isinstance(sub, keras.layers.Layer)]
    return []


def _tree(model: Any) -> list[Any]:
    """Every layer whose calls are recorded: the model's sublayers, recursing into nested models
    and into custom layers (`transformer_block/att`)."""
    seen: dict[int, Any] = {}

    def walk(layers: list[Any]) -> None:
        for layer in layers:
            if id(layer) in seen:
                continue
            seen[id(layer)] = layer
            walk(_sublayers(layer))

    walk(_children(model))
    return list(seen.values())


def _structure_key(model: Any) -> tuple[Any, ...]:
    """Changes when the model's structure changes (layers added, removed, rebuilt)."""
    fn = _functional_of(model)
    return (
        bool(model.built),
        id(fn),
        tuple((id(layer), bool(layer.built)) for layer in _tree(model)),
    )


def _node_order(fn: Any) -> list[Any]:
    """Nodes of a functional graph in the order `Functional.call` executes them."""
    order = []
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        for node in fn._nodes_by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            order.append(node)
    return order


def _params(op: Any) -> int:
    if isinstance(op, keras.layers.Layer) and op.built:
        try:
            return int(op.count_params())
        except Exception:  # noqa: BLE001 - a parameter count is informative only
            return 0
    return 0


def _shape(tensor: Any) -> tuple[int | None, ...]:
    # A dimension that is not a number (None, or a symbolic size while tracing) is unknown.
    return tuple(int(d) if isinstance(d, (int, np.integer)) else None for d in tensor.shape)


def _dtype_name(tensor: Any) -> str:
    dtype = getattr(tensor, "dtype", "float32")
    return str(getattr(dtype, "name", dtype))


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Expected a `keras.Model`, but received an object of type {type(model).__name__}. "
            "Pass the Keras model whose layers you want to see."
        )
    if not model.built:
        raise ValueError(
            f"The model {model.name!r} is not built, so its layers have no outputs yet. Build it "
            "first: give it an input (`keras.Sequential([keras.Input(shape=...), ...])`), call it "
            "once on a batch (`model(x[:1])`), or call `model.build((None, *input_shape))`."
        )


# ----------------------------------------------------------------------------- inputs and probe


@dataclass
class _InputSpec:
    """The structure of the model inputs: names (flat order), shapes and dtypes."""

    names: list[str]
    shapes: list[tuple[int | None, ...]]
    dtypes: list[str]
    kind: str  # "single", "list" or "dict"

    @property
    def ids(self) -> list[str]:
        if len(self.names) == 1:
            return [INPUT_ID]
        return [f"{INPUT_ID}:{name}" for name in self.names]

    def pack(self, flat: Sequence[Any]) -> Any:
        """The structure the model's `call` expects, from the flat list of inputs."""
        if self.kind == "single":
            return flat[0]
        if self.kind == "dict":
            return dict(zip(self.names, flat, strict=True))
        return list(flat)

    def pack_runner(self, flat: Sequence[Any]) -> Any:
        """Inputs for the extractor's multi-output model, built on the list `model.inputs`."""
        return list(flat)


def _model_input_spec(model: Any) -> _InputSpec | None:
    """The input structure of a model, or `None` when the model does not record it."""
    fn = _functional_of(model)
    if fn is not None:
        struct = fn._inputs_struct
        tensors = list(fn.inputs)
        if isinstance(struct, dict):
            names = sorted(struct)  # `keras.tree.flatten` orders dict keys
            kind = "dict"
        else:
            names = [t.name for t in tensors]
            # `keras.Model([inp], out)` expects a list even of one input.
            kind = "list" if isinstance(struct, (list, tuple)) else "single"
        return _InputSpec(
            names=names,
            shapes=[_shape(t) for t in tensors],
            dtypes=[_dtype_name(t) for t in tensors],
            kind=kind,
        )
    shapes = getattr(model, "_build_shapes_dict", None)
    if shapes and len(shapes) == 1:
        shape = next(iter(shapes.values()))
        if isinstance(shape, (list, tuple)) and all(d is None or isinstance(d, int) for d in shape):
            return _InputSpec(
                names=["input"],
                shapes=[(None, *shape[1:])],
                dtypes=[keras.backend.floatx()],
                kind="single",
            )
    return None


def _probe_spec(probe: Any) -> _InputSpec:
    """An input structure that follows the probe itself (for subclassed models)."""
    if isinstance(probe, dict):
        names = sorted(str(k) for k in probe)
        arrays = [np.asarray(probe[k]) for k in sorted(probe)]
        kind = "dict"
    elif isinstance(probe, (list, tuple)) and not _is_array_like_batch(probe):
        arrays = [np.asarray(p) for p in probe]
        names = [str(i) for i in range(len(arrays))]
        kind = "list" if len(arrays) > 1 else "single"
    else:
        arrays = [np.asarray(probe)]
        names = ["input"]
        kind = "single"
    dtypes = []
    for a in arrays:
        if a.dtype.kind == "f":
            dtypes.append(keras.backend.floatx())
        else:
            dtypes.append(a.dtype.name)
    return _InputSpec(
        names=names, shapes=[(None, *a.shape[1:]) for a in arrays], dtypes=dtypes, kind=kind
    )


def _is_array_like_batch(probe: Sequence[Any]) -> bool:
    """A list of numbers (one batch) rather than a list of input arrays."""
    return len(probe) > 0 and all(np.ndim(p) == 0 for p in probe)


def _flat_probe(spec: _InputSpec, probe: Any, model_name: str) -> list[Any]:
    """The probe as a flat list in `spec.names` order, or a clear error."""
    n = len(spec.names)
    example = "{" + ", ".join(f"{name!r}: x_{name}[:16]" for name in spec.names) + "}"
    if isinstance(probe, dict):
        if n == 1 and len(probe) == 1:
            return [next(iter(probe.values()))]
        missing = [name for name in spec.names if name not in probe]
        extra = [str(k) for k in probe if k not in spec.names]
        if missing or extra:
            raise ValueError(
                f"The probe is a dict with keys {sorted(map(str, probe))}, but the model "
                f"{model_name!r} has the inputs {spec.names}. Missing: {missing}; unexpected: "
                f"{extra}. Pass a dict with exactly these keys, e.g. `probe={example}`."
            )
        return [probe[name] for name in spec.names]
    if isinstance(probe, (list, tuple)) and not _is_array_like_batch(probe):
        if n == 1 and len(probe) == 1:
            return [probe[0]]
        if n > 1:
            if len(probe) != n:
                raise ValueError(
                    f"The probe is a {type(probe).__name__} of {len(probe)} arrays, but the model "
                    f"{model_name!r} has {n} inputs: {spec.names}. Pass one array per input, in "
                    f"this order, or a dict, e.g. `probe={example}`."
                )
            return list(probe)
        return [probe]
    if n > 1:
        raise ValueError(
            f"The probe is a single array, but the model {model_name!r} has {n} inputs: "
            f"{spec.names}. Pass a dict with one batch per input, e.g. `probe={example}`."
        )
    return [probe]


def _validate_array(
    value: Any, name: str, shape: tuple[int | None, ...], dtype: str, model_name: str
) -> np.ndarray:
    label = "The probe" if name == INPUT_ID else f"The probe input {name!r}"
    try:
        x = _as_numpy(value)
    except Exception as exc:  # noqa: BLE001 - report any conversion failure the same way
        raise TypeError(
            f"{label} must be a NumPy array (or convertible to one), got "
            f"{type(value).__name__}. Pass a batch of inputs, e.g. `probe=x_val[:16]`."
        ) from exc
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(
            f"{label} is empty (shape {x.shape}). Pass a small batch of inputs, "
            "e.g. `probe=x_val[:16]`."
        )
    ok = x.ndim == len(shape) and all(
        e is None or e == g for e, g in zip(shape[1:], x.shape[1:], strict=True)
    )
    if not ok:
        raise ValueError(
            f"{label} has shape {x.shape}, but the model {model_name!r} expects shape {shape} "
            "(batch first; None is free). Pass a batch shaped like your training inputs, "
            "e.g. `probe=x_val[:16]`."
        )
    want = np.dtype(dtype) if dtype != "bfloat16" else np.dtype("float32")
    kind = _number_kind(x.dtype)
    if want.kind in "iu" and kind not in "iu":
        raise ValueError(
            f"{label} has dtype {x.dtype}, but the model {model_name!r} expects integer inputs "
            f"({dtype}), e.g. token ids for an `Embedding`. Pass integers, e.g. "
            "`probe=x_val[:16].astype('int32')`."
        )
    if want.kind in "fc" and kind not in "fiub":
        raise ValueError(
            f"{label} has dtype {x.dtype}, but the model {model_name!r} expects numbers "
            f"({dtype}). Pass a numeric array, e.g. `probe=x_val[:16].astype('float32')`."
        )
    if want.kind == "b" and kind != "b":
        raise ValueError(
            f"{label} has dtype {x.dtype}, but the model {model_name!r} expects booleans. "
            "Pass a boolean array."
        )
    return np.ascontiguousarray(x, dtype=want)


def _as_numpy(value: Any) -> np.ndarray:
    """`value` as a NumPy array; a backend tensor NumPy cannot take itself (a PyTorch bfloat16
    tensor) through Keras."""
    try:
        return np.asarray(value)
    except TypeError:
        if not keras.ops.is_tensor(value):
            raise
        return keras.ops.convert_to_numpy(value)


def _number_kind(dtype: np.dtype) -> str:
    """NumPy's kind of `dtype`, with `f` for the floats NumPy has no kind for (`bfloat16` and the
    float8 types of `ml_dtypes`, which JAX and Keras use; kind `V`)."""
    if dtype.kind == "V":
        with contextlib.suppress(ValueError):  # a structured or raw void dtype: not a number
            if keras.backend.is_float_dtype(dtype):
                return "f"
    return dtype.kind


def check_batch_type(value: Any, what: str = "The probe") -> None:
    """Refuse what is not a batch of inputs (`None`, a generator, a `tf.data.Dataset`, a Keras
    `PyDataset`) with a `TypeError` saying how to take one batch out of it.

    Args:
        value: The probe, or `x` of `layer_output`.
        what: How the messages name it. Defaults to `"The probe"`.
    """
    kind = None
    if value is None:
        kind = "None"
    elif isinstance(value, dict):
        for v in value.values():
            check_batch_type(v, what)
        return
    elif type(value).__name__.endswith("Dataset") or hasattr(value, "element_spec"):
        kind = f"a dataset ({type(value).__name__}, e.g. a tf.data Dataset)"
    elif hasattr(value, "__next__") or type(value).__name__ == "generator":
        kind = f"an iterator ({type(value).__name__}, e.g. a generator)"
    if kind is not None:
        raise TypeError(
            f"{what} must be a batch of inputs, but received {kind}. Pass a NumPy array or a "
            "tensor batch, e.g. `next(iter(ds))[0]` for the first batch of a dataset `ds`, or "
            "`x_val[:16]`."
        )


def _resolve_spec(model: Any, probe: Any = None) -> _InputSpec:
    spec = _model_input_spec(model)
    if spec is None:
        if probe is None:
            raise ValueError(
                f"The model {model.name!r} is a subclassed model that does not record its input "
                "shape, so the catalog needs an example batch. Pass a probe (e.g. "
                "`Extractor(model, probe=x_val[:16])`), or build the model with "
                "`model.build((None, *input_shape))`."
            )
        spec = _probe_spec(probe)
    return spec


def _normalize(model: Any, spec: _InputSpec, probe: Any) -> list[np.ndarray]:
    flat = _flat_probe(spec, probe, model.name)
    arrays = []
    for value, name, shape, dtype in zip(flat, spec.names, spec.shapes, spec.dtypes, strict=True):
        label = INPUT_ID if len(spec.names) == 1 else name
        arrays.append(_validate_array(value, label, shape, dtype, model.name))
    sizes = {a.shape[0] for a in arrays}
    if len(sizes) > 1:
        raise ValueError(
            f"The probe inputs have different batch sizes {[a.shape[0] for a in arrays]}. Pass "
            "the same number of samples for every input."
        )
    return arrays


def check_probe(
    model: Any,
    probe: Any,
    *,
    budget_bytes: float | None = None,
    layers: Sequence[str] | None = None,
) -> Any:
    """Validate a probe batch against the model's inputs.

    Args:
        model: A built Keras 3 model.
        probe: A batch of model inputs: a NumPy array, or for a model with several inputs a dict
            `{input_name: array}` (or a list in `model.inputs` order).
        budget_bytes: If given, also check that the outputs of the watched layers on this probe
            fit in this many bytes. Defaults to `None` (no check).
        layers: The watched layer ids, for the budget check. Defaults to `None` (every layer).

    Returns:
        The probe in the form `Extractor.__call__` accepts: a NumPy array cast to the model's
        input dtype, or a dict `{input_name: array}` for a model with several inputs.

    Raises:
        ValueError: If the probe is empty, has the wrong shape, dtype or structure, or its outputs
            would exceed `budget_bytes`.
        TypeError: If the probe is not array-like.

    Example:

    >>> probe = check_probe(model, x_val[:16])
    """
    _check_model(model)
    check_batch_type(probe)
    spec = _resolve_spec(model, probe)
    # A copy: the probe the caller keeps may change, the recorded one never does.
    arrays = [np.array(a, copy=True) for a in _normalize(model, spec, probe)]
    if budget_bytes is not None:
        infos = catalog(model, probe=probe)
        by_id = {info.id: info for info in infos}
        ids = list(by_id) if layers is None else list(layers)
        for lid in ids:
            if lid not in by_id:
                raise unknown_layer_error(lid, list(by_id))
        _check_budget([by_id[i] for i in ids], arrays, budget_bytes)
    if len(arrays) == 1:
        return arrays[0]
    return dict(zip(spec.names, arrays, strict=True))


def probe_info(probe: Any) -> dict[str, Any]:
    """What the catalog message reports about a probe: its size and input shapes.

    Args:
        probe: A probe as returned by `check_probe` (an array, a dict or a list of arrays).

    Returns:
        `{"n": samples, "input_shapes": [[...], ...]}`.
    """
    if isinstance(probe, dict):
        arrays = [np.asarray(probe[k]) for k in probe]
    elif isinstance(probe, (list, tuple)) and not _is_array_like_batch(probe):
        arrays = [np.asarray(p) for p in probe]
    else:
        arrays = [np.asarray(probe)]
    return {
        "n": int(arrays[0].shape[0]) if arrays and arrays[0].ndim else 0,
        "input_shapes": [list(a.shape) for a in arrays],
    }


def _bytes_per_sample(info: LayerInfo, arrays: Sequence[np.ndarray]) -> int:
    shape = list(info.output_shape[1:])
    if info.input_index is not None:
        shape = list(arrays[info.input_index].shape[1:])
    if any(d is None for d in shape):
        # Unknown dims (variable-length inputs): assume the largest probe dimension.
        longest = max((max(a.shape[1:], default=1) for a in arrays), default=1)
        shape = [longest if d is None else d for d in shape]
    try:
        itemsize = np.dtype(info.dtype).itemsize
    except TypeError:
        itemsize = 4
    return int(math.prod(shape)) * itemsize


def _check_budget(
    infos: Sequence[LayerInfo], arrays: Sequence[np.ndarray], budget_bytes: float
) -> None:
    n = int(arrays[0].shape[0])
    per_sample = sum(_bytes_per_sample(info, arrays) for info in infos)
    total = per_sample * n
    if total <= budget_bytes:
        return
    fits = int(budget_bytes // per_sample) if per_sample else n
    top = sorted(infos, key=lambda i: -_bytes_per_sample(i, arrays))[:3]
    largest = ", ".join(f"{i.id!r} {_bytes_per_sample(i, arrays) * n / 2**20:.1f} MB" for i in top)
    if fits >= 1:
        advice = (
            f"Use a smaller probe (at most {fits} samples fit, e.g. `probe=x_val[:{fits}]`), "
            "watch fewer layers with `layers=[...]`, or raise the budget (`budget_mb`)."
        )
    else:
        advice = (
            "Not even one sample fits: watch fewer layers with `layers=[...]`, or raise the "
            "budget (`budget_mb`)."
        )
    raise ValueError(
        f"The outputs of the {len(infos)} watched layers on this probe of {n} samples would take "
        f"{total / 2**20:.1f} MB, more than the memory budget of {budget_bytes / 2**20:.1f} MB. "
        f"Largest: {largest}. {advice}"
    )


# ----------------------------------------------------------------------------- call recording


class _Recorder:
    """Records the outputs of layer calls while a function is traced.

    Installs an instance-level `call` wrapper on each layer on entry and removes it on exit, also
    when the body raises. Ids follow the dynamic call tree: `parent/name@k`.
    """

    def __init__(self, layers: Sequence[Any]) -> None:
        self._layers = list(layers)
        self._saved: list[tuple[Any, Any]] = []
        self._stack: list[str] = []
        self._counts: dict[tuple[str, int], int] = {}
        self.calls: OrderedDict[str, tuple[Any, str, Any]] = OrderedDict()

    def __enter__(self) -> _Recorder:
        try:
            for layer in self._layers:
                saved = layer.__dict__.get("call", _MISSING)
                original = layer.call
                self._saved.append((layer, saved))
                object.__setattr__(layer, "call", self._wrap(layer, original))
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._restore()

    def _restore(self) -> None:
        while self._saved:
            layer, saved = self._saved.pop()
            if saved is _MISSING:
                layer.__dict__.pop("call", None)
            else:
                object.__setattr__(layer, "call", saved)

    def _wrap(self, layer: Any, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            parent = self._stack[-1] if self._stack else ""
            key = (parent, id(layer))
            k = self._counts.get(key, 0)
            self._counts[key] = k + 1
            base = layer.name if k == 0 else f"{layer.name}@{k}"
            cid = f"{parent}/{base}" if parent else base
            self.calls[cid] = (layer, parent, None)  # reserve the slot: containers first
            self._stack.append(cid)
            try:
                outputs = original(*args, **kwargs)
            finally:
                self._stack.pop()
            self.calls[cid] = (layer, parent, outputs)
            return outputs

        return call


def _flatten(outputs: Any) -> list[Any]:
    return [t for t in keras.tree.flatten(outputs) if t is not None]


def _output_ids(call_id: str, outputs: list[Any]) -> list[tuple[str, int | None]]:
    if len(outputs) == 1:
        return [(call_id, None)]
    return [(f"{call_id}:{i}", i) for i in range(len(outputs))]


def _backend() -> str:
    return keras.backend.backend()


@functools.cache
def computes_on_host() -> bool:
    """Whether the Keras backend computes on the host's CPU: no GPU, TPU or other accelerator in
    use. Decided once per process, as each backend picks its devices when it starts: JAX by its
    default backend, TensorFlow by its logical devices, PyTorch by where Keras puts a new tensor
    (`KERAS_TORCH_DEVICE`, else CUDA or MPS where there is one)."""
    backend = _backend()
    if backend == "jax":
        import jax

        return jax.default_backend() == "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return all(d.device_type == "CPU" for d in tf.config.list_logical_devices())
    if backend == "torch":
        return keras.ops.convert_to_tensor(0.0).device.type == "cpu"
    return True  # pragma: no cover - NumPy backend


def _symbolic_inputs(
    spec: _InputSpec, arrays: Sequence[np.ndarray] | None, *, batch: bool = False
) -> list[Any]:
    """One `KerasTensor` per model input, batch free (and shaped like `arrays` when given; with
    `batch`, also of their batch size)."""
    tensors = []
    for i, (shape, dtype) in enumerate(zip(spec.shapes, spec.dtypes, strict=True)):
        if arrays is not None:
            shape, dtype = arrays[i].shape, arrays[i].dtype.name
        first = shape[0] if batch and arrays is not None else None
        tensors.append(keras.KerasTensor((first, *shape[1:]), dtype=dtype))
    return tensors


def _trace_calls(
    model: Any, spec: _InputSpec, arrays: Sequence[np.ndarray] | None
) -> OrderedDict[str, tuple[Any, str, list[tuple[int | None, ...]], list[str]]]:
    """Trace one `model(x, training=False)` call symbolically; record each layer call.

    The call runs under Keras' own shape inference for the current backend (a scratch graph on
    TensorFlow, `jax.eval_shape` with a symbolic batch on JAX, the `meta` device on PyTorch), so
    no values are computed and the batch size stays unknown.

    Returns `{call_id: (layer, parent_id, output_shapes, output_dtypes)}` in execution order.
    """
    from keras.src.backend import compute_output_spec

    tree_layers = _tree(model)
    calls: OrderedDict[str, tuple[Any, str, int]] = OrderedDict()

    def run(*xs: Any) -> list[Any]:
        # PyTorch's shape inference may run this twice (two fills of the unknown sizes).
        calls.clear()
        flat_outputs: list[Any] = []
        with _Recorder(tree_layers) as rec:
            model(spec.pack(list(xs)), training=False)
        for cid, (layer, parent, outputs) in rec.calls.items():
            flat = _flatten(outputs)
            calls[cid] = (layer, parent, len(flat))
            flat_outputs.extend(flat)
        return flat_outputs

    specs = compute_output_spec(run, *_symbolic_inputs(spec, arrays))
    found: OrderedDict[str, tuple[Any, str, list[tuple[int | None, ...]], list[str]]] = (
        OrderedDict()
    )
    start = 0
    for cid, (layer, parent, n) in calls.items():
        outs = specs[start : start + n]
        start += n
        found[cid] = (layer, parent, [_shape(t) for t in outs], [_dtype_name(t) for t in outs])
    return found


# ----------------------------------------------------------------------------- catalog


def catalog(model: Any, probe: Any = None) -> list[LayerInfo]:
    """Every watchable output of `model`, in execution order, starting with the probe inputs.

    Sequential and Functional models are listed from their graph (no evaluation). Subclassed
    models, and the inside of models used as layers, are listed by tracing one symbolic call of
    the model (no values are computed).

    Args:
        model: A built Keras 3 model.
        probe: An example batch; needed only for a subclassed model that does not record its
            input shape. Defaults to `None`.

    Returns:
        A list of `LayerInfo`, ids unique; see the module docstring for the id scheme.

    Raises:
        ValueError: If the model is not built, or is subclassed with no known input and no probe.
    """
    _check_model(model)
    spec = _resolve_spec(model, probe)
    arrays = None
    if _model_input_spec(model) is None and probe is not None:
        arrays = _normalize(model, spec, probe)
    infos = [
        LayerInfo(
            id=iid,
            class_name="Input",
            output_shape=shape,
            params=0,
            strategy=STRATEGY_INPUT,
            dtype=dtype,
            input_index=i,
        )
        for i, (iid, shape, dtype) in enumerate(
            zip(spec.ids, spec.shapes, spec.dtypes, strict=True)
        )
    ]
    fn = _functional_of(model)
    graph: list[LayerInfo] = []
    if fn is not None:
        counts: dict[int, int] = {}
        for node in _node_order(fn):
            op = node.operation
            k = counts.get(id(op), 0)
            counts[id(op)] = k + 1
            call_id = op.name if k == 0 else f"{op.name}@{k}"
            outputs = list(node.outputs)
            for lid, index in _output_ids(call_id, outputs):
                tensor = outputs[0 if index is None else index]
                graph.append(
                    LayerInfo(
                        id=lid,
                        class_name=type(op).__name__,
                        output_shape=_shape(tensor),
                        params=_params(op),
                        strategy=STRATEGY_GRAPH,
                        tensor=tensor,
                        dtype=_dtype_name(tensor),
                        layer=op,
                        call_id=call_id,
                        output_index=index,
                    )
                )
        if not any(_sublayers(info.layer) for info in graph):
            return _probe_ids_apart(infos + graph)
    calls = _trace_calls(model, spec, arrays)
    captured: dict[str, list[LayerInfo]] = {}
    for cid, (layer, parent, shapes, dtypes) in calls.items():
        if fn is not None and not parent:
            continue  # a node of the top-level graph, listed from the graph
        top = cid.split("/", 1)[0]
        for lid, index in _output_ids(cid, list(range(len(shapes)))):
            j = 0 if index is None else index
            captured.setdefault(top, []).append(
                LayerInfo(
                    id=lid,
                    class_name=type(layer).__name__,
                    output_shape=shapes[j],
                    params=_params(layer),
                    strategy=STRATEGY_CAPTURE,
                    dtype=dtypes[j],
                    layer=layer,
                    call_id=cid,
                    output_index=index,
                )
            )
    if fn is None:
        return _probe_ids_apart(infos + [info for group in captured.values() for info in group])
    # The inside of a nested model follows that model's own entry.
    for info in graph:
        infos.append(info)
        if info.output_index in (None, 0):
            infos.extend(captured.pop(info.call_id, []))
    return _probe_ids_apart(infos)


def _probe_ids_apart(infos: list[LayerInfo]) -> list[LayerInfo]:
    """A layer keeps its name as its id; a probe input whose id a layer already has (a layer
    named `input`) moves to `input:probe` (`input:a:probe` for an input `a`)."""
    taken = {info.id for info in infos if info.strategy != STRATEGY_INPUT}
    for info in infos:
        if info.strategy == STRATEGY_INPUT:
            while info.id in taken:
                info.id = f"{info.id}:{PROBE_SUFFIX}"
            taken.add(info.id)
    return infos


def unknown_layer_error(layer: object, available: Sequence[str]) -> ValueError:
    """The error for a layer id that is not in the catalog, with the closest ids suggested."""
    close = difflib.get_close_matches(str(layer), list(available), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown layer {layer!r}.{hint} Available layers: {', '.join(available)}. "
        "Pass one of these ids (see `viewer.layers`)."
    )


# ----------------------------------------------------------------------------- compiling


class _Compiled:
    """One extraction function, compiled for the current backend; `traces` counts its traces.

    `start` begins a call with the weights of this moment and returns a function that gives its
    results; it calls at once unless the backend gave a `start` that defers the work.
    """

    def __init__(
        self,
        call: Callable[..., list[Any]],
        traces: Callable[[], int],
        run: Callable[..., Any],
        start: Callable[..., Callable[[], list[Any]]] | None = None,
    ) -> None:
        self._call = call
        self._traces = traces
        self._start = start
        self.run = run  # the function before compilation, for shape inference

    @property
    def traces(self) -> int:
        return self._traces()

    def __call__(self, *arrays: np.ndarray) -> list[Any]:
        return self._call(*arrays)

    def start(self, *arrays: np.ndarray, defer: bool = True) -> Callable[[], list[Any]]:
        """Begin a call on `arrays` with the weights of this moment; the function returned gives
        its results (computing them there, with `defer`, where the backend defers the work)."""
        if defer and self._start is not None:
            return self._start(*arrays)
        values = self._call(*arrays)
        return lambda: values


def _compile(
    run: Callable[..., list[Any]],
    model: Any,
    spec: _InputSpec,
    arrays: Sequence[np.ndarray],
    *,
    batch: bool = False,
) -> _Compiled:
    """`run` compiled for the current backend, in inference mode, reading the current weights.

    - TensorFlow: a `tf.function` with a batch-free input signature (with `batch`, of the batch
      size of `arrays`: the display arrays' pooling depends on it), traced now (with the capture
      hooks) and never again.
    - JAX: a `jax.jit` of a stateless call: the model's variable values are arguments of the
      compiled function (as in Keras' own `predict`), so it always reads the current weights,
      also under a `keras.distribution` layout. During `fit` the trainer holds the weights;
      they are synced back to the model first.
    - PyTorch (and any other backend): eager, without gradient tracking.
    """
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        signature = [
            tf.TensorSpec(t.shape, dtype=t.dtype)
            for t in _symbolic_inputs(spec, arrays, batch=batch)
        ]
        function = tf.function(run, input_signature=signature, autograph=False)
        function.get_concrete_function()  # trace now, with the hooks, once
        return _Compiled(function, function.experimental_get_tracing_count, run)
    if backend == "jax":
        import jax

        variables = list(model.variables)
        count = [0]

        def stateless(values: list[Any], *xs: Any) -> list[Any]:
            count[0] += 1  # runs only while tracing
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return run(*xs)

        jitted = jax.jit(stateless)
        held = jax.jit(lambda values: [jax.numpy.copy(v) for v in values])

        def call_jax(*xs: np.ndarray) -> list[Any]:
            sync_trainer_state(model)
            return jitted([v.value for v in variables], *_distribute(xs))

        def start_jax(*xs: np.ndarray) -> Callable[[], list[Any]]:
            # A CPU runs the call on the calling thread: copy the weights (the trainer donates
            # their buffers to its next step) and run it where the results are fetched.
            sync_trainer_state(model)
            weights = held([v.value for v in variables])
            placed = _distribute(xs)
            return lambda: jitted(weights, *placed)

        # An accelerator only dispatches the call (the device computes meanwhile): call at once.
        start = start_jax if computes_on_host() else None
        return _Compiled(call_jax, lambda: count[0], run, start)
    if backend == "torch":
        import torch

        def call_torch(*xs: np.ndarray) -> list[Any]:
            with torch.no_grad():
                return run(*[keras.ops.convert_to_tensor(x) for x in xs])

        return _Compiled(call_torch, lambda: 1, run)
    return _Compiled(run, lambda: 1, run)  # pragma: no cover - NumPy backend: plain calls


def sync_trainer_state(model: Any) -> None:
    """Inside `fit` on JAX the trainer holds the model's state (weights, metrics); copy it back
    into the model's variables before reading them (Keras' `jax_state_sync`). Nothing to do on
    the other backends, or outside `fit`."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def _to_numpy(value: Any, *, copy: bool = True) -> np.ndarray:
    """A backend tensor as a NumPy array on the host.

    With `copy=False`, a tensor already in host memory is viewed in place, read-only (on
    TensorFlow and JAX; a copy of MobileNetV2's 246 MB of outputs costs more than its forward
    pass): the recording path, whose arrays the history keeps read-only anyway. `layer_output`
    and `Extractor.outputs` hand out arrays the caller may change, so they copy.
    """
    if _backend() == "torch":
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype == torch.bfloat16:  # NumPy has no bfloat16 of its own
                return keras.ops.convert_to_numpy(value)
            return value.numpy()
    if not copy and _backend() in ("tensorflow", "jax"):
        return np.asarray(value)
    return keras.ops.convert_to_numpy(value)


def _distribute(arrays: Sequence[np.ndarray]) -> list[Any]:
    """The probe laid out like a training batch under a `keras.distribution` (JAX).

    With no distribution set, or a batch that the data-parallel axis does not divide, the arrays
    are passed as they are and the compiled function places them.
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return list(arrays)
    out = []
    for x in arrays:
        layout = distribution.get_data_layout(x.shape)
        mesh = getattr(layout, "device_mesh", None)
        axis = (getattr(layout, "axes", None) or (None,))[0]
        ways = 1
        if mesh is not None and axis is not None:
            ways = int(mesh.shape[mesh.axis_names.index(axis)])
        if ways > 1 and x.shape[0] % ways == 0:
            out.append(keras.distribution.distribute_tensor(x, layout))
        else:
            out.append(x)
    return out


# ----------------------------------------------------------------------------- the extractor


def check_layer_ids(layers: Any) -> list[str] | None:
    """The watched ids as a list, or `None` (every layer); a clear error for a string, an empty
    list or an id given twice.

    Raises:
        TypeError: If `layers` is a string or not a sequence.
        ValueError: If `layers` is empty or names a layer twice.
    """
    if layers is None:
        return None
    if isinstance(layers, (str, bytes)):
        raise TypeError(
            f"`layers` must be a list of layer ids, not a string: received layers={layers!r}. "
            f"Pass a list, e.g. `layers=[{layers!r}]`."
        )
    try:
        ids = list(layers)
    except TypeError:
        raise TypeError(
            f"`layers` must be a list of layer ids; received {type(layers).__name__}. Pass a "
            "list, e.g. `layers=['dense']`, or `None` for every layer."
        ) from None
    if not ids:
        raise ValueError(
            "`layers` is empty: a viewer of no layer shows nothing. Pass the ids to watch, e.g. "
            "`layers=['dense']`, or `layers=None` (the default) for every layer."
        )
    twice = sorted({str(i) for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(
            f"`layers` names {', '.join(repr(i) for i in twice)} more than once: {ids!r}. Pass "
            "each id once."
        )
    return ids


class _Checked:
    """A probe array that `Extractor._probe_arrays` checked, by weak reference (an extractor must
    not keep a caller's batch alive), with what the check depended on."""

    __slots__ = ("_ref", "budget", "dtype", "key", "shape")

    def __init__(self, probe: np.ndarray, key: Any, budget: float | None) -> None:
        self._ref = weakref.ref(probe)
        self.key, self.budget, self.shape, self.dtype = key, budget, probe.shape, probe.dtype

    def holds(self, probe: Any, key: Any, budget: float | None) -> bool:
        """Whether `probe` is the array checked, unchanged in shape and dtype, for `key` (the
        extractor's structure) and `budget`."""
        return (
            self._ref() is probe
            and key is self.key
            and budget == self.budget
            and probe.shape == self.shape
            and probe.dtype == self.dtype
            and probe.flags.c_contiguous
        )


class Extractor:
    """Evaluates the watched outputs of a model on a probe in one forward pass.

    The extractor lists the model (`catalog`), builds one compiled function that returns every
    watched output, and reuses it for every call. It rebuilds itself only when the model's
    structure changes; the batch size of the probe may vary without retracing.

    Args:
        model: A built Keras 3 model.
        layers: Ids to watch, from `catalog(model)`. Defaults to `None`, every output.
        probe: An example batch, needed only for a subclassed model that does not record its
            input shape; also checked against `budget_bytes`. Defaults to `None`.
        budget_bytes: Largest total size of the outputs of one call; a larger probe raises a
            `ValueError` saying how large the outputs would be. Defaults to `None` (no limit).

    Raises:
        ValueError: If a layer id is unknown, the model is not built, or the probe's outputs would
            exceed `budget_bytes`.

    Example:

    >>> extractor = Extractor(model)
    >>> arrays = extractor(x_val[:16])        # {"input": ..., "conv2d": ..., ...}
    """

    def __init__(
        self,
        model: Any,
        layers: Sequence[str] | None = None,
        *,
        probe: Any = None,
        budget_bytes: float | None = None,
    ) -> None:
        self.model = model
        self._requested = check_layer_ids(layers)
        self.budget_bytes = budget_bytes
        self._example = probe
        self._build()
        if probe is not None and budget_bytes is not None:
            self._check_budget(_normalize(model, self._spec, probe))

    # -- building

    def _build(self) -> None:
        model = self.model
        self.catalog = catalog(model, probe=self._example)
        self._spec = _resolve_spec(model, self._example)
        by_id = {info.id: info for info in self.catalog}
        ids = list(by_id) if self._requested is None else list(self._requested)
        for lid in ids:
            if lid not in by_id:
                raise unknown_layer_error(lid, list(by_id))
        self.layers = [by_id[lid] for lid in ids]
        self._key = _structure_key(model)
        self._checked: _Checked | None = None
        self._fns: dict[tuple[Any, ...], Any] = {}
        self._graph = [i for i in self.layers if i.strategy == STRATEGY_GRAPH]
        self._capture = [i for i in self.layers if i.strategy == STRATEGY_CAPTURE]
        self._computed = self._graph + self._capture
        fn = _functional_of(model)
        self._runner = None
        self._prefix = 0
        self._capture_graph = False
        if fn is not None and self._graph:
            outputs = [info.tensor for info in self._graph]
            if self._capture:
                # Run the whole graph, in the model's own order, so capture ids match the catalog.
                head = list(fn.outputs)
                runner = keras.Model(fn.inputs, head + outputs, name="kerasviz_extractor")
                same = [n.operation for n in _node_order(runner)] == [
                    n.operation for n in _node_order(fn)
                ]
                if same:
                    self._runner, self._prefix = runner, len(head)
                else:  # pragma: no cover - defensive: record the graph outputs by capture too
                    self._capture_graph = True
            else:
                self._runner = keras.Model(fn.inputs, outputs, name="kerasviz_extractor")

    @property
    def on_host(self) -> bool:
        """Whether the extractor computes on the host's CPU (`computes_on_host`)."""
        return computes_on_host()

    @property
    def ids(self) -> list[str]:
        """Watched ids, in catalog order as requested."""
        return [info.id for info in self.layers]

    @property
    def trace_count(self) -> int:
        """How many times the compiled functions of this extractor were traced.

        On TensorFlow one trace serves every batch size; XLA on JAX traces once per probe shape;
        PyTorch runs eagerly and counts one per probe signature.
        """
        return sum(f.traces for f in self._fns.values())

    def _make_fn(self, arrays: Sequence[np.ndarray], max_values: int | None = None) -> Any:
        spec = self._spec
        runner, prefix = self._runner, self._prefix
        graph_n = len(self._graph) if runner is not None else 0
        capture = self._capture + (self._graph if self._capture_graph else [])
        tree_layers = _tree(self.model) if capture else []
        model = self.model

        def run(*xs: Any) -> list[Any]:
            values: list[Any] = []
            if capture:
                with _Recorder(tree_layers) as rec:
                    if runner is not None:
                        outs = _flatten(runner(spec.pack_runner(list(xs)), training=False))
                    else:
                        model(spec.pack(list(xs)), training=False)
                        outs = []
                calls = rec.calls
                if runner is not None:
                    values.extend(outs[prefix : prefix + graph_n])
                for info in capture:
                    if info.call_id not in calls:
                        raise RuntimeError(
                            f"The layer call {info.call_id!r} did not happen in this forward "
                            "pass; the model's structure changed. Create the viewer again."
                        )
                    flat = _flatten(calls[info.call_id][2])
                    values.append(flat[0 if info.output_index is None else info.output_index])
            elif runner is not None:
                outs = _flatten(runner(spec.pack_runner(list(xs)), training=False))
                values.extend(outs[:graph_n])
            return values

        if max_values is None:
            return _compile(run, model, spec, arrays)
        order, watched = self._order(), self.layers

        def run_with_displays(*xs: Any) -> list[Any]:
            values = run(*xs)
            by_id = {info.id: v for info, v in zip(order, values, strict=True)}
            for info in watched:
                if info.strategy == STRATEGY_INPUT:
                    by_id[info.id] = xs[info.input_index]
            tensors = [by_id[info.id] for info in watched]
            displays = [display_tensor(t, max_values) for t in tensors]
            return [*values, *displays, value_ranges(tensors)]

        return _compile(run_with_displays, model, spec, arrays, batch=True)

    def _check_budget(self, arrays: Sequence[np.ndarray]) -> None:
        """Refuse a probe whose outputs would exceed the budget. Unknown dimensions (an input of
        unknown size) are taken from the function traced for this probe's shape, the one every
        snapshot runs (built here once), so downsampling counts as it really happens."""
        if self.budget_bytes is None:
            return
        infos = self.layers
        if any(
            d is None
            for info in infos
            if info.strategy != STRATEGY_INPUT
            for d in info.output_shape[1:]
        ):
            shapes = self._traced_shapes(arrays)
            infos = [
                dataclasses.replace(info, output_shape=shapes.get(info.id, info.output_shape))
                for info in infos
            ]
        _check_budget(infos, arrays, self.budget_bytes)

    def _function(self, arrays: Sequence[np.ndarray], max_values: int | None = None) -> Any:
        """The compiled function for the probe's signature, built on first use; with
        `max_values`, the one that also returns the display arrays (of this batch size)."""
        sig = tuple((a.shape[1:], a.dtype.str) for a in arrays)
        if max_values is not None:
            sig = (*sig, len(arrays[0]) if arrays else 0, max_values)
        fn = self._fns.get(sig)
        if fn is None:
            fn = self._fns[sig] = self._make_fn(arrays, max_values)
        return fn

    def _order(self) -> list[LayerInfo]:
        """The computed outputs in the order the compiled function returns them."""
        if self._capture_graph:
            return self._capture + self._graph
        return (self._graph if self._runner is not None else []) + self._capture

    def _traced_shapes(self, arrays: Sequence[np.ndarray]) -> dict[str, tuple[int | None, ...]]:
        """Output shapes of the computed layers as traced for the probe's input shapes: the
        TensorFlow function's own trace, or Keras' shape inference of the same function on the
        other backends (`jax.eval_shape`, PyTorch's `meta` device: no values computed)."""
        if not self._computed:
            return {}
        compiled = self._function(arrays)
        if _backend() == "tensorflow":
            outputs = compiled._call.get_concrete_function().structured_outputs
        else:
            from keras.src.backend import compute_output_spec

            outputs = compute_output_spec(compiled.run, *_symbolic_inputs(self._spec, arrays))
        return {info.id: tuple(out.shape) for info, out in zip(self._order(), outputs, strict=True)}

    # -- calling

    def __call__(self, probe: Any) -> dict[str, np.ndarray]:
        """Outputs of every watched layer on `probe`, as NumPy arrays, in `self.ids` order.

        Args:
            probe: A batch of model inputs, as accepted by `check_probe`.

        Returns:
            `{id: array}`; an `input` entry is the probe itself.
        """
        self.refresh()  # the watched ids may change with the structure
        return self.outputs(probe, self.ids)

    def refresh(self) -> None:
        """Rebuild if the model's structure changed since the last build."""
        if _structure_key(self.model) != self._key:
            self._build()

    def outputs(self, probe: Any, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Outputs of the watched layers `ids` on `probe`, as NumPy arrays, in that order.

        The one compiled function computes every watched output; only those asked for are
        converted to NumPy.
        """
        arrays = self._probe_arrays(probe)
        wanted = set(ids)
        out = self._inputs(arrays)
        if self._computed and any(i.id in wanted for i in self._computed):
            values = self._function(arrays)(*arrays)
            for info, value in zip(self._order(), values, strict=True):
                if info.id in wanted:
                    out[info.id] = _to_numpy(value)
        return {lid: out[lid] for lid in ids}

    def _probe_arrays(self, probe: Any) -> list[np.ndarray]:
        """The probe as the compiled function takes it, after a rebuild if the model changed and
        the budget check.

        A recording passes the same probe at every step: a NumPy array that was already checked
        against this structure and budget, with the same shape and dtype, and that the check
        took as it is (not a converted copy, so its values are read where they are), is not
        checked again (`_Checked`).
        """
        self.refresh()
        last = self._checked
        if last is not None and last.holds(probe, self._key, self.budget_bytes):
            return [probe]
        arrays = _normalize(self.model, self._spec, probe)
        self._check_budget(arrays)
        if len(arrays) == 1 and arrays[0] is probe:
            self._checked = _Checked(probe, self._key, self.budget_bytes)
        return arrays

    def _inputs(self, arrays: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The watched model inputs: the probe's own arrays."""
        return {
            info.id: arrays[info.input_index]
            for info in self.layers
            if info.strategy == STRATEGY_INPUT
        }

    def with_displays(
        self, probe: Any, max_values: int
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, tuple[float, float]]]:
        """Outputs of every watched layer on `probe`, their display arrays and their ranges, from
        one compiled function: the backend pools and casts the displays and takes each output's
        minimum and maximum (`core.display`) in the same call.

        Args:
            probe: A batch of model inputs, as accepted by `check_probe`.
            max_values: Most values of each display array.

        Returns:
            `(outputs, displays, ranges)`, each `{id: ...}` in `self.ids` order: the outputs,
            read-only (views of the backend's host buffers where it has them); the float16
            displays; and `(min, max)` of each output as floats, NaN for one whose range the
            backend does not take (`display.value_ranges`) or that holds NaN or infinities.
        """
        return self.start_with_displays(probe, max_values, defer=False)()

    def start_with_displays(
        self, probe: Any, max_values: int, *, defer: bool = True
    ) -> Callable[
        [], tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, tuple[float, float]]]
    ]:
        """Start `with_displays` on `probe` with the weights of this moment; the function it
        returns brings the results to the host, on whatever thread calls it (a recording
        session's worker, while the training loop goes on).

        The weights are read here, so the results are those of this moment however late they
        are fetched. TensorFlow and PyTorch call the compiled function here. So does JAX on an
        accelerator, where the call only dispatches it and the device computes while the caller
        goes on. JAX on a CPU runs a call on the calling thread, so with `defer` the weights are
        copied here (one compiled copy: the trainer donates their buffers to its next step) and
        the call runs in the returned function, on the worker's core instead of the training
        loop's.

        Args:
            probe: A batch of model inputs, as accepted by `check_probe`.
            max_values: Most values of each display array.
            defer: Let the backend run the call in the returned function. Defaults to `True`.

        Returns:
            A function of no argument that returns what `with_displays` returns.
        """
        arrays = self._probe_arrays(probe)
        started = self._function(arrays, max_values).start(*arrays, defer=defer)
        order, layers, ids = self._order(), list(self.layers), list(self.ids)
        inputs = self._inputs(arrays)

        def fetch() -> tuple[
            dict[str, np.ndarray], dict[str, np.ndarray], dict[str, tuple[float, float]]
        ]:
            values = started()
            n = len(values) - len(layers) - 1
            out = dict(inputs)
            for info, v in zip(order, values[:n], strict=True):
                out[info.id] = _to_numpy(v, copy=False)
            displays = {
                info.id: _to_numpy(v, copy=False)
                for info, v in zip(layers, values[n:-1], strict=True)
            }
            rows = _to_numpy(values[-1]).tolist()
            ranges = {info.id: (lo, hi) for info, (lo, hi) in zip(layers, rows, strict=True)}
            return {lid: out[lid] for lid in ids}, displays, ranges

        return fetch


# ----------------------------------------------------------------------------- layer_output

_CACHE_ATTR = "_kerasviz_layer_output"
"""The attribute of a model that holds `layer_output`'s extractor of it."""


def _cached(model: Any, x: Any) -> Extractor:
    """`layer_output`'s one extractor of every layer of `model`, built on first use.

    It is kept on the model itself (set past Keras' attribute tracking), so it lives exactly as
    long as the model: a module-level map, even a weak-keyed one, would keep every model alive
    through the extractor it maps to, which holds the model.
    """
    extractor = model.__dict__.get(_CACHE_ATTR)
    if extractor is None:
        probe = x if _model_input_spec(model) is None else None
        extractor = Extractor(model, probe=probe)
        object.__setattr__(model, _CACHE_ATTR, extractor)
    extractor.refresh()
    return extractor


def _history(tensor: Any) -> Any:
    return getattr(tensor, "_keras_history", None)


def _resolve_layer(model: Any, layer: Any, infos: list[LayerInfo]) -> LayerInfo:
    """The catalog entry for a name, path id, index, `Layer` or `KerasTensor`."""
    ids = [info.id for info in infos]
    if isinstance(layer, keras.KerasTensor):
        for info in infos:
            if info.tensor is layer:
                return info
        fn = _functional_of(model)
        if fn is not None:
            for i, t in enumerate(fn.inputs):
                if t is layer:
                    return infos[i]
        hist = _history(layer)
        op = hist.operation if hist is not None else None
        if op is not None and not _is_input_layer(op):
            outputs = op._inbound_nodes[hist.node_index].outputs
            index = hist.tensor_index if len(outputs) > 1 else None
            same = [i for i in infos if i.layer is op and i.output_index == index]
            if len(same) == 1:
                return same[0]
            if same and hist.node_index < len(same):
                # A shared inner layer: its k-th node is its k-th call.
                return same[hist.node_index]
        owner = f"layer {op.name!r}" if op is not None else "no layer"
        raise ValueError(
            f"The KerasTensor {layer.name!r} (shape {layer.shape}) was produced by {owner}, which "
            f"is not part of the graph of model {model.name!r}. It belongs to another model (or "
            "to a model that was rebuilt). Pass a tensor of this model, e.g. "
            "`model.get_layer(name).output` or `model.layers[i].output`, or a layer id from: "
            f"{', '.join(ids)}."
        )
    if isinstance(layer, bool):
        raise TypeError(f"`layer` must not be a bool; received {layer!r}.")
    if isinstance(layer, int):
        children = list(model.layers)
        if not -len(children) <= layer < len(children):
            raise ValueError(
                f"`layer` index {layer} is out of range: model {model.name!r} has "
                f"{len(children)} entries in `model.layers`. Pass an index in "
                f"[{-len(children)}, {len(children) - 1}] or a layer id from: {', '.join(ids)}."
            )
        layer = children[layer]
        if _is_input_layer(layer):
            fn = _functional_of(model)
            names = [t._keras_history.operation for t in fn.inputs] if fn is not None else []
            return infos[names.index(layer)] if layer in names else infos[0]
    if isinstance(layer, str):
        for info in infos:
            if info.id == layer:
                return info
        try:
            layer = model.get_layer(layer)
        except ValueError:
            raise unknown_layer_error(layer, ids) from None
    if isinstance(layer, keras.layers.Layer):
        matches = [i for i in infos if i.layer is layer]
        if matches:
            top = [i for i in matches if "/" not in i.call_id]
            return (top or matches)[0]
        raise ValueError(
            f"The layer {layer.name!r} is not part of model {model.name!r} (or is never called "
            f"in its forward pass). Pass a layer of this model; available ids: {', '.join(ids)}."
        )
    raise TypeError(
        "`layer` must be a layer id or name, an index into `model.layers`, a "
        "`keras.layers.Layer` or a symbolic `KerasTensor` such as `layer.output`; received "
        f"{type(layer).__name__}."
    )


def layer_output(model: Any, layer: Any, x: Any) -> np.ndarray:
    """Evaluate one layer output (or a symbolic tensor of the model) on `x`, as NumPy.

    This is the answer to "how do I turn a `KerasTensor` into a NumPy array?": a `KerasTensor`
    (`layer.output`) is symbolic and holds no values, so it must be evaluated on inputs. The
    evaluation runs in inference mode (`training=False`) through one compiled extractor of every
    layer, built on the first call and cached on the model (it goes with the model), so a later
    call, for any layer, costs one forward pass and no tracing, and never grows memory. It works inside a callback during `fit` (pass `self.model`).

    Args:
        model: A built Keras 3 model.
        layer: A layer id or name (`"dense"`, `"encoder/conv2d"`, `"lstm:1"`), an index into
            `model.layers`, a `keras.layers.Layer`, or a symbolic `KerasTensor` of this model
            (`layer.output`, `layer.input`, `model.get_layer(name).output`).
        x: A batch of model inputs (a dict or list for a model with several inputs).

    Returns:
        The output as a NumPy array (the model's compute dtype, e.g. float16 under
        `mixed_float16`).

    Raises:
        ValueError: If the layer is unknown or belongs to another model, or `x` does not fit the
            model's inputs.

    Example:

    >>> layer_output(model, model.layers[2].output, x[:4]).shape
    (4, 10)
    """
    _check_model(model)
    check_batch_type(x, "`x`")
    spec = _resolve_spec(model, x)
    arrays = _normalize(model, spec, x)
    extractor = _cached(model, x)
    info = _resolve_layer(model, layer, extractor.catalog)
    if info.strategy == STRATEGY_INPUT:
        return arrays[info.input_index]
    return extractor.outputs(arrays if len(arrays) > 1 else arrays[0], [info.id])[info.id]
