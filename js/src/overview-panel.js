// The overview panel: the whole model at a glance, one row per watched layer (model order), one
// column per step the store holds, coloured by the statistic the user picks (`overview_stat`,
// offered from the catalog's `overview_stats`, which Python decides), with the health findings
// marked. Hover names the layer, the epoch and the value; a click shows that layer at that step.
// Drawn from the store only, so it works during `fit`, for loaded and followed runs, and on a
// saved page. The drawing itself is `overview.js`.

import { el, option, formatNumber } from "./format.js";
import { drawOverview, hitTest, overviewScale, FILLED_KINDS, MARK_COLOURS } from "./overview.js";

/** CSS pixels of the canvas per row, before it is clamped to [MIN_HEIGHT, MAX_HEIGHT]. */
export const ROW_HEIGHT = 16;
export const MIN_HEIGHT = 48;
export const MAX_HEIGHT = 320;
/** CSS pixels left of the grid for the layer names, when rows are tall enough to read them. */
export const LABELS_WIDTH = 140;
const LABEL_MIN_ROW = 9;

/**
 * The grid of one statistic over the store: {values (Float64Array, row-major), rows, cols,
 * layers, epochs, marks}. Rows are the catalog's layers, columns the store's steps; a missing
 * snapshot or an undefined statistic is NaN. `marks` are the findings as {row, col, kind}.
 */
export function overviewGrid(store, key) {
  const layers = store.state.layers.map((l) => l.id);
  const epochs = store.state.steps.map((s) => s.epoch);
  const rows = layers.length;
  const cols = epochs.length;
  const values = new Float64Array(rows * cols).fill(NaN);
  for (let r = 0; r < rows; r++) {
    const byStep = store.state.snapshots.get(layers[r]);
    if (!byStep) continue;
    for (let c = 0; c < cols; c++) {
      const snap = byStep.get(`${Number(epochs[c])}`);
      const v = snap ? snap.stats[key] : null;
      if (v != null) values[r * cols + c] = v;
    }
  }
  const rowOf = new Map(layers.map((id, i) => [id, i]));
  const marks = [];
  for (let c = 0; c < cols; c++) {
    for (const f of store.findingsAt(epochs[c])) {
      const row = rowOf.get(f.layer);
      if (row !== undefined) marks.push({ row, col: c, kind: f.kind });
    }
  }
  return { values, rows, cols, layers, epochs, marks };
}

/**
 * The key of the findings' marks on the grid: one entry per kind marked (the kinds are Python's,
 * as the findings carry them), its swatch drawn as the marks are (filled or outlined).
 */
function showMarkKey(key, marks) {
  const present = new Set(marks.map((m) => m.kind));
  const kinds = [
    ...Object.keys(MARK_COLOURS).filter((k) => present.has(k)),
    ...[...present].filter((k) => !(k in MARK_COLOURS)).sort(),
  ];
  const joined = kinds.join(",");
  if (key.dataset.kinds === joined) return;
  key.dataset.kinds = joined;
  key.replaceChildren(
    ...kinds.map((kind) => {
      const entry = el("span", "kv-key-entry");
      const swatch = entry.appendChild(el("span", "kv-key-swatch"));
      const colour = MARK_COLOURS[kind] || MARK_COLOURS.nan; // as drawMarks colours it
      if (FILLED_KINDS.has(kind)) swatch.style.background = colour;
      else swatch.style.border = `2px solid ${colour}`;
      entry.appendChild(document.createTextNode(kind));
      return entry;
    }),
  );
}

/**
 * The overview panel of one view, appended to `parent`. `goTo(layer, epoch)` shows a layer at a
 * step. Returns {draw(version), resized()}: `draw` repaints when the data (`version`), the
 * selection, the statistic or the size changed.
 */
export function createOverviewPanel(parent, model, store, listen, goTo) {
  const panel = parent.appendChild(el("div", "kv-overview"));
  const bar = panel.appendChild(el("div", "kv-bar kv-overview-bar"));
  const title = bar.appendChild(el("span", "kv-overview-title"));
  title.textContent = "overview: every layer \u00d7 every step, coloured by";
  const stat = bar.appendChild(
    el("select", "kv-overview-stat", { "aria-label": "overview statistic" }),
  );
  const range = bar.appendChild(el("span", "kv-overview-range"));
  const markKey = bar.appendChild(el("span", "kv-overview-key", { "aria-label": "marks" }));
  const canvas = panel.appendChild(
    el("canvas", "kv-overview-canvas", {
      role: "img",
      "aria-label": "overview (click a cell to show that layer and step)",
    }),
  );
  const readout = panel.appendChild(el("div", "kv-overview-hover", { "aria-live": "off" }));
  readout.textContent = "\u00a0";
  const source = document.createElement("canvas");
  let grid = null;
  let geometry = null;
  let dpr = 1;
  let drawn = "";
  let gridKey = "";

  listen(stat, "change", () => {
    model.set("overview_stat", stat.value);
    model.save_changes();
  });

  function cellAt(event) {
    if (!geometry || !grid) return null;
    const rect = canvas.getBoundingClientRect();
    return hitTest(geometry, (event.clientX - rect.left) * dpr, (event.clientY - rect.top) * dpr);
  }

  listen(canvas, "mousemove", (event) => {
    const cell = cellAt(event);
    if (!cell) {
      readout.textContent = "\u00a0";
      return;
    }
    const v = grid.values[cell.row * grid.cols + cell.col];
    const layer = grid.layers[cell.row];
    const epoch = grid.epochs[cell.col];
    const kinds = grid.marks
      .filter((m) => m.row === cell.row && m.col === cell.col)
      .map((m) => m.kind);
    readout.textContent =
      `${layer} \u00b7 epoch ${epoch} \u00b7 ${labelOf(model.get("overview_stat"))} ` +
      `${Number.isNaN(v) ? "\u2013" : formatNumber(v)}${kinds.length ? `  (${kinds.join(", ")})` : ""}`;
    readout.dataset.layer = layer;
    readout.dataset.epoch = String(epoch);
    readout.dataset.value = String(v);
  });
  listen(canvas, "mouseleave", () => {
    readout.textContent = "\u00a0";
  });
  listen(canvas, "click", (event) => {
    const cell = cellAt(event);
    if (cell) goTo(grid.layers[cell.row], grid.epochs[cell.col]);
  });

  function labelOf(key) {
    const stats = (store.state.catalog && store.state.catalog.overview_stats) || [];
    const found = stats.find((s) => s.key === key);
    return found ? found.label : key;
  }

  function syncMenu() {
    const stats = (store.state.catalog && store.state.catalog.overview_stats) || [];
    const key = stats.map((s) => s.key).join("\u0000");
    if (stat.dataset.key !== key) {
      stat.dataset.key = key;
      stat.replaceChildren(...stats.map((s) => option(s.key, s.label)));
    }
    if (stat.value !== model.get("overview_stat")) stat.value = model.get("overview_stat");
    panel.hidden = stats.length === 0;
  }

  function draw(version) {
    syncMenu();
    if (panel.hidden) return;
    const key = model.get("overview_stat");
    const nextKey = `${version}|${key}`;
    if (nextKey !== gridKey) {
      grid = overviewGrid(store, key);
      gridKey = nextKey;
    }
    const width = Math.floor(panel.clientWidth);
    if (!width) return;
    dpr = window.devicePixelRatio || 1;
    const height = Math.max(MIN_HEIGHT, Math.min(MAX_HEIGHT, grid.rows * ROW_HEIGHT));
    const rowCss = height / Math.max(1, grid.rows);
    const labels = rowCss >= LABEL_MIN_ROW;
    const selected = {
      row: grid.layers.indexOf(model.get("layer")),
      col: grid.epochs.indexOf(model.get("epoch")),
    };
    const state = [gridKey, width, height, dpr, selected.row, selected.col].join("|");
    if (state === drawn) return;
    drawn = state;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const pw = Math.round(width * dpr);
    const ph = Math.round(height * dpr);
    if (canvas.width !== pw) canvas.width = pw;
    if (canvas.height !== ph) canvas.height = ph;
    const scale = overviewScale(grid.values, "auto");
    const left = Math.round((labels ? LABELS_WIDTH : 6) * dpr);
    geometry = drawOverview(canvas, source, grid, {
      ...scale,
      marks: grid.marks,
      selected,
      pad: {
        left,
        top: Math.round(2 * dpr),
        right: Math.round(4 * dpr),
        bottom: Math.round(2 * dpr),
      },
    });
    if (labels) drawLabels(canvas, geometry, grid.layers, left, dpr, getComputedStyle(panel));
    range.textContent = `${scale.name}: ${formatNumber(scale.lo)} \u2013 ${formatNumber(scale.hi)}`;
    showMarkKey(markKey, grid.marks);
    Object.assign(canvas.dataset, {
      rows: String(grid.rows),
      cols: String(grid.cols),
      stat: key,
      marks: String(grid.marks.length),
      // The grid in CSS pixels, for the browser tests to find a cell.
      grid: JSON.stringify({
        x0: geometry.x0 / dpr,
        y0: geometry.y0 / dpr,
        cellW: geometry.cellW / dpr,
        cellH: geometry.cellH / dpr,
      }),
    });
  }

  return {
    element: panel,
    draw,
    resized() {
      drawn = "";
    },
  };
}

// The layer names left of the rows (canvas text, never HTML), cut to the space there is.
function drawLabels(canvas, geometry, layers, left, dpr, style) {
  const ctx = canvas.getContext("2d");
  const font = Math.max(8, Math.min(11, geometry.cellH / dpr - 2)) * dpr;
  ctx.save();
  ctx.font = `${font}px ${style.fontFamily || "sans-serif"}`;
  ctx.fillStyle = style.color || "#222";
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  const room = left - 10 * dpr;
  for (let r = 0; r < layers.length; r++) {
    let text = layers[r];
    while (text.length > 1 && ctx.measureText(text).width > room) text = text.slice(1);
    if (text !== layers[r]) text = `\u2026${text.slice(1)}`;
    ctx.fillText(text, left - 8 * dpr, geometry.y0 + (r + 0.5) * geometry.cellH);
  }
  ctx.restore();
}
