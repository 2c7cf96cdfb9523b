// The health findings in the widget: a banner naming the first bad layer (a click goes there), a
// mark before each layer flagged at the step on display in the layer menu, and the findings of
// that step listed under the heatmap. Everything comes from the store's `findings` messages,
// decided in Python (core/health.py): nothing here judges a statistic. Layer names and messages
// are set as text.

import { el } from "./format.js";

/** The mark put before a flagged layer's name in the layer menu. */
export const FLAG = "\u26a0 ";

/** The layer ids with a finding in `found` (a step's findings), in the order found. */
export function flaggedLayers(found) {
  return [...new Set(found.map((f) => f.layer))];
}

/** The banner's text for the first bad layer `[layer, epoch]`, or "" for none. */
export function bannerText(firstBad) {
  if (!firstBad) return "";
  const [layer, epoch] = firstBad;
  return `First bad layer: ${layer} holds NaN/Inf from epoch ${epoch}. Show it \u2192`;
}

/**
 * Put `FLAG` before the text of each option of `select` whose value is in `flagged`, and take
 * it away from the others; an option's own text is kept in `dataset.text`.
 */
export function markOptions(select, flagged) {
  const set = new Set(flagged);
  for (const node of select.options) {
    if (node.dataset.text === undefined) node.dataset.text = node.textContent;
    const text = (set.has(node.value) ? FLAG : "") + node.dataset.text;
    if (node.textContent !== text) node.textContent = text;
  }
}

/**
 * The findings parts of one view: the banner goes before `before` (in `root`), the list into
 * `listParent`. `goTo(layer, epoch)` shows a layer at a step. Returns {draw}.
 */
export function createFindings(root, before, listParent, model, store, listen, goTo) {
  const banner = el("button", "kv-bad-banner", { type: "button", role: "alert" });
  banner.hidden = true;
  root.insertBefore(banner, before);
  const list = listParent.appendChild(el("ul", "kv-findings", { "aria-label": "findings" }));
  list.hidden = true;
  listen(banner, "click", () => {
    const first = store.state.firstBad;
    if (first) goTo(first[0], first[1]);
  });
  // A click on a listed finding shows its layer.
  listen(list, "click", (event) => {
    const item = event.target.closest("li");
    if (item) goTo(item.dataset.layer, model.get("epoch"));
  });

  function draw(layerSelect) {
    const first = store.state.firstBad;
    banner.hidden = !first;
    const text = bannerText(first);
    if (banner.textContent !== text) banner.textContent = text;
    banner.dataset.layer = first ? first[0] : "";
    banner.dataset.epoch = first ? String(first[1]) : "";
    const found = store.findingsAt(model.get("epoch"));
    markOptions(layerSelect, flaggedLayers(found));
    const key = found.map((f) => f.message).join("\u0000");
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.replaceChildren(
      ...found.map((f) => {
        const item = el("li", `kv-finding kv-finding-${f.kind}`);
        item.textContent = f.message;
        item.dataset.layer = f.layer;
        item.dataset.kind = f.kind;
        return item;
      }),
    );
    list.hidden = found.length === 0;
  }

  return { draw };
}
