"""Health findings: what is wrong with which layer, read from the recorded statistics.

Everything here is a pure function of the statistics a history keeps for every step (see
`reduce.compute_stats`), so a live viewer, a loaded `.npz` and a followed run folder give the same
findings. Nothing here imports Keras: `activation_bounds` reads a layer object's attributes.

Kinds of finding, in the order they are listed for one layer and step:

| kind        | flagged when                                         | `fraction`               |
|-------------|------------------------------------------------------|--------------------------|
| `nan`       | the output holds a NaN                               | of values that are NaN   |
| `inf`       | the output holds +Inf or -Inf                        | of values infinite       |
| `dead`      | `dead_fraction >= dead` (units 0 everywhere)         | of units (last axis)     |
| `saturated` | `saturated_fraction > saturated` (bounded outputs)   | of values near a bound   |
| `constant`  | every probe sample gives the same output (2+)        | 1.0                      |
| `exploding` | output std `> scale` x the probe input's std         | ratio of the two stds    |
| `vanishing` | output std `< 1 / scale` of the probe input's std    | ratio of the two stds    |

Every kind that holds is reported (a layer that outputs only zeros is `dead`, `constant` and
`vanishing` at once). Probe inputs (catalog entries of strategy `"input"`) are checked for `nan`,
`inf` and `constant` only: they are the data, not a layer. `exploding` and `vanishing` compare with
the probe inputs' standard deviation over all their finite values (pooled over the inputs of a
model with several), so they need the probe input watched and not constant; without it they are
not judged. A statistic a history does not hold (`None`, e.g. a file written before it existed)
never gives a finding.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from .reduce import SATURATION_MARGIN, Bounds
from .step import label

KINDS = ("nan", "inf", "dead", "saturated", "constant", "exploding", "vanishing")
"""Every kind of finding, in the order they are listed for one layer and step."""

BAD_KINDS = ("nan", "inf")
"""The kinds that make a layer the first bad layer."""

DEFAULT_DEAD = 0.5
DEFAULT_SATURATED = 0.5
DEFAULT_SCALE = 1e3

_UNIT = (0.0, 1.0)
_SIGNED_UNIT = (-1.0, 1.0)

_RELU6 = (None, 6.0)

ACTIVATION_BOUNDS: dict[str, Bounds] = {
    "sigmoid": _UNIT,
    "hard_sigmoid": _UNIT,
    "sparse_sigmoid": _UNIT,
    "softmax": _UNIT,
    "sparsemax": _UNIT,
    "tanh": _SIGNED_UNIT,
    "hard_tanh": _SIGNED_UNIT,
    "softsign": _SIGNED_UNIT,
    "relu6": _RELU6,
}
"""Output range of each bounded activation, by the activation's name; `(None, hi)` for the ReLU
family, whose saturation counts the upper bound only."""


class HistoryLike(Protocol):
    """What the findings read: a `History`, or anything with these four members."""

    @property
    def epochs(self) -> list[float | int]: ...

    def resolve(self, epoch: float) -> float: ...

    def layers(self, epoch: float = -1) -> tuple[str, ...]: ...

    def stats(self, layer: str, epoch: float = -1) -> dict[str, Any]: ...


# ------------------------------------------------------------------------------ bounds


def _name_of(activation: Any) -> str | None:
    if isinstance(activation, str):
        return activation
    name = getattr(activation, "__name__", None)
    return name if isinstance(name, str) else None


def activation_bounds(layer: Any, output_index: int | None = None) -> Bounds | None:
    """The output range of a layer whose last operation is a bounded activation, else `None`.

    This is the one place that knows which activations are bounded (`ACTIVATION_BOUNDS`, by the
    activation's name: sigmoid, hard_sigmoid, sparse_sigmoid, softmax and sparsemax give
    `(0, 1)`; tanh, hard_tanh and softsign `(-1, 1)`; relu6 `(None, 6)`), and at which bounds
    they saturate. The ReLU family (relu6, `ReLU(max_value=...)`) saturates at its upper bound
    only, so its range is given as `(None, hi)`: its zeros are what `dead` and the zero fraction
    report, and a healthy ReLU layer (MobileNetV2's relu6, half its values 0) is not saturated.
    Sigmoid, softmax, tanh and the like saturate at both ends. It reads the layer's
    `activation` attribute, which `Dense`, the convolutions, the recurrent layers and an
    `Activation` layer all have (for `Activation("sigmoid")` and `Dense(..., activation="sigmoid")`
    alike it is the function `sigmoid`); a layer that has one is taken to apply it last, as every
    built-in Keras layer does. A `Softmax` layer gives `(0, 1)`; a `ReLU` layer with a
    `max_value > 0` and no negative slope gives `(None, max_value)`. A layer with several
    outputs (`output_index` not `None`, e.g. an LSTM's states) gives `None`: only a single output
    is known to pass through the activation.

    Args:
        layer: A Keras layer object (anything with the attributes above), or `None`.
        output_index: Which output of the layer, or `None` for a layer with one output.
            Defaults to `None`.

    Returns:
        `(lo, hi)` as floats, `(None, hi)` for the upper bound only, or `None` when the output
        is not known to be bounded.

    Example:

    >>> activation_bounds(keras.layers.Dense(4, activation="tanh"))
    (-1.0, 1.0)
    """
    if layer is None or output_index is not None:
        return None
    kind = type(layer).__name__
    if kind == "Softmax":
        return _UNIT
    if kind == "ReLU":
        top = getattr(layer, "max_value", None)
        slope = getattr(layer, "negative_slope", 0.0) or 0.0
        if top is not None and float(slope) == 0.0 and float(top) > 0:
            return (None, float(top))
        return None
    name = _name_of(getattr(layer, "activation", None))
    return ACTIVATION_BOUNDS.get(name) if name else None


# ------------------------------------------------------------------------------ findings


def _entry(entry: Any, key: str) -> Any:
    return entry.get(key) if isinstance(entry, Mapping) else getattr(entry, key, None)


def _check_fraction(name: str, value: Any, default: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ValueError(
            f"Received {name}={value!r}; it must be a fraction between 0 and 1 (the threshold "
            f"of the `{name}` finding). Pass e.g. `{name}={default}`, the default."
        )
    return float(value)


def _check_scale(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 1
    ):
        raise ValueError(
            f"Received scale={value!r}; it must be a finite number > 1 (how many times the "
            "probe input's standard deviation a layer's may grow or shrink before it is "
            "`exploding` or `vanishing`). Pass e.g. `scale=1e3`, the default."
        )
    return float(value)


def _nonfinite_counts(stats: Mapping[str, Any]) -> tuple[int, int, int]:
    """`(values, NaN, infinite)` of a layer output, from its statistics."""
    size = math.prod(int(d) for d in stats["shape"])
    return size, int(stats.get("nan_count") or 0), int(stats.get("inf_count") or 0)


def nonfinite_fraction(stats: Mapping[str, Any]) -> float:
    """The fraction of a layer output's values that are NaN or infinite; 0.0 when it is empty."""
    size, nan, inf = _nonfinite_counts(stats)
    return (nan + inf) / size if size else 0.0


def histogram_note(stats: Mapping[str, Any]) -> str | None:
    """What a layer's histogram leaves out, as a person reads it, or `None` when nothing.

    A histogram counts the finite values only (see `core.reduce`): the NaN and infinite values
    are left out, and a layer with no finite value has an empty histogram. Every front-end (the
    live view, a saved page, the static picture) shows this note with the histogram.

    Args:
        stats: A layer's statistics (a `Snapshot`'s `stats`).

    Returns:
        `"empty output"`, `"no finite value: 16 NaN"`, `"3 NaN and 1 infinite not counted"`, or
        `None` when every value is counted.

    Example:

    >>> histogram_note({"shape": (4, 2), "nan_count": 8, "inf_count": 0})
    'no finite value: 8 NaN'
    """
    size, nan, inf = _nonfinite_counts(stats)
    if size == 0:
        return "empty output"
    left = " and ".join(
        text for n, text in ((nan, f"{nan:,} NaN"), (inf, f"{inf:,} infinite")) if n
    )
    if not left:
        return None
    return f"no finite value: {left}" if nan + inf >= size else f"{left} not counted"


def first_bad(found: Iterable[Mapping[str, Any]]) -> tuple[str, float | int] | None:
    """The first bad layer among findings listed in model order: of the `nan` and `inf`
    findings at the earliest epoch, the first; `None` when there is none."""
    best: tuple[str, float | int] | None = None
    for f in found:
        if f["kind"] in BAD_KINDS and (best is None or f["epoch"] < best[1]):
            best = (f["layer"], f["epoch"])
    return best


def percent(fraction: float) -> str:
    """A fraction as a person reads it: `62%`, `0.4%`, `99.9%`; never rounded to 0% or 100%."""
    p = 100.0 * fraction
    if p in (0.0, 100.0) or 1.0 <= p <= 99.0:
        return f"{p:.0f}%"
    if p > 99.0:
        return f"{min(p, 99.9):.1f}%"
    return f"{p:.2g}%" if p >= 0.01 else "<0.01%"


def model_order(recorded: Sequence[str], catalog: Iterable[Any]) -> list[str]:
    """The recorded layer ids in catalog (model) order; any not in the catalog after, as recorded.

    Args:
        recorded: Layer ids of one step, as the history holds them.
        catalog: `LayerInfo` objects or their `to_json()` dicts, in model order.
    """
    ids = [str(_entry(c, "id")) for c in catalog]
    present = set(recorded)
    ordered = [lid for lid in ids if lid in present]
    listed = set(ordered)
    return ordered + [lid for lid in recorded if lid not in listed]


def _input_ids(catalog: Iterable[Any]) -> set[str]:
    return {str(_entry(c, "id")) for c in catalog if _entry(c, "strategy") == "input"}


def _finite_count(stats: Mapping[str, Any]) -> int:
    size = math.prod(int(d) for d in stats["shape"])
    return size - int(stats.get("nan_count") or 0) - int(stats.get("inf_count") or 0)


def _pooled_std(stats_list: Sequence[Mapping[str, Any]]) -> float | None:
    """The standard deviation over all finite values of several outputs, from their moments."""
    n = 0
    total = 0.0
    squares = 0.0
    for st in stats_list:
        k = _finite_count(st)
        if st.get("mean") is None or st.get("std") is None or k == 0:
            continue
        n += k
        total += k * st["mean"]
        squares += k * (st["std"] ** 2 + st["mean"] ** 2)
    if n == 0:
        return None
    if len(stats_list) == 1:
        return float(stats_list[0]["std"])
    mean = total / n
    return math.sqrt(max(squares / n - mean * mean, 0.0))


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _layer_findings(
    layer: str,
    epoch: float | int,
    st: Mapping[str, Any],
    *,
    is_input: bool,
    bounds: Any,
    reference_std: float | None,
    dead: float,
    saturated: float,
    scale: float,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    where = f"at epoch {epoch}"

    def add(kind: str, fraction: float, message: str) -> None:
        out.append(
            {
                "layer": layer,
                "epoch": epoch,
                "kind": kind,
                "fraction": float(fraction),
                "message": f"{layer}: {message}",
            }
        )

    size = math.prod(int(d) for d in st["shape"])
    nan_count = int(st.get("nan_count") or 0)
    inf_count = int(st.get("inf_count") or 0)
    if nan_count and size:
        f = nan_count / size
        add("nan", f, f"{percent(f)} of values are NaN {where}")
    if inf_count and size:
        f = inf_count / size
        add("inf", f, f"{percent(f)} of values are infinite (±Inf) {where}")
    if not is_input:
        f = st.get("dead_fraction")
        if f is not None and f >= dead:
            add("dead", f, f"{percent(f)} of units are dead (always 0) {where}")
        f = st.get("saturated_fraction")
        if f is not None and f > saturated:
            near = "their bounds"
            if bounds is not None and len(bounds) == 2:
                near = (
                    f"the upper bound {bounds[1]:g}"
                    if bounds[0] is None
                    else f"the bounds {bounds[0]:g} and {bounds[1]:g}"
                )
            margin = percent(SATURATION_MARGIN)
            add(
                "saturated",
                f,
                f"{percent(f)} of values are saturated (within {margin} of {near}) {where}",
            )
    if st.get("constant") == 1.0:
        add("constant", 1.0, f"the output is the same for every probe sample {where}")
    std = st.get("std")
    if not is_input and std is not None and reference_std:
        ratio = std / reference_std
        if ratio > scale:
            add(
                "exploding",
                ratio,
                f"the output's std ({_fmt(std)}) is {_fmt(ratio)} times the probe input's "
                f"({_fmt(reference_std)}) {where}",
            )
        elif ratio < 1 / scale:
            add(
                "vanishing",
                ratio,
                (
                    f"the output's std ({_fmt(std)}) is {_fmt(ratio)} times the probe input's "
                    f"({_fmt(reference_std)}) {where}"
                    if std
                    else "the output does not vary (std 0), while the probe input's std is "
                    f"{_fmt(reference_std)} {where}"
                ),
            )
    return out


def steps(history: HistoryLike, epoch: float | None) -> list[float | int]:
    """The labels of the recorded steps that `epoch` asks for: `-1` the latest, `None` all.

    One step is looked up, not searched for: a finding per recorded step costs the same with a
    history of ten steps or of ten thousand.

    Raises:
        TypeError: If `epoch` is not a number nor `None`.
        KeyError: If `epoch` was never recorded.
    """
    if epoch is None:
        return list(history.epochs)
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Real):
        raise TypeError(
            f"Received epoch={epoch!r}; pass an epoch label from `viewer.epochs`, -1 for the "
            "latest step, or None for every step."
        )
    try:
        return [label(history.resolve(epoch))]
    except KeyError:
        epochs = list(history.epochs)
        if not epochs:
            return []
        raise KeyError(
            f"Epoch {epoch!r} was never recorded. Recorded epochs: {epochs}. Pass one of these, "
            "-1 for the latest, or None for every step."
        ) from None


def findings(
    history: HistoryLike,
    catalog: Iterable[Any],
    *,
    epoch: float | None = -1,
    dead: float = DEFAULT_DEAD,
    saturated: float = DEFAULT_SATURATED,
    scale: float = DEFAULT_SCALE,
) -> list[dict[str, Any]]:
    """What is wrong with which layer, at one recorded step or at every one.

    Each finding is a dict `{"layer", "epoch", "kind", "fraction", "message"}`; the kinds, what
    flags them and what `fraction` means are in the module docstring. Findings are listed in
    model order (the catalog's), a layer's in the order of `KINDS`, and with `epoch=None` each
    layer's steps in ascending order.

    Args:
        history: A `History` (live, loaded or followed), or anything with `epochs`,
            `layers(epoch)` and `stats(layer, epoch)`.
        catalog: The layer catalog in model order: `LayerInfo` objects or their `to_json()`
            dicts (as saved files hold them). Its entries of strategy `"input"` are the probe
            inputs.
        epoch: Epoch label from `history.epochs`; `-1` means the latest, `None` every recorded
            step. Defaults to `-1`.
        dead: A layer is `dead` when at least this fraction of its units is dead. Defaults to
            `0.5`.
        saturated: A layer is `saturated` when more than this fraction of its values is within
            1% of the range from its activation's bounds. Defaults to `0.5`.
        scale: A layer is `exploding` when its std is more than `scale` times the probe input's,
            `vanishing` when less than `1 / scale` times. Defaults to `1e3`.

    Returns:
        The list of findings; empty for a healthy model (or an empty history).

    Raises:
        ValueError: If a threshold is out of range.
        KeyError: If `epoch` was never recorded.

    Example:

    >>> findings(viewer._history, viewer.catalog)
    [{'layer': 'dense_2', 'epoch': 3, 'kind': 'dead', 'fraction': 0.625,
      'message': 'dense_2: 62% of units are dead (always 0) at epoch 3'}]
    """
    dead, saturated, scale = _thresholds(dead, saturated, scale)
    catalog = list(catalog)
    inputs, bounds = _input_ids(catalog), _bounds(catalog)
    per_layer: dict[str, list[dict[str, Any]]] = {}
    for step in steps(history, epoch):
        recorded = history.layers(step)
        stats = {lid: history.stats(lid, step) for lid in recorded}
        found = _step_findings(stats, label(step), inputs, bounds, dead, saturated, scale)
        for lid in recorded:
            per_layer.setdefault(lid, []).extend(found[lid])
    return [f for lid in model_order(list(per_layer), catalog) for f in per_layer[lid]]


def step_findings(
    stats: Mapping[str, Mapping[str, Any]],
    catalog: Iterable[Any],
    *,
    epoch: float,
    dead: float = DEFAULT_DEAD,
    saturated: float = DEFAULT_SATURATED,
    scale: float = DEFAULT_SCALE,
) -> list[dict[str, Any]]:
    """The findings of one step from its statistics, before any store holds it: what `findings`
    gives for that step once it is stored (a recording session's front-end sends them with the
    step).

    Args:
        stats: Layer id to the layer's statistics at the step (a `Snapshot`'s `stats`).
        catalog: As for `findings`.
        epoch: The step's epoch label.
        dead: As for `findings`.
        saturated: As for `findings`.
        scale: As for `findings`.

    Returns:
        The findings, in model order.

    Raises:
        ValueError: If a threshold is out of range.
    """
    dead, saturated, scale = _thresholds(dead, saturated, scale)
    catalog = list(catalog)
    found = _step_findings(
        stats, label(epoch), _input_ids(catalog), _bounds(catalog), dead, saturated, scale
    )
    return [f for lid in model_order(list(stats), catalog) for f in found[lid]]


def _thresholds(dead: Any, saturated: Any, scale: Any) -> tuple[float, float, float]:
    """The findings' thresholds, checked (a `ValueError` names the one out of range)."""
    return (
        _check_fraction("dead", dead, DEFAULT_DEAD),
        _check_fraction("saturated", saturated, DEFAULT_SATURATED),
        _check_scale(scale),
    )


def _bounds(catalog: Sequence[Any]) -> dict[str, Any]:
    return {str(_entry(c, "id")): _entry(c, "bounds") for c in catalog}


def _step_findings(
    stats: Mapping[str, Mapping[str, Any]],
    epoch: float | int,
    inputs: set[str],
    bounds: Mapping[str, Any],
    dead: float,
    saturated: float,
    scale: float,
) -> dict[str, list[dict[str, Any]]]:
    """The findings of one step, by layer id (in the order of `stats`)."""
    reference = _pooled_std([st for lid, st in stats.items() if lid in inputs])
    return {
        lid: _layer_findings(
            lid,
            epoch,
            st,
            is_input=lid in inputs,
            bounds=bounds.get(lid),
            reference_std=reference,
            dead=dead,
            saturated=saturated,
            scale=scale,
        )
        for lid, st in stats.items()
    }


def first_bad_layer(history: HistoryLike, catalog: Iterable[Any]) -> tuple[str, float | int] | None:
    """The first layer that holds NaN or Inf, at the earliest step where any layer does.

    Of the layers with a `nan` or `inf` finding at the earliest recorded step that has one, the
    first in model order: where a numerical failure starts.

    Args:
        history: As for `findings`.
        catalog: As for `findings`.

    Returns:
        `(layer, epoch)`, or `None` when no step holds a NaN or an infinity.

    Example:

    >>> first_bad_layer(viewer._history, viewer.catalog)
    ('lambda', 2)
    """
    catalog = list(catalog)
    for step in history.epochs:
        for lid in model_order(list(history.layers(step)), catalog):
            st = history.stats(lid, step)
            if st.get("nan_count") or st.get("inf_count"):
                return lid, label(step)
    return None
