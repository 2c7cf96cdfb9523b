// The overview: a layers x steps grid of one statistic, with the health findings marked.
// Pure functions over a canvas context (no DOM lookups): the node tests drive them with a fake
// context, and the render benchmark times them in Chromium.
//
// Values arrive as one Float32Array / Float64Array, row-major: row = layer (model order),
// column = kept step (ascending), `values[row * cols + col]`. NaN means "no value there" (a layer
// not recorded at that step, or a statistic that is undefined) and stays transparent. The cells are
// painted once into an ImageData of cols x rows pixels (one pixel per cell) on a small source
// canvas, which one `drawImage` scales onto the target without smoothing; the findings' marks and
// the selected cell are a second pass on top.

import { lut, chooseScale } from "./colormap.js";
import { packLut } from "./heatmap.js";

/** Colour of each finding kind's mark (the kinds are Python's, `core/health.py`). */
export const MARK_COLOURS = {
  nan: "#d62728",
  inf: "#d62728",
  dead: "#111111",
  saturated: "#ff7f0e",
  constant: "#7f7f7f",
  exploding: "#9467bd",
  vanishing: "#9467bd",
};

/** Colours of the outline of the selected cell (the current layer and step), and its halo. */
export const SELECTED_COLOUR = "#ffffff";
export const SELECTED_HALO = "#000000";

/** Width in CSS pixels of the row markers drawn left of the grid for rows with a finding. */
export const ROW_MARKER = 4;

const PACKED = new WeakMap();
const IMAGES = new WeakMap();

function packedOf(table) {
  let packed = PACKED.get(table);
  if (!packed) {
    packed = packLut(table);
    PACKED.set(table, packed);
  }
  return packed;
}

/** The finite [min, max] of the values (NaN and infinities skipped); [0, 1] when there is none. */
export function valueRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v > -Infinity && v < Infinity)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

/**
 * The colour scale of an overview: `colormap` ("auto": viridis, or the diverging map for signed
 * values) over the values' finite range, or over `range` [lo, hi] when given.
 * Returns {name, lo, hi, table}.
 */
export function overviewScale(values, colormap = "auto", range = null) {
  const [lo, hi] = range || valueRange(values);
  const scale = chooseScale(lo, hi, colormap);
  return { ...scale, table: lut(scale.name) };
}

/** Cells at least this many pixels wide (or high) are whole pixels; smaller ones fill the space. */
export const WHOLE_CELL = 3;

/**
 * Where the grid lies on a canvas of `width` x `height` pixels, leaving `pad` around it (left
 * holds the row markers). Cells of at least `WHOLE_CELL` pixels are whole pixels (crisp, even);
 * smaller ones are fractional, so that the grid fills the space (the scaled image then has
 * cells of uneven whole pixels).
 * Returns {rows, cols, x0, y0, cellW, cellH, width, height} (width, height: of the grid).
 */
export function gridGeometry(rows, cols, width, height, pad = {}) {
  const { left = ROW_MARKER + 1, top = 0, right = 0, bottom = 0 } = pad;
  const fit = (space, n) => {
    const s = Math.max(0, space) / Math.max(1, n);
    return s >= WHOLE_CELL ? Math.floor(s) : s;
  };
  const cellW = fit(width - left - right, cols);
  const cellH = fit(height - top - bottom, rows);
  return { rows, cols, x0: left, y0: top, cellW, cellH, width: cellW * cols, height: cellH * rows };
}

/** The cell {row, col} under canvas pixel (x, y), or null outside the grid. */
export function hitTest(geometry, x, y) {
  const { rows, cols, x0, y0, cellW, cellH } = geometry;
  if (!(cellW > 0 && cellH > 0)) return null;
  const col = Math.floor((x - x0) / cellW);
  const row = Math.floor((y - y0) / cellH);
  if (!(col >= 0 && col < cols && row >= 0 && row < rows)) return null;
  return { row, col };
}

/** The canvas rectangle {x, y, w, h} of one cell. */
export function cellRect(geometry, row, col) {
  const { x0, y0, cellW, cellH } = geometry;
  return { x: x0 + col * cellW, y: y0 + row * cellH, w: cellW, h: cellH };
}

/**
 * RGBA pixels (Uint8ClampedArray, rows * cols * 4, one pixel per cell, row-major) of the values
 * through a LUT over [lo, hi]: at or below lo the first colour, at or above hi the last (so
 * infinities take the end colours); NaN transparent. Writes into `out` when given.
 */
export function paintGrid(values, rows, cols, table, lo, hi, out) {
  const n = rows * cols;
  const pixels = out || new Uint8ClampedArray(n * 4);
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, n);
  const packed = packedOf(table);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    let level = (v - lo) * scale + 0.5;
    level = level > 255 ? 255 : level > 0 ? level | 0 : 0;
    words[i] = v === v ? packed[level] : 0;
  }
  return pixels;
}

/**
 * Draw the findings' marks: each marked cell gets an inset outline in its kind's colour when the
 * cells are at least 6 pixels, else it is filled with that colour; and every row with a mark gets
 * a marker left of the grid, in the colour of its first mark. One path per kind.
 * `marks`: [{row, col, kind}], kinds from `MARK_COLOURS` (others are drawn like "nan").
 */
export function drawMarks(ctx, geometry, marks) {
  if (!marks || marks.length === 0) return;
  const { x0, cellW, cellH } = geometry;
  const outline = cellW >= 6 && cellH >= 6;
  const byKind = new Map();
  const rowColour = new Map();
  for (const mark of marks) {
    const colour = MARK_COLOURS[mark.kind] || MARK_COLOURS.nan;
    if (!byKind.has(colour)) byKind.set(colour, []);
    byKind.get(colour).push(mark);
    if (!rowColour.has(mark.row)) rowColour.set(mark.row, colour);
  }
  ctx.save();
  ctx.lineWidth = 1;
  for (const [colour, list] of byKind) {
    ctx.beginPath();
    for (const { row, col } of list) {
      const r = cellRect(geometry, row, col);
      if (outline) ctx.rect(r.x + 1.5, r.y + 1.5, r.w - 3, r.h - 3);
      else ctx.rect(r.x, r.y, r.w, r.h);
    }
    if (outline) {
      ctx.strokeStyle = colour;
      ctx.stroke();
    } else {
      ctx.fillStyle = colour;
      ctx.fill();
    }
  }
  const byColour = new Map();
  for (const [row, colour] of rowColour) {
    if (!byColour.has(colour)) byColour.set(colour, []);
    byColour.get(colour).push(row);
  }
  const left = Math.max(0, x0 - ROW_MARKER - 1);
  for (const [colour, rows] of byColour) {
    ctx.beginPath();
    for (const row of rows) ctx.rect(left, geometry.y0 + row * cellH, ROW_MARKER, cellH);
    ctx.fillStyle = colour;
    ctx.fill();
  }
  ctx.restore();
}

/**
 * Draw the whole overview on `canvas` (its current pixel size): the cells, scaled from `source`
 * (a canvas or OffscreenCanvas used as the one-pixel-per-cell image, resized to cols x rows), then
 * the marks, then an outline around the `selected` cell.
 *
 * grid:    {values, rows, cols}
 * options: {table, lo, hi} (a LUT from colormap.js and its range; see `overviewScale`),
 *          marks ([{row, col, kind}]), selected ({row, col} or null), pad (see `gridGeometry`)
 * Returns the geometry, for `hitTest`.
 */
export function drawOverview(canvas, source, grid, options) {
  const { values, rows, cols } = grid;
  const { table, lo, hi, marks = [], selected = null, pad = {} } = options;
  const geometry = gridGeometry(rows, cols, canvas.width, canvas.height, pad);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (rows === 0 || cols === 0) return geometry;
  if (source.width !== cols) source.width = cols;
  if (source.height !== rows) source.height = rows;
  const sctx = source.getContext("2d");
  let image = IMAGES.get(source);
  if (!image || image.width !== cols || image.height !== rows) {
    image = sctx.createImageData(cols, rows);
    IMAGES.set(source, image);
  }
  paintGrid(values, rows, cols, table, lo, hi, image.data);
  sctx.putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(
    source,
    0,
    0,
    cols,
    rows,
    geometry.x0,
    geometry.y0,
    geometry.width,
    geometry.height,
  );
  drawMarks(ctx, geometry, marks);
  if (selected && selected.row >= 0 && selected.row < rows) {
    if (selected.col >= 0 && selected.col < cols) {
      const r = cellRect(geometry, selected.row, selected.col);
      ctx.save();
      ctx.lineWidth = 3; // a dark halo under a light line: visible on every colour map
      ctx.strokeStyle = SELECTED_HALO;
      ctx.strokeRect(r.x - 1.5, r.y - 1.5, r.w + 3, r.h + 3);
      ctx.lineWidth = 1;
      ctx.strokeStyle = SELECTED_COLOUR;
      ctx.strokeRect(r.x - 1.5, r.y - 1.5, r.w + 3, r.h + 3);
      ctx.restore();
    }
  }
  return geometry;
}
