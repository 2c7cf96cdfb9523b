// Canvas charts: the histogram, the timeline and the ridge view (histograms over epochs).
//
// Pure drawing on a 2-D context in CSS pixels (`prepareCanvas` sets the device-pixel transform):
// no DOM reads, no DOM text. Every function takes the context, the size in CSS pixels, the data
// and a theme (`themeFrom`), draws, and returns its layout: the plot rectangle, the ticks, the
// box of every label it wrote (`boxes`, for tests and for hit testing) and whatever a click
// needs. Text, layer names included, is only ever drawn with `fillText`.
//
// Labels never overlap: tick counts are chosen from measured label widths, axis titles are left
// out when they do not fit beside their axis, and the legend has a row of its own.

import { niceTicks } from "./colormap.js";

const PAD = 4; // CSS px around the drawing
const TICK = 4; // length of a tick mark
const GAP = 3; // between a tick mark and its label, or a label and a title
const POINT_RADIUS = 2.5; // timeline step markers
const HIT_RADIUS = 8; // how far from a step marker (along x) a click still picks it

// ------------------------------------------------------------------------------ theme

// Each theme key: the CSS variables read for it, in order, then the light and dark defaults.
const THEME_VARS = {
  fontFamily: [["--jp-ui-font-family"], "system-ui, sans-serif", "system-ui, sans-serif"],
  fg: [["--kv-chart-fg", "--jp-ui-font-color1"], "#222222", "#e0e0e0"],
  muted: [["--kv-chart-muted", "--jp-ui-font-color2"], "#616161", "#a0a0a0"],
  grid: [["--kv-chart-grid", "--jp-border-color2"], "#e0e0e0", "#424242"],
  bg: [["--kv-chart-bg", "--jp-layout-color0"], "#ffffff", "#111111"],
  bar: [["--kv-chart-bar", "--jp-brand-color1"], "#1976d2", "#64b5f6"],
  overlay: [["--kv-chart-overlay"], "#d84315", "#ff8a65"],
  mean: [["--kv-chart-mean", "--jp-brand-color1"], "#1976d2", "#64b5f6"],
  zero: [["--kv-chart-zero"], "#ef6c00", "#ffb74d"],
  loss: [["--kv-chart-loss"], "#2e7d32", "#81c784"],
  valLoss: [["--kv-chart-val-loss"], "#8e24aa", "#ce93d8"],
  cursor: [["--kv-chart-cursor", "--jp-ui-font-color1"], "#222222", "#e0e0e0"],
};

/** Relative luminance (0 dark … 1 light) of a CSS colour in #rgb, #rrggbb or rgb() form; NaN if unknown. */
export function luminance(color) {
  const text = String(color || "").trim();
  let rgb = null;
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(text);
  if (hex) {
    const h = hex[1].length === 3 ? [...hex[1]].map((c) => c + c).join("") : hex[1];
    rgb = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  } else {
    const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/i.exec(text);
    if (m) rgb = [m[1], m[2], m[3]].map(Number);
  }
  if (!rgb) return NaN;
  return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255;
}

/**
 * The chart theme from CSS variables: `read(name)` returns a variable's value (e.g.
 * `getComputedStyle(el).getPropertyValue(name)`), or "" when unset. A dark background
 * (`--jp-layout-color0`) switches the defaults of every unset colour to the dark ones.
 */
export function themeFrom(read = () => "", { fontSize = 11 } = {}) {
  const value = (names) => {
    for (const name of names) {
      const v = String(read(name) || "").trim();
      if (v) return v;
    }
    return "";
  };
  const dark = luminance(value(THEME_VARS.bg[0])) < 0.35;
  const theme = { fontSize, dark };
  for (const [key, [names, light, darkDefault]] of Object.entries(THEME_VARS)) {
    theme[key] = value(names) || (dark ? darkDefault : light);
  }
  return theme;
}

/** The light theme with no CSS variables: the default of every drawing function. */
export const DEFAULT_THEME = themeFrom();

// ------------------------------------------------------------------------------ canvas

/**
 * Size a canvas for `width` x `height` CSS pixels at device pixel ratio `dpr`: the backing store
 * gets whole device pixels, the context draws in CSS pixels. Returns the cleared context.
 */
export function prepareCanvas(canvas, width, height, dpr = 1) {
  const w = Math.max(1, Math.round(width * dpr));
  const h = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  if (canvas.style) {
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

// ------------------------------------------------------------------------------ numbers

/** A tick label for `v` on an axis whose ticks are `step` apart: no more digits than the step needs. */
export function formatTick(v, step) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  const s = Math.abs(step) || a;
  if (a >= 1e5 || a < 1e-3) {
    const digits = Math.max(0, Math.min(3, Math.floor(Math.log10(a)) - Math.floor(Math.log10(s))));
    return v.toExponential(digits);
  }
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(s) + 1e-9)));
  return v.toFixed(decimals);
}

/** A count as short text: 950, 9500, 95k, 9.5M. */
export function formatCount(n) {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  const short = (v, unit) => `${Number(v.toPrecision(v < 10 ? 2 : 3))}${unit}`;
  if (a < 1e4) return String(Math.round(n));
  if (a < 1e6) return short(n / 1e3, "k");
  if (a < 1e9) return short(n / 1e6, "M");
  return short(n / 1e9, "G");
}

// Finite [min, max] of several arrays, or null.
function extent(arrays) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const arr of arrays) {
    if (!arr) continue;
    for (const v of arr) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

// A padded domain around [lo, hi]; one value gets +-0.5 (or +-5 %).
function padded(range, pad = 0.05) {
  if (!range) return [0, 1];
  const [lo, hi] = range;
  if (lo === hi) {
    const d = Math.abs(lo) * 0.05 || 0.5;
    return [lo - d, hi + d];
  }
  const m = (hi - lo) * pad;
  return [lo - m, hi + m];
}

const linear = (d0, d1, r0, r1) => {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
};

// ------------------------------------------------------------------------------ text

function fontOf(theme) {
  return `${theme.fontSize}px ${theme.fontFamily}`;
}

function textWidth(ctx, text) {
  return ctx.measureText(text).width;
}

/** `text`, cut short with an ellipsis where it is wider than `width` pixels. */
export function fitText(ctx, text, width) {
  if (textWidth(ctx, text) <= width) return text;
  let n = text.length - 1;
  while (n > 0 && textWidth(ctx, `${text.slice(0, n)}…`) > width) n--;
  return `${text.slice(0, n)}…`;
}

/** Do two boxes {x0, y0, x1, y1} overlap (touching edges do not count)? */
export function overlaps(a, b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

// Writes one label and records its box. `align`: left|center|right; `baseline`: top|middle|bottom.
function label(ctx, out, theme, text, x, y, { align = "left", baseline = "middle", kind, color }) {
  const w = textWidth(ctx, text);
  const h = theme.fontSize;
  const x0 = align === "left" ? x : align === "right" ? x - w : x - w / 2;
  const y0 = baseline === "top" ? y : baseline === "bottom" ? y - h : y - h / 2;
  ctx.fillStyle = color || theme.fg;
  ctx.textAlign = align;
  ctx.textBaseline = baseline;
  ctx.fillText(text, x, y);
  const box = { kind, text, x0, y0, x1: x0 + w, y1: y0 + h };
  out.boxes.push(box);
  return box;
}

// A title written bottom to top, centred on (x, y); its box is the rotated text's.
function verticalLabel(ctx, out, theme, text, x, y, kind) {
  const w = textWidth(ctx, text);
  const h = theme.fontSize;
  ctx.save();
  ctx.translate(x, y);
  ctx.rotate(-Math.PI / 2);
  ctx.fillStyle = theme.muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, 0, 0);
  ctx.restore();
  const box = { kind, text, x0: x - h / 2, y0: y - w / 2, x1: x + h / 2, y1: y + w / 2 };
  out.boxes.push(box);
  return box;
}

// The most ticks (from `candidates(count)`, count descending) whose labels keep `gap` px apart;
// `size(text)` is a label's extent along the axis. With `bounds` [min, max] (px), a tick whose
// label, centred on it, would cross them is left out.
function fitTicks(maxCount, candidates, format, size, toPixel, gap = 6, bounds = null) {
  for (let count = Math.max(1, maxCount); count >= 1; count--) {
    let values = candidates(count);
    let labels = values.map((v) => format(v, values));
    if (bounds) {
      const inside = values.map((v, i) => {
        const half = size(labels[i]) / 2;
        const p = toPixel(v);
        return p - half >= bounds[0] && p + half <= bounds[1];
      });
      values = values.filter((_, i) => inside[i]);
      labels = labels.filter((_, i) => inside[i]);
    }
    let ok = true;
    for (let i = 1; i < values.length && ok; i++) {
      const room = Math.abs(toPixel(values[i]) - toPixel(values[i - 1]));
      ok = room >= (size(labels[i]) + size(labels[i - 1])) / 2 + gap;
    }
    if (ok) return values.map((v, i) => ({ value: v, text: labels[i] }));
  }
  return [];
}

const stepOf = (values) => (values.length > 1 ? values[1] - values[0] : Math.abs(values[0]) || 1);
const formatLinear = (v, values) => formatTick(v, stepOf(values));

/** Whole numbers 1, 2 or 5 times a power of ten apart covering [lo, hi], about `count` of them. */
export function integerTicks(lo, hi, count = 5) {
  const ticks = niceTicks(lo, hi, count).filter((v) => Number.isInteger(v));
  if (ticks.length >= 2 || !(hi > lo)) return ticks;
  const out = [];
  for (let v = Math.ceil(lo); v <= hi; v++) out.push(v);
  return out.length ? out : ticks;
}

// Vertical axis on the left (side "left") or right of the plot: tick marks and labels.
function drawYTicks(ctx, out, theme, plot, ticks, y, side, kind) {
  ctx.strokeStyle = theme.muted;
  ctx.lineWidth = 1;
  ctx.beginPath();
  const x = side === "left" ? plot.left : plot.right;
  const dir = side === "left" ? -1 : 1;
  for (const t of ticks) {
    const py = Math.round(y(t.value)) + 0.5;
    ctx.moveTo(x, py);
    ctx.lineTo(x + dir * TICK, py);
  }
  ctx.stroke();
  for (const t of ticks) {
    label(ctx, out, theme, t.text, x + dir * (TICK + GAP), y(t.value), {
      align: side === "left" ? "right" : "left",
      kind,
      color: theme.muted,
    });
  }
}

function drawXTicks(ctx, out, theme, plot, ticks, x, kind) {
  ctx.strokeStyle = theme.muted;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const t of ticks) {
    const px = Math.round(x(t.value)) + 0.5;
    ctx.moveTo(px, plot.bottom);
    ctx.lineTo(px, plot.bottom + TICK);
  }
  ctx.stroke();
  for (const t of ticks) {
    label(ctx, out, theme, t.text, x(t.value), plot.bottom + TICK + GAP, {
      align: "center",
      baseline: "top",
      kind,
      color: theme.muted,
    });
  }
}

function drawFrame(ctx, theme, plot, { right = false } = {}) {
  ctx.strokeStyle = theme.grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(plot.left + 0.5, plot.top);
  ctx.lineTo(plot.left + 0.5, plot.bottom + 0.5);
  ctx.lineTo(plot.right, plot.bottom + 0.5);
  if (right) {
    ctx.moveTo(plot.right - 0.5, plot.top);
    ctx.lineTo(plot.right - 0.5, plot.bottom);
  }
  ctx.stroke();
}

// Horizontal grid lines at the ticks, under the data.
function drawGrid(ctx, theme, plot, ticks, y) {
  ctx.strokeStyle = theme.grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const t of ticks) {
    const py = Math.round(y(t.value)) + 0.5;
    ctx.moveTo(plot.left, py);
    ctx.lineTo(plot.right, py);
  }
  ctx.stroke();
}

// Legend entries [{text, color, style: "line"|"dashed"|"band"|"outline"|"bar"}] laid out in rows
// from (x, y) within `width`; returns the height used.
function drawLegend(ctx, out, theme, entries, x, y, width) {
  const swatch = 16;
  const h = theme.fontSize;
  let cx = x;
  let cy = y;
  for (const e of entries) {
    const w = swatch + GAP + textWidth(ctx, e.text);
    if (cx > x && cx + w > x + width) {
      cx = x;
      cy += h + GAP;
    }
    const my = cy + h / 2;
    ctx.save();
    if (e.style === "band" || e.style === "bar") {
      ctx.globalAlpha = e.style === "band" ? 0.25 : 1;
      ctx.fillStyle = e.color;
      ctx.fillRect(cx, my - 4, swatch, 8);
    } else {
      ctx.strokeStyle = e.color;
      ctx.lineWidth = e.style === "outline" ? 1.5 : 2;
      ctx.setLineDash(e.style === "dashed" ? [4, 3] : []);
      ctx.beginPath();
      ctx.moveTo(cx, my);
      ctx.lineTo(cx + swatch, my);
      ctx.stroke();
    }
    ctx.restore();
    out.boxes.push({
      kind: "legend-swatch",
      text: e.text,
      x0: cx,
      y0: my - 4,
      x1: cx + swatch,
      y1: my + 4,
    });
    label(ctx, out, theme, e.text, cx + swatch + GAP, cy, { baseline: "top", kind: "legend" });
    cx += w + 12;
  }
  return cy + h - y;
}

// ------------------------------------------------------------------------------ histogram

/** Log positions of counts: log10(1 + count), so that empty bins stay at zero. */
export const logCount = (c) => Math.log10(1 + c);

/**
 * Draw a histogram: bars of `hist.counts` over equal bins spanning `[hist.lo, hist.hi]`.
 *
 * Args: `ctx`, `size` {width, height} in CSS px, `hist` {lo, hi, counts}, options:
 *   logY      counts drawn at log10(1 + count), ticks at 0, 1, 10, 100, … (default false);
 *   overlay   a second histogram {lo, hi, counts} drawn as an outline over the same axes
 *             (a pinned step), or null (default);
 *   label, overlayLabel   legend texts of the bars and of the overlay (legend only if an overlay);
 *   xLabel    title of the x axis (default "value"); theme (default DEFAULT_THEME);
 *   note      what the histogram leaves out, as Python wrote it (`snapshot.hist.note`), or "":
 *             drawn in the middle of an empty plot, else after the x title (default "").
 * Returns {plot, x, y, xTicks, yTicks, bars: [{bin, x, y, width, height}], overlay, boxes}.
 */
export function drawHistogram(ctx, size, hist, options = {}) {
  const {
    logY = false,
    overlay = null,
    label: barLabel = "",
    overlayLabel = "pinned",
    xLabel = "value",
    note = "",
    theme = DEFAULT_THEME,
  } = options;
  const out = { boxes: [], bars: [], overlay: null };
  ctx.font = fontOf(theme);
  const fs = theme.fontSize;
  const yTitle = logY ? "count (log)" : "count";

  const hists = [hist, overlay].filter((h) => h && h.counts && h.counts.length);
  const xDomain = extent(hists.map((h) => [h.lo, h.hi])) || [0, 1];
  if (xDomain[0] === xDomain[1]) xDomain[1] = xDomain[0] + 1;
  const maxCount = extent(hists.map((h) => h.counts));
  const top = maxCount ? maxCount[1] : 0;
  const f = logY ? logCount : (c) => c;
  const yMax = top > 0 ? f(top) * 1.05 : 1;

  // Legend row (only to tell the overlay from the bars).
  let legendHeight = 0;
  const legend = overlay
    ? [
        { text: barLabel || "current", color: theme.bar, style: "bar" },
        { text: overlayLabel, color: theme.overlay, style: "outline" },
      ]
    : [];

  const plot = { top: PAD, bottom: size.height - PAD - fs - GAP - fs - GAP - TICK };
  if (legend.length) {
    legendHeight = drawLegend(ctx, out, theme, legend, PAD, PAD, size.width - 2 * PAD);
    plot.top = PAD + legendHeight + GAP + 2;
  }
  plot.top += fs / 2; // room for the top tick label
  const y = linear(0, yMax, plot.bottom, plot.top);

  const yCandidates = logY
    ? (count) => {
        const powers = [0];
        for (let p = 1; p <= Math.max(top, 1) * 1.0001; p *= 10) powers.push(p);
        const every = Math.ceil(powers.length / Math.max(1, count));
        return powers.filter((_, i) => i % every === 0).map(logCount);
      }
    : (count) => {
        const ticks = niceTicks(0, yMax, count).filter((v) => v <= yMax && Number.isInteger(v));
        return ticks.length ? ticks : [0];
      };
  const yFormat = logY ? (v) => formatCount(Math.round(10 ** v - 1)) : (v) => formatCount(v);
  const yTicks = fitTicks(
    Math.floor((plot.bottom - plot.top) / (fs * 2.2)),
    yCandidates,
    yFormat,
    () => fs,
    y,
    2,
  );
  const yLabelWidth = Math.max(0, ...yTicks.map((t) => textWidth(ctx, t.text)));
  const titleFits = textWidth(ctx, yTitle) <= plot.bottom - plot.top;
  plot.left = PAD + (titleFits ? fs + GAP : 0) + yLabelWidth + GAP + TICK;
  plot.right = size.width - PAD - fs; // room for the last x label's overhang
  const x = linear(xDomain[0], xDomain[1], plot.left, plot.right);

  const xTicks = fitTicks(
    Math.floor((plot.right - plot.left) / 40),
    (count) => niceTicks(xDomain[0], xDomain[1], count),
    formatLinear,
    (text) => textWidth(ctx, text),
    x,
    6,
    [0, size.width],
  );

  drawGrid(ctx, theme, plot, yTicks, y);

  // Bars: one rectangle per non-empty bin, a pixel apart when bins are wide enough.
  if (hist && hist.counts && hist.counts.length) {
    const n = hist.counts.length;
    const bw = (hist.hi - hist.lo) / n;
    ctx.fillStyle = theme.bar;
    for (let i = 0; i < n; i++) {
      const c = hist.counts[i];
      if (!(c > 0)) continue;
      const x0 = x(hist.lo + i * bw);
      const x1 = x(hist.lo + (i + 1) * bw);
      const gap = x1 - x0 > 3 ? 1 : 0;
      const py = y(f(c));
      const bar = {
        bin: i,
        x: x0,
        y: py,
        width: Math.max(1, x1 - x0 - gap),
        height: plot.bottom - py,
      };
      ctx.fillRect(bar.x, bar.y, bar.width, bar.height);
      out.bars.push(bar);
    }
  }

  // The overlay: the outline of the pinned histogram (a step line along its bin tops).
  if (overlay && overlay.counts && overlay.counts.length) {
    const n = overlay.counts.length;
    const bw = (overlay.hi - overlay.lo) / n;
    const path = [[x(overlay.lo), plot.bottom]];
    for (let i = 0; i < n; i++) {
      const py = y(f(overlay.counts[i]));
      path.push([x(overlay.lo + i * bw), py], [x(overlay.lo + (i + 1) * bw), py]);
    }
    path.push([x(overlay.hi), plot.bottom]);
    ctx.strokeStyle = theme.overlay;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    path.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.stroke();
    out.overlay = path;
  }

  // Nothing drawn (no finite value, no pinned step): the x axis would place nothing.
  const empty = out.bars.length === 0;
  const shownXTicks = empty && !out.overlay ? [] : xTicks;
  drawFrame(ctx, theme, plot);
  drawYTicks(ctx, out, theme, plot, yTicks, y, "left", "y-tick");
  drawXTicks(ctx, out, theme, plot, shownXTicks, x, "x-tick");
  if (titleFits) {
    verticalLabel(ctx, out, theme, yTitle, PAD + fs / 2, (plot.top + plot.bottom) / 2, "y-title");
  }
  // The note: in the middle of an empty plot, else after the x title (alone if both do not
  // fit), shortened with an ellipsis where even it does not.
  const middle = (plot.left + plot.right) / 2;
  let xTitle = xLabel;
  if (note && !empty) {
    const room = 2 * Math.min(middle - PAD, size.width - PAD - middle); // centred on the plot
    const both = `${xLabel} (${note})`;
    xTitle = textWidth(ctx, both) <= room ? both : fitText(ctx, note, room);
  }
  label(ctx, out, theme, xTitle, middle, size.height - PAD, {
    align: "center",
    baseline: "bottom",
    kind: "x-title",
    color: theme.muted,
  });
  if (note && empty) {
    const text = fitText(ctx, note, plot.right - plot.left);
    label(ctx, out, theme, text, middle, (plot.top + plot.bottom) / 2, {
      align: "center",
      kind: "note",
      color: theme.fg,
    });
  }
  return Object.assign(out, { plot, x, y, xTicks: shownXTicks, yTicks, yMax });
}

// ------------------------------------------------------------------------------ timeline

// Polyline through finite points, broken at gaps.
function polyline(ctx, xs, ys, x, y) {
  ctx.beginPath();
  let open = false;
  for (let i = 0; i < xs.length; i++) {
    const v = ys[i];
    if (!Number.isFinite(v) || !Number.isFinite(xs[i])) {
      open = false;
      continue;
    }
    if (open) ctx.lineTo(x(xs[i]), y(v));
    else ctx.moveTo(x(xs[i]), y(v));
    open = true;
  }
  ctx.stroke();
}

// Closed band between lower and upper, one polygon per run of finite values.
function band(ctx, xs, lower, upper, x, y) {
  let start = -1;
  const flush = (end) => {
    if (start < 0) return;
    ctx.beginPath();
    for (let i = start; i < end; i++) {
      const px = x(xs[i]);
      if (i === start) ctx.moveTo(px, y(upper[i]));
      else ctx.lineTo(px, y(upper[i]));
    }
    for (let i = end - 1; i >= start; i--) ctx.lineTo(x(xs[i]), y(lower[i]));
    ctx.closePath();
    ctx.fill();
    start = -1;
  };
  for (let i = 0; i < xs.length; i++) {
    const ok = Number.isFinite(lower[i]) && Number.isFinite(upper[i]) && Number.isFinite(xs[i]);
    if (ok && start < 0) start = i;
    if (!ok) flush(i);
  }
  flush(xs.length);
}

/**
 * Draw the timeline of one layer: mean ± std band and mean line (left axis), the zero fraction
 * (dashed, its own 0–1 scale over the plot's height), the training `loss` and `val_loss` on a
 * right-hand axis, a marker per step (for click-to-jump) and a cursor at the current epoch.
 *
 * Args: `ctx`, `size` {width, height} in CSS px, `series`:
 *   {epochs, mean, std, zero}   per-step statistics of the layer (arrays of one length);
 *   loss, valLoss               {epochs, values} of the training logs (optional);
 *   cursor                      the current epoch, or null;
 * options: theme (default DEFAULT_THEME).
 * Returns {plot, x, y, yLoss, xTicks, yTicks, lossTicks, points: [{index, epoch, x, y}], markers
 * (whether the points were drawn: only while they stand apart), cursorX, boxes}; `hitTimeline(layout, x, y)` turns a click into a step index.
 */
export function drawTimeline(ctx, size, series, options = {}) {
  const { theme = DEFAULT_THEME } = options;
  const out = { boxes: [], points: [], cursorX: null };
  ctx.font = fontOf(theme);
  const fs = theme.fontSize;
  const epochs = series.epochs || [];
  const mean = series.mean || [];
  const std = series.std || [];
  const zero = series.zero || [];
  const loss = series.loss && series.loss.values && series.loss.values.length ? series.loss : null;
  const valLoss =
    series.valLoss && series.valLoss.values && series.valLoss.values.length ? series.valLoss : null;
  const hasLoss = Boolean(loss || valLoss);

  const legend = [
    { text: "mean ± std", color: theme.mean, style: "line" },
    { text: "zero fraction (0–1)", color: theme.zero, style: "dashed" },
  ];
  if (loss) legend.push({ text: "loss", color: theme.loss, style: "line" });
  if (valLoss) legend.push({ text: "val_loss", color: theme.valLoss, style: "line" });
  const legendHeight = drawLegend(ctx, out, theme, legend, PAD, PAD, size.width - 2 * PAD);

  const plot = {
    top: PAD + legendHeight + GAP + fs / 2 + 2,
    bottom: size.height - PAD - fs - GAP - fs - GAP - TICK,
  };
  const lower = Array.from(mean, (m, i) => m - std[i]);
  const upper = Array.from(mean, (m, i) => m + std[i]);
  const yDomain = padded(extent([lower, upper, mean].map((a) => a.filter(Number.isFinite))));
  const y = linear(yDomain[0], yDomain[1], plot.bottom, plot.top);
  const lossDomain = padded(
    extent(
      [loss?.values, valLoss?.values].map((a) => (a ? Array.from(a).filter(Number.isFinite) : [])),
    ),
  );
  const yLoss = linear(lossDomain[0], lossDomain[1], plot.bottom, plot.top);
  const zeroY = linear(0, 1, plot.bottom, plot.top);

  const vCount = Math.floor((plot.bottom - plot.top) / (fs * 2.2));
  const yTicks = fitTicks(
    vCount,
    (n) => niceTicks(yDomain[0], yDomain[1], n),
    formatLinear,
    () => fs,
    y,
    2,
  );
  const lossTicks = hasLoss
    ? fitTicks(
        vCount,
        (n) => niceTicks(lossDomain[0], lossDomain[1], n),
        formatLinear,
        () => fs,
        yLoss,
        2,
      )
    : [];
  const widest = (ticks) => Math.max(0, ...ticks.map((t) => textWidth(ctx, t.text)));
  const plotHeight = plot.bottom - plot.top;
  const leftTitle = "mean ± std";
  const leftTitleFits = textWidth(ctx, leftTitle) <= plotHeight;
  const rightTitleFits = hasLoss && textWidth(ctx, "loss") <= plotHeight;
  plot.left = PAD + (leftTitleFits ? fs + GAP : 0) + widest(yTicks) + GAP + TICK;
  plot.right = hasLoss
    ? size.width - PAD - (rightTitleFits ? fs + GAP : 0) - widest(lossTicks) - GAP - TICK
    : size.width - PAD - fs;

  // Epochs map inside the plot with a marker's room at each end.
  const first = epochs.length ? Math.min(...epochs) : 0;
  const lastEpoch = epochs.length ? Math.max(...epochs) : 1;
  const last = Math.max(lastEpoch, first + 1);
  const inset = POINT_RADIUS + 2;
  const x = linear(first, last, plot.left + inset, plot.right - inset);
  const xTicks = fitTicks(
    Math.min(11, Math.floor((plot.right - plot.left) / 30)),
    (n) => integerTicks(first, last, n),
    (v) => String(v),
    (text) => textWidth(ctx, text),
    x,
    6,
    [0, size.width],
  );

  drawGrid(ctx, theme, plot, yTicks, y);

  ctx.save();
  ctx.fillStyle = theme.mean;
  ctx.globalAlpha = 0.2;
  band(ctx, epochs, lower, upper, x, y);
  ctx.restore();

  ctx.lineWidth = 1.5;
  ctx.strokeStyle = theme.mean;
  polyline(ctx, epochs, mean, x, y);

  ctx.save();
  ctx.setLineDash([4, 3]);
  ctx.strokeStyle = theme.zero;
  polyline(ctx, epochs, zero, x, zeroY);
  ctx.restore();

  if (loss) {
    ctx.strokeStyle = theme.loss;
    polyline(ctx, loss.epochs, loss.values, x, yLoss);
  }
  if (valLoss) {
    ctx.strokeStyle = theme.valLoss;
    polyline(ctx, valLoss.epochs, valLoss.values, x, yLoss);
  }

  // One marker per step, on the mean line (at the middle when the mean is not finite). Markers
  // are drawn only while they stand apart; the click targets are there either way.
  for (let i = 0; i < epochs.length; i++) {
    const px = x(epochs[i]);
    const py = Number.isFinite(mean[i]) ? y(mean[i]) : (plot.top + plot.bottom) / 2;
    out.points.push({ index: i, epoch: epochs[i], x: px, y: py });
  }
  let spacing = Infinity;
  for (let i = 1; i < out.points.length; i++) {
    spacing = Math.min(spacing, Math.abs(out.points[i].x - out.points[i - 1].x));
  }
  out.markers = spacing >= 3 * POINT_RADIUS;
  if (out.markers) {
    ctx.fillStyle = theme.mean;
    ctx.beginPath();
    for (const p of out.points) {
      ctx.moveTo(p.x + POINT_RADIUS, p.y);
      ctx.arc(p.x, p.y, POINT_RADIUS, 0, 2 * Math.PI);
    }
    ctx.fill();
  }

  if (series.cursor != null && Number.isFinite(series.cursor)) {
    const cx = Math.round(x(series.cursor)) + 0.5;
    ctx.strokeStyle = theme.cursor;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(cx, plot.top);
    ctx.lineTo(cx, plot.bottom);
    ctx.stroke();
    out.cursorX = cx;
  }

  drawFrame(ctx, theme, plot, { right: hasLoss });
  drawYTicks(ctx, out, theme, plot, yTicks, y, "left", "y-tick");
  if (hasLoss) drawYTicks(ctx, out, theme, plot, lossTicks, yLoss, "right", "loss-tick");
  drawXTicks(ctx, out, theme, plot, xTicks, x, "x-tick");
  const midY = (plot.top + plot.bottom) / 2;
  if (leftTitleFits) verticalLabel(ctx, out, theme, leftTitle, PAD + fs / 2, midY, "y-title");
  if (rightTitleFits) {
    verticalLabel(ctx, out, theme, "loss", size.width - PAD - fs / 2, midY, "loss-title");
  }
  label(ctx, out, theme, "epoch", (plot.left + plot.right) / 2, size.height - PAD, {
    align: "center",
    baseline: "bottom",
    kind: "x-title",
    color: theme.muted,
  });
  return Object.assign(out, { plot, x, y, yLoss, xTicks, yTicks, lossTicks });
}

/**
 * The step index (into the series' arrays) a click at (px, py) CSS px picks: the nearest step
 * marker along x, if it is within `HIT_RADIUS` px and the click is inside the plot; else -1.
 */
export function hitTimeline(layout, px, py) {
  const { plot, points } = layout;
  if (!plot || !points.length) return -1;
  if (px < plot.left - HIT_RADIUS || px > plot.right + HIT_RADIUS) return -1;
  if (py < plot.top - HIT_RADIUS || py > plot.bottom + HIT_RADIUS) return -1;
  let best = -1;
  let bestDx = Infinity;
  for (const p of points) {
    const dx = Math.abs(p.x - px);
    if (dx < bestDx) {
      bestDx = dx;
      best = p.index;
    }
  }
  return bestDx <= HIT_RADIUS ? best : -1;
}

// ------------------------------------------------------------------------------ ridge

/**
 * Draw the ridge view of one layer (TensorBoard's "offset" histograms): one curve per step, the
 * oldest at the back (top), the newest in front (bottom), each a density (count / (total × bin
 * width)) so steps with different ranges compare, all on one height scale.
 *
 * Args: `ctx`, `size` {width, height} in CSS px, `steps` [{epoch, lo, hi, counts}] ascending,
 * options: current (the epoch drawn in the accent colour, or null), overlap (how many row
 * spacings one curve may rise, default 2.5), xLabel (default "value"), theme.
 * Returns {plot, x, rows: [{index, epoch, baseline}], xTicks, boxes}; `hitRidge` picks a row.
 */
export function drawRidge(ctx, size, steps, options = {}) {
  const { current = null, overlap = 2.5, xLabel = "value", theme = DEFAULT_THEME } = options;
  const out = { boxes: [], rows: [] };
  ctx.font = fontOf(theme);
  const fs = theme.fontSize;
  const list = steps.filter((s) => s && s.counts && s.counts.length);
  const n = list.length;
  const epochText = list.map((s) => String(s.epoch));
  const labelWidth = Math.max(0, ...epochText.map((t) => textWidth(ctx, t)));
  const plot = {
    top: PAD + fs / 2,
    bottom: size.height - PAD - fs - GAP - fs - GAP - TICK,
    left: PAD + labelWidth + GAP + TICK,
    right: size.width - PAD - fs,
  };
  const xDomain = extent(list.map((s) => [s.lo, s.hi])) || [0, 1];
  if (xDomain[0] === xDomain[1]) xDomain[1] = xDomain[0] + 1;
  const x = linear(xDomain[0], xDomain[1], plot.left, plot.right);
  const rowStep = (plot.bottom - plot.top) / Math.max(1, n - 1 + overlap);
  const ridgeHeight = rowStep * overlap;

  const densities = list.map((s) => {
    const total = s.counts.reduce((a, b) => a + b, 0) || 1;
    const bw = (s.hi - s.lo) / s.counts.length || 1;
    return Array.from(s.counts, (c) => c / (total * bw));
  });
  const dMax = extent(densities)?.[1] || 1;

  for (let r = 0; r < n; r++) {
    const s = list[r];
    const baseline = plot.top + ridgeHeight + r * rowStep;
    out.rows.push({ index: steps.indexOf(s), epoch: s.epoch, baseline });
    const m = s.counts.length;
    const bw = (s.hi - s.lo) / m;
    ctx.beginPath();
    ctx.moveTo(x(s.lo), baseline);
    for (let i = 0; i < m; i++) {
      ctx.lineTo(x(s.lo + (i + 0.5) * bw), baseline - (densities[r][i] / dMax) * ridgeHeight);
    }
    ctx.lineTo(x(s.hi), baseline);
    ctx.closePath();
    const accent = current != null && s.epoch === current;
    // Opaque background first, so the curves in front hide the ones behind.
    ctx.fillStyle = theme.bg;
    ctx.fill();
    ctx.save();
    ctx.globalAlpha = accent ? 0.5 : 0.25;
    ctx.fillStyle = accent ? theme.overlay : theme.bar;
    ctx.fill();
    ctx.restore();
    ctx.strokeStyle = accent ? theme.overlay : theme.bar;
    ctx.lineWidth = accent ? 1.5 : 1;
    ctx.stroke();
  }

  // Epoch labels beside their baselines, thinned so they keep a line apart (the newest always).
  const every = Math.max(1, Math.ceil((fs + 2) / Math.max(rowStep, 1e-9)));
  for (let r = n - 1; r >= 0; r -= every) {
    label(ctx, out, theme, epochText[r], plot.left - TICK - GAP, out.rows[r].baseline, {
      align: "right",
      kind: "epoch-label",
      color: theme.muted,
    });
  }
  const xTicks = fitTicks(
    Math.floor((plot.right - plot.left) / 40),
    (count) => niceTicks(xDomain[0], xDomain[1], count),
    formatLinear,
    (text) => textWidth(ctx, text),
    x,
    6,
    [0, size.width],
  );
  drawXTicks(ctx, out, theme, plot, xTicks, x, "x-tick");
  label(ctx, out, theme, xLabel, (plot.left + plot.right) / 2, size.height - PAD, {
    align: "center",
    baseline: "bottom",
    kind: "x-title",
    color: theme.muted,
  });
  return Object.assign(out, { plot, x, xTicks, rowStep, ridgeHeight });
}

/** The index (into `steps`) of the ridge whose baseline is nearest a click at `py`, or -1. */
export function hitRidge(layout, px, py) {
  const { plot, rows, rowStep } = layout;
  if (!rows.length || px < plot.left || px > plot.right) return -1;
  let best = -1;
  let bestDy = Infinity;
  for (const row of rows) {
    // A click belongs to the ridge drawn above its baseline, up to one row spacing.
    const dy = row.baseline - py;
    if (dy >= -rowStep / 2 && dy < bestDy) {
      bestDy = dy;
      best = row.index;
    }
  }
  return best;
}
