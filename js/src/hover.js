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

/**
 * Show the hover of the heatmap; `current()` is {snap, view} on display, or null. Returns
 * {refresh}: after a redraw, `refresh()` describes what is now under the pointer, or clears the
 * line when the pointer is not on the heatmap (so it never describes another layer or step).
 */
export function bindHover(ui, listen, current) {
  let pointer = null; // the last mousemove on the heatmap, while the pointer is on it

  function hide() {
    ui.tip.hidden = true;
  }

  function clear() {
    hide();
    ui.hover.textContent = "\u00a0";
    for (const key of ["index", "value", "pooled"]) delete ui.hover.dataset[key];
    ui.hover.dataset.layer = "";
  }

  function show(event) {
    const shown = current();
    if (!shown || !shown.snap.display.data) return;
    const { snap, view } = shown;
    const rect = ui.heatmap.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * view.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * view.height);
    const index = view.locate(x, y);
    if (!index) return clear();
    const value = snap.display.data[view.at(x, y)];
    const { where, line, tip } = hoverText(snap, index, value);
    ui.hover.textContent = line;
    ui.hover.dataset.index = JSON.stringify(where.ranges.map(([a]) => a));
    ui.hover.dataset.value = String(value);
    ui.hover.dataset.pooled = String(where.pooled);
    ui.hover.dataset.layer = snap.layer;
    ui.hover.dataset.epoch = String(snap.epoch);
    ui.tip.textContent = tip;
    ui.tip.hidden = false;
    const box = ui.box.getBoundingClientRect();
    const left = event.clientX - box.left + 14;
    const top = event.clientY - box.top + 14;
    ui.tip.style.left = `${Math.min(left, box.width - ui.tip.offsetWidth - 2)}px`;
    ui.tip.style.top = `${Math.min(top, box.height - ui.tip.offsetHeight - 2)}px`;
  }

  listen(ui.heatmap, "mousemove", (event) => {
    pointer = event;
    show(event);
  });
  listen(ui.heatmap, "mouseleave", () => {
    pointer = null;
    hide();
  });

  return {
    refresh() {
      if (pointer) show(pointer);
      else if (ui.hover.dataset.layer) clear();
    },
  };
}
