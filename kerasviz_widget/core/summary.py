"""The one-line statistics strip per layer, in the manner of lovely-tensors.

One step of a history as text, one line per layer, columns aligned:

    epoch 3  loss 0.4127
    input   (16, 8)  n=128  x∈[-2.325 ▂▁▇▇▇██▆▅▄ 2.002]  μ=0.06217  σ=0.9511  zeros=0%
    dense   (16, 8)  n=128  x∈[     0 █▂▂▂▂▂▁▁▁▂ 2.552]  μ=0.1045   σ=0.3234  zeros=84%  dead 62%
    broken  (16, 4)  n=64   x∈[-3.772 ▂▂▁▄██▇▄▁▂ 2.756]  μ=-0.1983  σ=1.056   zeros=0%   NaN!, Inf!

Columns: layer id, shape, value count, the range of the finite values with a sparkline of the
histogram between its ends, mean, standard deviation, fraction of zeros, and flags. The flags are
the step's health findings (`core.health.findings`, with the same thresholds): `NaN!`, `Inf!`
(the statistics count infinities without their sign), `dead 62%`, `saturated 70%`, `constant`,
`exploding ×2.1e+04`, `vanishing ×3.2e-05` (the ratio of the layer's std to the probe input's),
separated by commas.

The sparkline resamples the histogram counts to `SPARK_WIDTH` characters (each character sums the
counts its share of the range covers, splitting a bin between two characters in proportion), and
draws each on 8 levels `▁▂▃▄▅▆▇█`: `▁` is an empty stretch, `▂` to `█` scale with the count up to
the tallest. Every character is one column wide in a terminal and in a notebook's monospace
output, so the lines align.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from . import health
from .step import label

SPARK_WIDTH = 10
"""Characters of the sparkline."""

LEVELS = "▁▂▃▄▅▆▇█"
"""The sparkline's 8 levels, lowest (empty) first."""


def _number(value: Any) -> str:
    """A statistic: 4 significant digits, `-` when undefined."""
    return "-" if value is None else f"{value:.4g}"


def resample(counts: Sequence[float], width: int = SPARK_WIDTH) -> np.ndarray:
    """Histogram counts resampled to `width` cells, conserving the total.

    Cell `j` holds the counts over the fraction `[j / width, (j + 1) / width)` of the range; a
    bin that straddles two cells is split between them in proportion to its overlap.

    Args:
        counts: Histogram counts, any number of bins (`>= 1`).
        width: Number of cells. Defaults to `10`.

    Returns:
        `width` float64 sums.
    """
    c = np.asarray(counts, dtype=np.float64).reshape(-1)
    if c.size == 0:
        return np.zeros(width)
    cumulative = np.concatenate([[0.0], np.cumsum(c)])
    at = np.interp(np.linspace(0.0, c.size, width + 1), np.arange(c.size + 1), cumulative)
    return np.diff(at)


def sparkline(counts: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """The histogram as `width` characters of `LEVELS`; see the module docstring.

    Example:

    >>> sparkline([0, 1, 4, 9, 4, 1, 0, 0], width=8)
    '▁▂▅█▅▂▁▁'
    """
    cells = resample(counts, width)
    top = cells.max() if cells.size else 0.0
    if not top > 0:
        return LEVELS[0] * width
    # Empty cells are the lowest level; any count is at least the second.
    levels = np.where(cells > 0, np.maximum(1, np.ceil(cells / top * 7)), 0).astype(int)
    return "".join(LEVELS[k] for k in levels)


def flags(layer_findings: Iterable[Mapping[str, Any]]) -> list[str]:
    """The flags of one layer's findings, in the order of `health.KINDS`."""
    words = {
        "nan": lambda f: "NaN!",
        "inf": lambda f: "Inf!",
        "dead": lambda f: f"dead {health.percent(f)}",
        "saturated": lambda f: f"saturated {health.percent(f)}",
        "constant": lambda f: "constant",
        "exploding": lambda f: f"exploding ×{f:.2g}",
        "vanishing": lambda f: f"vanishing ×{f:.2g}",
    }
    return [words[f["kind"]](f["fraction"]) for f in layer_findings]


def strip(
    layer: str,
    stats: Mapping[str, Any],
    counts: Sequence[float],
    layer_flags: Sequence[str] = (),
) -> tuple[str, ...]:
    """The cells of one layer's strip, unaligned (see `summary_text`).

    Args:
        layer: Layer id.
        stats: Its statistics, as `History.stats` gives them.
        counts: Its histogram counts.
        layer_flags: Its flags (see `flags`). Defaults to none.

    Returns:
        `(layer, shape, "n=…", "x∈[min", sparkline, "max]", "μ=…", "σ=…", "zeros=…", flags)`.
    """
    shape = tuple(int(d) for d in stats["shape"])
    size = math.prod(shape)
    return (
        layer,
        "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")",
        f"n={size}",
        "x∈[" + _number(stats.get("min")),
        sparkline(counts),
        _number(stats.get("max")) + "]",
        "μ=" + _number(stats.get("mean")),
        "σ=" + _number(stats.get("std")),
        "zeros=" + health.percent(float(stats.get("zero_fraction") or 0.0)),
        ", ".join(layer_flags),
    )


# Cells whose value is right-aligned after a fixed prefix (the range's lower end after `x∈[`, so
# the sparklines line up), by the prefix's length; the rest are left-aligned.
_RIGHT = {3: len("x∈[")}
# Cells joined to the next one by one space instead of two (the range and its sparkline).
_TIGHT = {3, 4}


def align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as aligned lines: every column as wide as its widest cell."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        text = ""
        for i, cell in enumerate(row):
            if i in _RIGHT:
                k = _RIGHT[i]
                text += cell[:k] + cell[k:].rjust(widths[i] - k)
            else:
                text += cell.ljust(widths[i])
            if i < len(row) - 1:
                text += " " if i in _TIGHT else "  "
        lines.append(text.rstrip())
    return lines


def summary_text(
    history: Any,
    catalog: Iterable[Any],
    epoch: float = -1,
    *,
    dead: float = health.DEFAULT_DEAD,
    saturated: float = health.DEFAULT_SATURATED,
    scale: float = health.DEFAULT_SCALE,
) -> str:
    """One recorded step as text: a title line, then one aligned strip per layer.

    The title names the epoch (and the batch, inside an epoch) and the training logs; the strips
    are in model order; see the module docstring for the columns. This is the text of
    `viewer.summary()`.

    Args:
        history: A `History` (live, loaded or followed): read through `epochs`, `layers`,
            `stats`, `snapshot` (for the histogram counts) and `step` (for the logs).
        catalog: The layer catalog in model order (`LayerInfo` objects or their `to_json()`
            dicts), as for `health.findings`.
        epoch: Epoch label from `history.epochs`; `-1` means the latest. Defaults to `-1`.
        dead: Threshold of the `dead` flag, as for `health.findings`. Defaults to `0.5`.
        saturated: Threshold of the `saturated` flag. Defaults to `0.5`.
        scale: Threshold of the `exploding` and `vanishing` flags. Defaults to `1e3`.

    Returns:
        The text, lines joined by newlines; only a note when the history is empty.

    Raises:
        KeyError: If `epoch` was never recorded.
        ValueError: If a threshold is out of range.

    Example:

    >>> print(summary_text(viewer._history, viewer.catalog, epoch=0))
    """
    catalog = list(catalog)
    if not list(history.epochs):
        return "No step recorded yet."
    (step_label,) = health.steps(history, epoch)
    found = health.findings(
        history, catalog, epoch=step_label, dead=dead, saturated=saturated, scale=scale
    )
    by_layer: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        by_layer.setdefault(f["layer"], []).append(f)
    rows = []
    layers = health.model_order(list(history.layers(step_label)), catalog)
    for lid in layers:
        st = history.stats(lid, step_label)
        counts = history.snapshot(lid, step_label).counts
        rows.append(strip(lid, st, counts, flags(by_layer.get(lid, ()))))
    step = history.step(step_label)
    title = f"epoch {label(step.epoch)}" + (
        f" (batch {step.batch})" if step.batch is not None else ""
    )
    logs = "  ".join(f"{k} {_number(v)}" for k, v in step.logs.items())
    return "\n".join([title + (f"  {logs}" if logs else ""), *align(rows)])
