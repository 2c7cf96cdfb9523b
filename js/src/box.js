// The heatmap box: the heatmap drawn through its colour map, sized to whole device pixels, the
// channel numbers of a montage, and the colour bar with its ticks.

import { el, formatNumber } from "./format.js";
import { lut, resolveScale, viewRange, niceTicks, KEY_NAMES } from "./colormap.js";
import { drawHeatmap, fitSize } from "./heatmap.js";

const SCALE_WIDTH = 96; // CSS px kept right of the heatmap for the colour bar and its ticks

/** The colour scale of a snapshot's view under the model's range mode and colour map. */
export function scaleFor(model, store, snap, view) {
  return resolveScale({
    mode: model.get("range_mode"),
    colormap: model.get("colormap"),
    layerRange: store.layerRange(snap.layer),
    mapRange: snap.display.data ? viewRange(view, snap.display.data) : [0, 1],
    fixed: [model.get("range_lo"), model.get("range_hi")],
  });
}

function drawColorbar(ui, scale) {
  const table = lut(scale.name);
  const c = ui.colorbar;
  if (c.width !== 1 || c.height !== 256) {
    c.width = 1;
    c.height = 256;
  }
  const ctx = c.getContext("2d");
  const image = ctx.createImageData(1, 256);
  for (let i = 0; i < 256; i++) {
    const level = (255 - i) * 3;
    image.data.set([table[level], table[level + 1], table[level + 2], 255], i * 4);
  }
  ctx.putImageData(image, 0, 0);
  const key = `${scale.lo}|${scale.hi}`;
  if (ui.ticks.dataset.key === key) return;
  ui.ticks.dataset.key = key;
  const spans = niceTicks(scale.lo, scale.hi, 5).map((v) => {
    const span = el("span", "kv-tick");
    span.style.top = `${((scale.hi - v) / (scale.hi - scale.lo)) * 100}%`;
    span.textContent = formatNumber(v);
    return span;
  });
  ui.ticks.replaceChildren(...spans);
}

// The key under the colour bar: an entry for each of NaN, +inf and -inf that the heatmap shows
// (the infinities take the map's end colours). Hidden, it keeps its room.
function showKey(ui, counts, table) {
  ui.keys.posinf.firstChild.style.background = `rgb(${table[765]}, ${table[766]}, ${table[767]})`;
  ui.keys.neginf.firstChild.style.background = `rgb(${table[0]}, ${table[1]}, ${table[2]})`;
  for (const kind of Object.keys(KEY_NAMES)) {
    ui.keys[kind].hidden = counts[kind] === 0;
    ui.heatmap.dataset[kind] = String(counts[kind]);
  }
  ui.key.hidden = !(counts.nan || counts.posinf || counts.neginf);
}

function keyText(counts) {
  const parts = Object.entries(KEY_NAMES)
    .filter(([kind]) => counts[kind])
    .map(([kind, name]) => `${counts[kind]} ${name}`);
  return parts.length ? `; cells ${parts.join(", ")}` : "";
}

// Channel numbers at each tile's corner, crisp at any device pixel ratio.
function labelTiles(ctx, view, scale, dpr, fontFamily) {
  const font = Math.round(10 * dpr);
  ctx.font = `${font}px ${fontFamily}`;
  ctx.textBaseline = "top";
  for (const tile of view.tiles) {
    const x = tile.x * scale * dpr;
    const y = tile.y * scale * dpr;
    const text = String(tile.channel);
    const w = ctx.measureText(text).width + 4 * dpr;
    ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
    ctx.fillRect(x, y, w, font + 3 * dpr);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 2 * dpr, y + 1.5 * dpr);
  }
}

/**
 * The heatmap box of one view. `draw(snap, view, scale)` paints the snapshot; `resized()` forgets
 * the last layout, so that the next draw sizes the canvas again.
 */
export function createBox(ui, root) {
  let sized = "";

  // Size the canvas to whole device pixels per data pixel; the box never changes size, so
  // nothing around it moves.
  function layout(view) {
    const box = ui.box.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const dpr = window.devicePixelRatio || 1;
    const key = `${view.width}x${view.height}@${box.width}x${box.height}@${dpr}@${view.kind}`;
    if (key === sized && view.kind !== "montage") return;
    const room = box.width - SCALE_WIDTH;
    const size = fitSize(view.width, view.height, room, box.height, dpr, view.kind === "bars");
    ui.scale.style.left = `${size.width + 10}px`;
    for (const c of [ui.heatmap, ui.overlay]) {
      c.style.width = `${size.width}px`;
      c.style.height = `${size.height}px`;
    }
    const ow = Math.round(size.width * dpr);
    const oh = Math.round(size.height * dpr);
    if (ui.overlay.width !== ow) ui.overlay.width = ow;
    if (ui.overlay.height !== oh) ui.overlay.height = oh;
    const ctx = ui.overlay.getContext("2d");
    ctx.clearRect(0, 0, ow, oh);
    if (view.tiles && size.scale * view.tiles[0].height >= 12) {
      labelTiles(ctx, view, size.scale, dpr, getComputedStyle(root).fontFamily);
    }
    sized = key;
  }

  function draw(snap, view, scale) {
    let counts = { nan: 0, posinf: 0, neginf: 0 };
    const table = lut(scale.name);
    if (snap.display.data) {
      counts = drawHeatmap(ui.heatmap, view, snap.display.data, table, scale.lo, scale.hi);
      ui.heatmap.classList.remove("kv-dropped");
    } else {
      ui.heatmap.classList.add("kv-dropped");
      ui.status.textContent = `epoch ${snap.epoch}: display data dropped from the browser store (statistics kept)`;
    }
    layout(view);
    drawColorbar(ui, scale);
    ui.heatmap.dataset.layer = snap.layer;
    ui.heatmap.dataset.epoch = String(snap.epoch);
    showKey(ui, counts, table);
    ui.heatmap.setAttribute(
      "aria-label",
      `heatmap of layer ${snap.layer} at epoch ${snap.epoch}, colour range ${formatNumber(scale.lo)} to ${formatNumber(scale.hi)}${keyText(counts)}`,
    );
  }

  return {
    draw,
    resized() {
      sized = "";
    },
  };
}
