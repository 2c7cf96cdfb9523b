"""Colour maps and colour scales of the heatmap, for pictures drawn in Python.

The colour tables live in one file, `colormaps.json` beside this module: 256 RGB levels per map,
interpolated from the anchors listed there, and the colour of NaN. The front-end reads the same
file (its bundle inlines it), so a heatmap drawn here has the colours of the live one. The scale
rules below mirror the front-end's `chooseScale` and `resolveScale` (`js/src/colormap.js`); a
fixture written from these functions is checked by the front-end's tests, so the two cannot
drift apart.
"""

from __future__ import annotations

import functools
import json
import math
import pathlib
from collections.abc import Sequence

import numpy as np

TABLES_PATH = pathlib.Path(__file__).with_name("colormaps.json")
RANGE_MODES = ("layer", "map", "fixed")


@functools.cache
def _doc() -> dict:
    return json.loads(TABLES_PATH.read_text(encoding="utf-8"))


@functools.cache
def _tables() -> dict[str, np.ndarray]:
    return {
        name: np.frombuffer(bytes.fromhex(entry["levels"]), dtype=np.uint8).reshape(256, 3)
        for name, entry in _doc()["maps"].items()
    }


def nan_rgb() -> tuple[int, int, int]:
    """The colour of NaN in every map (magenta), from `colormaps.json` as in the front-end."""
    r, g, b = bytes.fromhex(_doc()["nan"])
    return r, g, b


def colormaps() -> tuple[str, ...]:
    """The names of the colour maps, in the order the front-end lists them."""
    return tuple(_tables())


def lut(name: str) -> np.ndarray:
    """The colour table of one map.

    Args:
        name: A colour-map name from `colormaps()`, e.g. `"viridis"`.

    Returns:
        A read-only `(256, 3)` uint8 array: the RGB colour of each of 256 levels.

    Raises:
        ValueError: If `name` is not a known colour map.
    """
    tables = _tables()
    if name not in tables:
        raise ValueError(
            f"Unknown colour map {name!r}; pass one of {', '.join(tables)} (or 'auto' where a "
            "scale is chosen)."
        )
    return tables[name]


def choose_scale(lo: float, hi: float, name: str = "auto") -> tuple[str, float, float]:
    """The colour map and range for data in `[lo, hi]`.

    With `name="auto"`, signed data (`lo < 0 < hi`) gets the diverging map centred on zero, other
    data viridis; a named map is used over `[lo, hi]` as given (the diverging map is still
    centred on zero). Non-finite or reversed bounds fall back to `[0, 1]`; a single value `v` is
    widened to `[v - 0.5, v + 0.5]`.

    Args:
        lo: Lower bound of the data.
        hi: Upper bound of the data.
        name: A colour-map name, or `"auto"`. Defaults to `"auto"`.

    Returns:
        `(map name, lo, hi)`.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        lo, hi = 0.0, 1.0
    signed = lo < 0 < hi
    chosen = ("diverging" if signed else "viridis") if name == "auto" else name
    if chosen == "diverging" and signed:
        m = max(-lo, hi)
        return chosen, -m, m
    if lo == hi:
        return chosen, lo - 0.5, hi + 0.5
    return chosen, lo, hi


def resolve_scale(
    mode: str,
    colormap: str,
    layer_range: Sequence[float],
    map_range: Sequence[float],
    fixed: Sequence[float] | None = None,
) -> tuple[str, float, float]:
    """The colour scale of one drawing, by range mode.

    Args:
        mode: `"layer"` (the layer's range over every step), `"map"` (the range of the values on
            display) or `"fixed"` (the user's `fixed` range, used as given; an empty or reversed
            one falls back to `"layer"`).
        colormap: A colour-map name, or `"auto"`.
        layer_range: `(lo, hi)` of the layer over every step.
        map_range: `(lo, hi)` of the finite values on display.
        fixed: `(lo, hi)` chosen by the user. Defaults to `None`.

    Returns:
        `(map name, lo, hi)`.
    """
    rng = map_range if mode == "map" else layer_range
    if mode == "fixed" and fixed is not None:
        flo, fhi = float(fixed[0]), float(fixed[1])
        if math.isfinite(flo) and math.isfinite(fhi) and flo < fhi:
            signed = flo < 0 < fhi
            chosen = ("diverging" if signed else "viridis") if colormap == "auto" else colormap
            return chosen, flo, fhi
    return choose_scale(float(rng[0]), float(rng[1]), colormap)


def finite_range(values: np.ndarray) -> tuple[float, float]:
    """`(min, max)` of the finite values, or `(0.0, 1.0)` if there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)


def levels(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Colour levels 0..255 of `values` on the scale `[lo, hi]`, as the front-end computes them.

    A value's level is `floor((v - lo) * 255 / (hi - lo) + 0.5)`, clipped to `[0, 255]`; values at
    or below `lo` (and `-inf`) take level 0, at or above `hi` (and `+inf`) level 255. NaN gets
    level 256, which `colorize` paints magenta.

    Args:
        values: Any array of numbers.
        lo: Value of the first colour.
        hi: Value of the last colour.

    Returns:
        An int16 array of `values`' shape.
    """
    v = np.asarray(values, dtype=np.float64)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        level = (v - lo) * scale + 0.5
        out = np.where(level > 255, 255, np.where(level > 0, np.trunc(level), 0))
    out = np.where(np.isnan(v), 256, out)
    return out.astype(np.int16)


def colorize(level: np.ndarray, name: str) -> np.ndarray:
    """RGB colours `(..., 3)` uint8 of levels from `levels` (256 is NaN: magenta)."""
    table = np.vstack([lut(name), np.array([nan_rgb()], dtype=np.uint8)])
    return table[np.asarray(level)]
