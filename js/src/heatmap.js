// Heatmap views of a display array, by layout, and their painting through a colour LUT.
// Pure functions (no DOM): the node tests and the render benchmark import them directly.

/** Pixel columns per sample in the bar view of 1-D outputs (the last one is a gap). */
export const BAR_COLUMNS = 4;
/** Pixel rows of the bar view. */
export const BAR_ROWS = 120;

import { NAN_RGB } from "./colormap.js";

const clamp = (v, n) => Math.max(0, Math.min(n - 1, v | 0));

/**
 * The 2-D view of a snapshot's display array for the chosen sample / channel / slice.
 *
 * Returns {kind, width, height, at(x, y), locate(x, y), strided(y), tiles}:
 *   at(x, y)     the flat index into the display data of pixel (x, y), or -1 for a gap;
 *   locate(x, y) the display multi-index of that pixel (in the layout's axis order), or null;
 *   strided(y)   [offset, step] when row y reads data[offset + x * step] (the fast path), or null;
 *   tiles        in a montage, [{channel, x, y, width, height}] of every channel's tile.
 * A `montage` of a 4-D (or 5-D) output shows every channel of one sample in a grid.
 */
export function viewOf(display, { sample = 0, channel = 0, slice = 0, montage = false } = {}) {
  const { shape, layout } = display;
  switch (layout) {
    case "bars": {
      const [n] = shape;
      const at = (x) => (x % BAR_COLUMNS === BAR_COLUMNS - 1 ? -1 : Math.floor(x / BAR_COLUMNS));
      return {
        kind: "bars",
        layout,
        width: n * BAR_COLUMNS,
        height: BAR_ROWS,
        at,
        locate: (x) => (at(x) < 0 ? null : [at(x)]),
        strided: () => null,
        tiles: null,
      };
    }
    case "ND": {
      const [n, d] = shape;
      return image(
        layout,
        d,
        n,
        (x, y) => [y, x],
        (y) => [y * d, 1],
      );
    }
    case "NTD": {
      const [n, t, d] = shape;
      const s = clamp(sample, n);
      return image(
        layout,
        d,
        t,
        (x, y) => [s, y, x],
        (y) => [(s * t + y) * d, 1],
      );
    }
    case "NHWC":
    case "NDHWC": {
      const deep = layout === "NDHWC";
      const [n, dp, h, w, c] = deep ? shape : [shape[0], 1, ...shape.slice(1)];
      const s = clamp(sample, n);
      const z = clamp(slice, dp);
      const prefix = deep ? [s, z] : [s];
      const base = (s * dp + z) * h; // row offset of this sample (and slice), in rows of w * c
      if (!montage || c === 1) {
        const ch = clamp(channel, c);
        return image(
          layout,
          w,
          h,
          (x, y) => [...prefix, y, x, ch],
          (y) => [(base + y) * w * c + ch, c],
        );
      }
      return montageView(layout, shape, prefix, base, h, w, c);
    }
    default:
      throw new Error(`Unknown display layout ${layout}`);
  }
}

function image(layout, width, height, locate, row) {
  const at = (x, y) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return -1;
    const [offset, step] = row(y);
    return offset + x * step;
  };
  return {
    kind: "image",
    layout,
    width,
    height,
    at,
    locate: (x, y) => (at(x, y) < 0 ? null : locate(x, y)),
    strided: row,
    tiles: null,
  };
}

function montageView(layout, shape, prefix, base, h, w, c) {
  const cols = Math.ceil(Math.sqrt(c));
  const rows = Math.ceil(c / cols);
  const width = cols * (w + 1) - 1;
  const height = rows * (h + 1) - 1;
  const tiles = [];
  for (let ch = 0; ch < c; ch++) {
    tiles.push({
      channel: ch,
      x: (ch % cols) * (w + 1),
      y: Math.floor(ch / cols) * (h + 1),
      width: w,
      height: h,
    });
  }
  const cell = (x, y) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return null;
    const ix = x % (w + 1);
    const iy = y % (h + 1);
    if (ix === w || iy === h) return null;
    const ch = Math.floor(y / (h + 1)) * cols + Math.floor(x / (w + 1));
    return ch < c ? [iy, ix, ch] : null;
  };
  return {
    kind: "montage",
    layout,
    width,
    height,
    at(x, y) {
      const p = cell(x, y);
      return p ? ((base + p[0]) * w + p[1]) * c + p[2] : -1;
    },
    locate(x, y) {
      const p = cell(x, y);
      return p ? [...prefix, ...p] : null;
    },
    strided: () => null,
    tiles,
  };
}

/** The number of channels a layout lets the user choose from (1 when there is no choice). */
export function channelCount(display) {
  const { shape, layout } = display;
  return layout === "NHWC" || layout === "NDHWC" ? shape[shape.length - 1] : 1;
}

/** The number of samples in a display array. */
export function sampleCount(display) {
  return display.shape[0];
}

/** The number of depth slices of a 5-D display array (1 for every other layout). */
export function sliceCount(display) {
  return display.layout === "NDHWC" ? display.shape[1] : 1;
}

/**
 * Map a display multi-index back to the block of the layer output it summarises.
 *
 * `axes` are the snapshot's `display.axes`, as Python sent them: per display axis its `name`, its
 * `size` in the layer output and its `pool` factor (and `flattened` for a flattened output: the
 * axes of the layer output it holds, none for a scalar). Nothing is re-derived here.
 * Returns {ranges: [[start, stop), ...] per display axis, names, pooled, flattened, text}, where
 * `text` is NumPy index notation into `viewer.values(layer)`, e.g. "[0, 3, 4, 2]" or
 * "[0, 30:33, 45:48, 0]" ("[()]" for a scalar; for a flattened output it indexes the output
 * reshaped to `(samples, -1)`).
 */
export function originalIndex(index, axes) {
  const ranges = index.map((i, k) => {
    const { size, pool } = axes[k];
    return [i * pool, Math.min(size, (i + 1) * pool)];
  });
  const pooled = ranges.some(([a, b]) => b - a > 1);
  const flat = axes.find((axis) => Array.isArray(axis.flattened));
  const scalar = flat !== undefined && flat.flattened.length === 0;
  const parts = ranges.map(([a, b]) => (b - a === 1 ? `${a}` : `${a}:${b}`));
  return {
    ranges,
    names: axes.map((axis) => axis.name),
    pooled,
    flattened: flat !== undefined && !scalar,
    text: scalar ? "[()]" : `[${parts.join(", ")}]`,
  };
}

/** A LUT of 256 RGB entries packed as little-endian RGBA words, for 4-byte pixel writes. */
export function packLut(table) {
  const packed = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    packed[i] = (255 << 24) | (table[i * 3 + 2] << 16) | (table[i * 3 + 1] << 8) | table[i * 3];
  }
  return packed;
}

const NAN_PIXEL = (255 << 24) | (NAN_RGB[2] << 16) | (NAN_RGB[1] << 8) | NAN_RGB[0];
const PACKED = new WeakMap();

function packedOf(table) {
  let packed = PACKED.get(table);
  if (!packed) {
    packed = packLut(table);
    PACKED.set(table, packed);
  }
  return packed;
}

/**
 * Fill RGBA pixels (Uint8ClampedArray, width * height * 4) for a view through a LUT.
 * Values at or below `lo` take the first colour, at or above `hi` the last (so do -inf and
 * +inf); NaN takes the NaN colour of colormaps.json (magenta); gaps (montage borders, bar gaps
 * and the space above a bar) stay transparent. Returns `{ pixels, nan, posinf, neginf }`: how
 * many of the view's pixels show a NaN, +inf or -inf (the static view in Python counts the
 * same), so that the key under the colour bar can name what those colours stand for.
 */
export function paint(view, data, table, lo, hi, out) {
  const { width, height } = view;
  const pixels = out || new Uint8ClampedArray(width * height * 4);
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, width * height);
  const packed = packedOf(table);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  if (view.kind === "bars") return paintBars(view, data, packed, lo, hi, scale, words, pixels);
  let p = 0;
  let nan = 0;
  let posinf = 0;
  let neginf = 0;
  // The pixel's body is written out in both loops: a shared function per pixel made the
  // 512x512 redraw 1.3-1.5 ms instead of 0.9 (bench/render.py, alternating rounds).
  for (let y = 0; y < height; y++) {
    const row = view.strided(y);
    if (row) {
      let i = row[0];
      const step = row[1];
      for (let x = 0; x < width; x++, i += step) {
        const v = data[i];
        let level = (v - lo) * scale + 0.5;
        level = level > 255 ? 255 : level > 0 ? level | 0 : 0;
        if (v === v) {
          words[p++] = packed[level];
          if (v === Infinity) posinf++;
          else if (v === -Infinity) neginf++;
        } else {
          words[p++] = NAN_PIXEL;
          nan++;
        }
      }
    } else {
      for (let x = 0; x < width; x++) {
        const i = view.at(x, y);
        if (i < 0) {
          words[p++] = 0;
          continue;
        }
        const v = data[i];
        let level = (v - lo) * scale + 0.5;
        level = level > 255 ? 255 : level > 0 ? level | 0 : 0;
        if (v === v) {
          words[p++] = packed[level];
          if (v === Infinity) posinf++;
          else if (v === -Infinity) neginf++;
        } else {
          words[p++] = NAN_PIXEL;
          nan++;
        }
      }
    }
  }
  return { pixels, nan, posinf, neginf };
}

// Bars rise from zero (or from the nearer edge of [lo, hi] when zero is outside it).
function paintBars(view, data, packed, lo, hi, scale, words, pixels) {
  const { width, height } = view;
  words.fill(0);
  const rowOf = (v) =>
    Math.round((height - 1) * (1 - Math.max(0, Math.min(1, (v - lo) / (hi - lo || 1)))));
  const baseRow = rowOf(Math.max(lo, Math.min(hi, 0)));
  let nan = 0;
  let posinf = 0;
  let neginf = 0;
  for (let x = 0; x < width; x++) {
    const i = view.at(x, 0);
    if (i < 0) continue;
    const v = data[i];
    if (v !== v) {
      for (let y = 0; y < height; y++) words[y * width + x] = NAN_PIXEL;
      nan += height;
      continue;
    }
    let level = (v - lo) * scale + 0.5;
    level = level > 255 ? 255 : level > 0 ? level | 0 : 0;
    const top = rowOf(v);
    const [a, b] = top < baseRow ? [top, baseRow] : [baseRow, top];
    for (let y = a; y <= b; y++) words[y * width + x] = packed[level];
    if (v === Infinity) posinf += b - a + 1;
    else if (v === -Infinity) neginf += b - a + 1;
  }
  return { pixels, nan, posinf, neginf };
}

const IMAGES = new WeakMap();

/**
 * Draw a view onto a canvas whose backing size is the view's size; CSS scales it, pixelated.
 * Returns `paint`'s counts of the pixels that show a NaN, +inf or -inf.
 */
export function drawHeatmap(canvas, view, data, table, lo, hi) {
  if (canvas.width !== view.width) canvas.width = view.width;
  if (canvas.height !== view.height) canvas.height = view.height;
  const ctx = canvas.getContext("2d");
  // One ImageData per canvas and size, reused: allocating 1 MB per redraw costs more than painting.
  let image = IMAGES.get(canvas);
  if (!image || image.width !== view.width || image.height !== view.height) {
    image = ctx.createImageData(view.width, view.height);
    IMAGES.set(canvas, image);
  }
  const { nan, posinf, neginf } = paint(view, data, table, lo, hi, image.data);
  ctx.putImageData(image, 0, 0);
  return { nan, posinf, neginf };
}

/**
 * The CSS size of a heatmap of `width` x `height` data pixels in a box of `boxWidth` x
 * `boxHeight` CSS pixels at device pixel ratio `dpr`: every data pixel covers the same whole
 * number of device pixels when it can (crisp when enlarged), else the largest fit.
 * Bar views (`stretch`) fill the box.
 */
export function fitSize(width, height, boxWidth, boxHeight, dpr = 1, stretch = false) {
  if (stretch) return { width: boxWidth, height: boxHeight, scale: boxHeight / height };
  const fit = Math.min((boxWidth * dpr) / width, (boxHeight * dpr) / height);
  const scale = fit >= 1 ? Math.floor(fit) : fit;
  return { width: (width * scale) / dpr, height: (height * scale) / dpr, scale: scale / dpr };
}

/** Histogram bars from a snapshot: bin centres and counts, as Float64Arrays. */
export function histogramBars(hist) {
  const { lo, hi, counts } = hist;
  const n = counts.length;
  const width = (hi - lo) / n;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = lo + (i + 0.5) * width;
    y[i] = counts[i];
  }
  return { x, y };
}

/** Whole-epoch tick values from `first` to `last`, at most about 10 of them. */
export function epochTicks(first, last) {
  const lo = Math.ceil(first);
  const hi = Math.floor(Math.max(last, first + 1));
  const step = Math.max(1, Math.ceil((hi - lo) / 10));
  const ticks = [];
  for (let e = lo; e <= hi; e += step) ticks.push(e);
  return Float64Array.from(ticks);
}
