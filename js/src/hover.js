// Hover: the value under the pointer and the block of the layer output it stands for, read
// from the snapshot's `display.axes` (Python's pool factors), in the hover line and a tooltip.

import { formatNumber } from "./format.js";
import { originalIndex } from "./heatmap.js";

/**
 * What the hover shows for display index `index` of a snapshot holding `value` there:
 * {line, tip, where}, `line` naming the NumPy index into `viewer.values(layer)`.
 */
export function hoverText(snap, index, value) {
  const where = originalIndex(index, snap.display.axes);
  const named = where.ranges
    .map(([a, b], k) => `${where.names[k]} ${b - a === 1 ? a : `${a}–${b - 1}`}`)
    .join(", ");
  const kind = where.pooled ? "pooled mean, float16" : "float16 display value";
  const prefix = where.flattened ? "values(…) flattened" : "values(…)";
  return {
    where,
    line: `${prefix}${where.text} = ${formatNumber(value)}  (${kind}) — ${named}`,
    tip: `${formatNumber(value)}${where.pooled ? " (pooled mean)" : ""}\n${named}`,
  };
}

/** Show the hover of the heatmap; `current()` is {snap, view} on display, or null. */
export function bindHover(ui, listen, current) {
  function hide() {
    ui.tip.hidden = true;
  }

  function show(event) {
    const shown = current();
    if (!shown || !shown.snap.display.data) return;
    const { snap, view } = shown;
    const rect = ui.heatmap.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * view.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * view.height);
    const index = view.locate(x, y);
    if (!index) return hide();
    const value = snap.display.data[view.at(x, y)];
    const { where, line, tip } = hoverText(snap, index, value);
    ui.hover.textContent = line;
    ui.hover.dataset.index = JSON.stringify(where.ranges.map(([a]) => a));
    ui.hover.dataset.value = String(value);
    ui.hover.dataset.pooled = String(where.pooled);
    ui.tip.textContent = tip;
    ui.tip.hidden = false;
    const box = ui.box.getBoundingClientRect();
    const left = event.clientX - box.left + 14;
    const top = event.clientY - box.top + 14;
    ui.tip.style.left = `${Math.min(left, box.width - ui.tip.offsetWidth - 2)}px`;
    ui.tip.style.top = `${Math.min(top, box.height - ui.tip.offsetHeight - 2)}px`;
  }

  listen(ui.heatmap, "mousemove", show);
  listen(ui.heatmap, "mouseleave", hide);
}
