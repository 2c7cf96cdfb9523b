"""The static `text/html` picture of a viewer, for where no widget can run.

nbconvert, nbviewer and GitHub show a notebook's saved outputs without a kernel or a widget
manager: there the live viewer is an empty box. A viewer's output therefore also carries this
picture of its state at the last snapshot: the current layer's heatmap and histogram as inline
PNG images, a table of per-layer statistics, and the findings of the health checks. It is plain
HTML (no script), NumPy and the standard library only, and small (under ~150 KB by default: the
images are capped at `max_image_px` a side and the table at `max_layers` rows).

The heatmap is the view the front-end draws (`js/src/heatmap.js` `viewOf`, mirrored by
`view_indices`) in the same colours (`colormaps`). Text from the model (layer names, messages) is
escaped with `html.escape`.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.health import histogram_note
from . import colormaps, png

if TYPE_CHECKING:
    from ..core.reduce import Snapshot

BAR_COLUMNS = 4
"""Pixel columns per sample in the bar view of 1-D outputs (the last one is a gap), as in JS."""
BAR_ROWS = 120
"""Pixel rows of the bar view, as in JS."""
HIST_SIZE = (256, 72)
"""Width and height of the histogram image, in pixels."""
HIST_RGB = (25, 118, 210)
"""Bar colour of the histogram image (the front-end's light-theme bar colour)."""
DEFAULT_MAX_LAYERS = 24
DEFAULT_MAX_IMAGE_PX = 256
DEFAULT_MAX_FINDINGS = 12


@dataclasses.dataclass(frozen=True)
class ViewState:
    """What the viewer shows: the front-end's view traits, with their defaults.

    Attributes:
        sample: Sample of the probe. Defaults to `0`.
        channel: Channel of a 4-D or 5-D output. Defaults to `0`.
        slice: Depth slice of a 5-D output. Defaults to `0`.
        montage: Show every channel in a grid. Defaults to `False`.
        colormap: A name from `colormaps.colormaps()`, or `"auto"`. Defaults to `"auto"`.
        range_mode: `"layer"`, `"map"` or `"fixed"`. Defaults to `"layer"`.
        range_lo: Low end of the fixed range. Defaults to `0.0`.
        range_hi: High end of the fixed range. Defaults to `1.0`.
        log_y: Histogram counts on a log scale. Defaults to `False`.
    """

    sample: int = 0
    channel: int = 0
    slice: int = 0
    montage: bool = False
    colormap: str = "auto"
    range_mode: str = "layer"
    range_lo: float = 0.0
    range_hi: float = 1.0
    log_y: bool = False


# ------------------------------------------------------------------------------ heatmap


def _clamp(v: int, n: int) -> int:
    return max(0, min(n - 1, int(v)))


def view_indices(shape: Sequence[int], layout: str, state: ViewState = ViewState()) -> np.ndarray:
    """Flat indices into a display array of every pixel of its 2-D view; -1 marks a gap.

    The mirror of the front-end's `viewOf(...).at(x, y)` for image layouts: `ND` is samples x
    units, `NTD` time x features of one sample, `NHWC` (and `NDHWC`, at one depth slice) one
    channel of one sample, or with `montage` every channel in a grid of tiles one pixel apart.

    Args:
        shape: The display array's shape.
        layout: Its layout: `ND`, `NTD`, `NHWC` or `NDHWC` (`bars` has its own picture).
        state: Sample, channel, slice and montage. Defaults to `ViewState()`.

    Returns:
        An int64 array `(height, width)`.

    Raises:
        ValueError: If `layout` is not an image layout.
    """
    if layout == "ND":
        n, d = shape
        return np.arange(n * d, dtype=np.int64).reshape(n, d)
    if layout == "NTD":
        n, t, d = shape
        s = _clamp(state.sample, n)
        return s * t * d + np.arange(t * d, dtype=np.int64).reshape(t, d)
    if layout in ("NHWC", "NDHWC"):
        deep = layout == "NDHWC"
        n, dp, h, w, c = shape if deep else (shape[0], 1, *shape[1:])
        s = _clamp(state.sample, n)
        z = _clamp(state.slice, dp)
        base = (s * dp + z) * h
        rows = np.arange(h, dtype=np.int64)[:, None]
        cols = np.arange(w, dtype=np.int64)[None, :]
        if not state.montage or c == 1:
            return ((base + rows) * w + cols) * c + _clamp(state.channel, c)
        grid_cols = math.ceil(math.sqrt(c))
        grid_rows = math.ceil(c / grid_cols)
        out = np.full((grid_rows * (h + 1) - 1, grid_cols * (w + 1) - 1), -1, dtype=np.int64)
        for ch in range(c):
            y0 = (ch // grid_cols) * (h + 1)
            x0 = (ch % grid_cols) * (w + 1)
            out[y0 : y0 + h, x0 : x0 + w] = ((base + rows) * w + cols) * c + ch
        return out
    raise ValueError(
        f"view_indices received layout {layout!r}; it draws ND, NTD, NHWC and NDHWC "
        "(bars are drawn by bar_levels)."
    )


def bar_levels(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Colour levels of the bar view of a `bars` display (one bar per sample); -1 is a gap.

    The mirror of the front-end's `paintBars`: `BAR_COLUMNS` columns per sample (the last a gap),
    `BAR_ROWS` rows; a bar rises from zero (or the nearer edge of `[lo, hi]`) to its value, in
    the colour of its value; a NaN sample fills its columns with NaN (level 256).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    out = np.full((BAR_ROWS, v.size * BAR_COLUMNS), -1, dtype=np.int16)
    span = (hi - lo) or 1.0

    def row_of(x: float) -> int:
        frac = max(0.0, min(1.0, (x - lo) / span))
        return math.floor((BAR_ROWS - 1) * (1 - frac) + 0.5)

    base = row_of(max(lo, min(hi, 0.0)))
    lev = colormaps.levels(v, lo, hi)
    for i, x in enumerate(v):
        cols = slice(i * BAR_COLUMNS, (i + 1) * BAR_COLUMNS - 1)
        if math.isnan(x):
            out[:, cols] = 256
            continue
        top = row_of(x) if math.isfinite(x) else (0 if x > 0 else BAR_ROWS - 1)
        a, b = sorted((top, base))
        out[a : b + 1, cols] = lev[i]
    return out


def heatmap_rgba(
    display: np.ndarray,
    layout: str,
    state: ViewState = ViewState(),
    layer_range: Sequence[float] | None = None,
    max_px: int = DEFAULT_MAX_IMAGE_PX,
) -> tuple[np.ndarray, tuple[str, float, float], dict[str, int]]:
    """The heatmap of a display array as RGBA pixels, the colour scale it used, and what it
    shows that is not a finite number.

    Args:
        display: A display array (float16 from a `Snapshot`, or any floats).
        layout: Its layout.
        state: What to show and the colour settings. Defaults to `ViewState()`.
        layer_range: `(lo, hi)` of the layer over every step, for range mode `"layer"`; `None`
            uses the range of the values on display. Defaults to `None`.
        max_px: Largest side of the picture; a larger view keeps every k-th pixel. Defaults to
            `256`.

    Returns:
        `(rgba, (map name, lo, hi), counts)`: a `(height, width, 4)` uint8 array (gaps
        transparent), the colour scale, and how many of its pixels show a NaN, +inf and -inf
        (`{"nan": ..., "posinf": ..., "neginf": ...}`, as the front-end's `paint` counts them,
        for the key under its colour bar; the infinities take the map's end colours).
    """
    data = np.asarray(display, dtype=np.float64)
    if layout == "bars":
        values = data.ravel()
        map_range = colormaps.finite_range(values)
    else:
        idx = view_indices(data.shape, layout, state)
        values = np.where(idx >= 0, data.ravel()[np.maximum(idx, 0)], np.nan)
        map_range = colormaps.finite_range(values[idx >= 0])
    scale = colormaps.resolve_scale(
        state.range_mode,
        state.colormap,
        layer_range if layer_range is not None else map_range,
        map_range,
        (state.range_lo, state.range_hi),
    )
    name, lo, hi = scale
    if layout == "bars":
        lev = bar_levels(values, lo, hi)
        gap = lev < 0
    else:
        lev = colormaps.levels(values, lo, hi)
        gap = idx < 0
    rgba = np.zeros((*lev.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colormaps.colorize(np.where(gap, 0, lev), name)
    rgba[..., 3] = 255
    rgba[gap] = 0  # transparent black, as the front-end leaves gaps
    step = max(1, math.ceil(max(rgba.shape[:2]) / max_px))
    cells = (
        np.broadcast_to(np.repeat(values, BAR_COLUMNS), lev.shape) if layout == "bars" else values
    )
    shown = ~gap
    masks = {
        "nan": (lev == 256) & shown,
        "posinf": (cells == np.inf) & shown,
        "neginf": (cells == -np.inf) & shown,
    }
    counts = {kind: int(np.count_nonzero(m[::step, ::step])) for kind, m in masks.items()}
    return rgba[::step, ::step], scale, counts


_KEY_NAMES = {"nan": "NaN", "posinf": "+inf", "neginf": "\u2212inf"}


def _key(counts: dict[str, int], name: str) -> str:
    """The key of the colours of NaN, +inf and -inf (the map's end colours), after the colour
    range, for those the picture shows."""
    table = colormaps.lut(name)
    colours = {"nan": colormaps.nan_rgb(), "posinf": table[255], "neginf": table[0]}
    entries = []
    for kind, label in _KEY_NAMES.items():
        if counts[kind]:
            r, g, b = (int(c) for c in colours[kind])
            entries.append(
                '<span style="display:inline-block;width:10px;height:10px;'
                f'vertical-align:middle;background:#{r:02x}{g:02x}{b:02x}"></span> {label}'
            )
    if not entries:
        return ""
    return f' · <span class="kerasviz-static-key">{" ".join(entries)}</span>'


# ------------------------------------------------------------------------------ histogram


def histogram_rgba(
    counts: np.ndarray, log_y: bool = False, size: tuple[int, int] = HIST_SIZE
) -> np.ndarray:
    """The histogram as RGBA pixels: one bar per bin on a transparent background.

    Args:
        counts: Histogram counts.
        log_y: Heights by `log10(1 + count)` instead of `count`. Defaults to `False`.
        size: `(width, height)` in pixels. Defaults to `HIST_SIZE`.

    Returns:
        A `(height, width, 4)` uint8 array.
    """
    width, height = size
    c = np.asarray(counts, dtype=np.float64)
    f = np.log10(1 + c) if log_y else c
    top = f.max() if f.size else 0.0
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    if not f.size or top <= 0:
        return rgba
    n = f.size
    edges = np.floor(np.arange(n + 1) * width / n).astype(int)
    bar_height = np.ceil(f / top * height).astype(int)
    for i in range(n):
        x0, x1 = edges[i], edges[i + 1]
        if x1 - x0 > 3:
            x1 -= 1  # a pixel apart when bins are wide enough
        if bar_height[i] > 0 and x1 > x0:
            rgba[height - bar_height[i] :, x0:x1] = (*HIST_RGB, 255)
    return rgba


# ------------------------------------------------------------------------------ text


def format_number(v: Any) -> str:
    """A number as the front-end writes it: 5 significant digits, exponents below 1e-3 and from
    1e5 on, `NaN`, `inf`, and `—` for missing."""
    if v is None:
        return "—"
    x = float(v)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e5:
        return f"{x:.3e}".replace("e-0", "e-").replace("e+0", "e+")
    return f"{float(f'{x:.5g}'):.12g}"


def _shape(shape: Any) -> str:
    dims = ["None" if d is None else str(d) for d in (shape or ())]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


_CELL = 'style="padding:1px 8px;text-align:right;font-variant-numeric:tabular-nums"'
_NAME = 'style="padding:1px 8px;text-align:left;font-family:monospace"'
_COLUMNS = ("layer", "shape", "min", "max", "mean", "std", "zeros", "NaN", "inf")


def _stats_table(
    rows: Sequence[tuple[str, Mapping[str, Any]]], current: str | None, max_layers: int
) -> str:
    shown = list(rows[:max_layers])
    if current is not None and all(name != current for name, _ in shown):
        shown += [r for r in rows if r[0] == current]  # the layer on display is always listed
    head = "".join(f"<th {_CELL if i > 1 else _NAME}>{c}</th>" for i, c in enumerate(_COLUMNS))
    body = []
    for name, stats in shown:
        zero = stats.get("zero_fraction")
        cells = [
            _shape(stats.get("shape")),
            format_number(stats.get("min")),
            format_number(stats.get("max")),
            format_number(stats.get("mean")),
            format_number(stats.get("std")),
            "—" if zero is None else f"{100 * float(zero):.1f}%",
            str(stats.get("nan_count", 0)),
            str(stats.get("inf_count", 0)),
        ]
        mark = ' style="font-weight:bold"' if name == current else ""
        tds = f"<td {_NAME}>{_esc(name)}</td>" + f"<td {_NAME}>{_esc(cells[0])}</td>"
        tds += "".join(f"<td {_CELL}>{_esc(c)}</td>" for c in cells[1:])
        body.append(f"<tr{mark}>{tds}</tr>")
    more = len(rows) - len(shown)
    if more > 0:
        body.append(
            f'<tr><td colspan="{len(_COLUMNS)}" {_NAME}>… and {more} more '
            f"layer{'s' if more > 1 else ''}</td></tr>"
        )
    return (
        '<table class="kerasviz-static-stats" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _findings(findings: Sequence[Mapping[str, Any]], limit: int) -> str:
    if not findings:
        return ""
    items = []
    for f in findings[:limit]:
        fraction = f.get("fraction")
        share = "" if fraction is None else f" ({100 * float(fraction):.0f}%)"
        items.append(
            f"<li><code>{_esc(f.get('layer', ''))}</code> · epoch {_esc(f.get('epoch', ''))} · "
            f"{_esc(f.get('kind', ''))}{_esc(share)}: {_esc(f.get('message', ''))}</li>"
        )
    more = len(findings) - limit
    if more > 0:
        items.append(f"<li>… and {more} more</li>")
    return (
        '<div class="kerasviz-static-findings"><b>Findings</b>'
        f'<ul style="margin:2px 0 0 0">{"".join(items)}</ul></div>'
    )


# ------------------------------------------------------------------------------ page part


def render(
    snapshot: Snapshot | None,
    rows: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    state: ViewState = ViewState(),
    layer_range: Sequence[float] | None = None,
    epochs: Sequence[float] = (),
    logs: Mapping[str, float] | None = None,
    findings: Sequence[Mapping[str, Any]] = (),
    max_layers: int = DEFAULT_MAX_LAYERS,
    max_image_px: int = DEFAULT_MAX_IMAGE_PX,
    max_findings: int = DEFAULT_MAX_FINDINGS,
    viewer_id: str = "",
) -> str:
    """The static HTML picture of a viewer at one step.

    Args:
        snapshot: The layer on display at the step on display (its display array, histogram
            and statistics), or `None` before the first snapshot.
        rows: `(layer id, statistics)` of every layer at that step, in model order (the
            statistics as `compute_stats` gives them).
        state: The view traits. Defaults to `ViewState()`.
        layer_range: `(lo, hi)` of the shown layer over every step (range mode `"layer"`).
            Defaults to `None` (the range of the values on display).
        epochs: Every epoch label kept, ascending, for "epoch 3 of 20". Defaults to `()`.
        logs: Training logs at that step (e.g. `loss`). Defaults to `None`.
        findings: Health findings, dicts with `layer`, `epoch`, `kind`, `fraction` and
            `message`. Defaults to `()`.
        max_layers: Rows of the statistics table before "… and K more layers". Defaults to
            `24`.
        max_image_px: Largest side of the heatmap image. Defaults to `256`.
        max_findings: Findings listed before "… and K more". Defaults to `12`.
        viewer_id: The viewer's id, as `data-kv-viewer`: the live front-end hides the picture
            of its own viewer once it has drawn. Defaults to `""`.

    Returns:
        One `<div class="kerasviz-static">` element, as text.
    """
    parts = []
    if snapshot is None:
        head = "kerasviz_widget: no snapshot recorded yet."
    else:
        last = epochs[-1] if epochs else snapshot.epoch
        head = (
            f"<code>{_esc(snapshot.layer)}</code> at epoch {_esc(snapshot.epoch)} of {_esc(last)}"
        )
        for key in ("loss", "val_loss"):
            if logs and logs.get(key) is not None:
                head += f" · {key} {_esc(format_number(logs[key]))}"
    parts.append(f'<div style="margin-bottom:4px">{head}</div>')
    if snapshot is not None:
        rgba, (name, lo, hi), nonfinite = heatmap_rgba(
            snapshot.display, snapshot.layout, state, layer_range, max_image_px
        )
        h, w = rgba.shape[:2]
        zoom = max(1, 256 // max(h, w))  # enlarge small maps by whole pixels
        alt = f"heatmap of {snapshot.layer} at epoch {snapshot.epoch}"
        heat = (
            f'<img class="kerasviz-static-heatmap" alt="{_esc(alt)}" width="{w * zoom}" '
            f'height="{h * zoom}" style="image-rendering:pixelated" '
            f'src="{png.data_uri(png.encode(rgba))}">'
            f'<div style="font-size:11px">colours: {_esc(name)}, '
            f"{_esc(format_number(lo))} to {_esc(format_number(hi))}{_key(nonfinite, name)}</div>"
        )
        hist = histogram_rgba(snapshot.counts, state.log_y)
        hw, hh = HIST_SIZE
        counts = np.asarray(snapshot.counts)
        ylabel = "log10(1 + count)" if state.log_y else "count"
        hist_html = (
            f'<img class="kerasviz-static-histogram" alt="{_esc("histogram of " + snapshot.layer)}" '
            f'width="{hw}" height="{hh}" style="border-bottom:1px solid #999" '
            f'src="{png.data_uri(png.encode(hist))}">'
            f'<div style="font-size:11px;display:flex;justify-content:space-between;width:{hw}px">'
            f"<span>{_esc(format_number(snapshot.hist_lo))}</span>"
            f"<span>{ylabel}, max {int(counts.max()) if counts.size else 0}</span>"
            f"<span>{_esc(format_number(snapshot.hist_hi))}</span></div>"
        )
        note = histogram_note(snapshot.stats)
        if note:
            hist_html += (
                f'<div class="kerasviz-static-note" style="font-size:11px">{_esc(note)}</div>'
            )
        parts.append(
            '<div style="display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap">'
            f"<div>{heat}</div><div>{hist_html}</div></div>"
        )
    parts.append(_stats_table(rows, snapshot.layer if snapshot else None, max_layers))
    parts.append(_findings(findings, max_findings))
    parts.append(
        '<div style="font-size:11px;color:#666">A static picture of the viewer at its last '
        "snapshot; run the notebook to get the live viewer.</div>"
    )
    return (
        f'<div class="kerasviz-static" data-kv-viewer="{_esc(viewer_id)}" '
        'style="font-family:system-ui,sans-serif;font-size:13px">' + "".join(parts) + "</div>"
    )
