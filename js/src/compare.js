// Change between steps: the heatmap's diff mode, `values(epoch) - values(ref)` on the diverging
// map, where ref is the pinned step (`pinned`) or else the previous step the store holds; and the
// controls that set them (diff, pin this epoch). The differences are taken between the display
// arrays in the store (float16, pooled as drawn), which exist for both steps only when their
// display shapes agree; otherwise the note says so and the heatmap shows the step itself.

import { el } from "./format.js";
import { chooseScale, viewRange } from "./colormap.js";

/** The reference step of a diff: the pinned epoch, else the previous step with a snapshot. */
export function diffReference(store, layer, epoch, pinned) {
  if (pinned != null) return store.get(layer, pinned);
  const steps = store.state.steps;
  const i = steps.findIndex((s) => s.epoch === epoch);
  for (let k = i - 1; k >= 0; k--) {
    const snap = store.get(layer, steps[k].epoch);
    if (snap && snap.display.data) return snap;
  }
  return null;
}

function sameShape(a, b) {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The diff of `snap` against `ref`: {snap, note}, where `snap` is a copy whose display data is
 * `snap - ref` (a Float32Array) or null when there is none to draw, and `note` says what was
 * compared, or why nothing was.
 */
export function diffSnapshot(snap, ref) {
  if (!ref) return { snap: null, note: "diff: no earlier step of this layer to compare with" };
  if (!snap.display.data || !ref.display.data) {
    return { snap: null, note: "diff: a display array was dropped from the browser store" };
  }
  if (!sameShape(snap.display.shape, ref.display.shape)) {
    const fmt = (s) => s.join("\u00d7");
    return {
      snap: null,
      note:
        `diff: epoch ${snap.epoch} and epoch ${ref.epoch} have display arrays of different ` +
        `shapes (${fmt(snap.display.shape)} and ${fmt(ref.display.shape)}): no diff`,
    };
  }
  const a = snap.display.data;
  const b = ref.display.data;
  const data = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) data[i] = a[i] - b[i];
  return {
    snap: { ...snap, display: { ...snap.display, data } },
    note: `diff: epoch ${snap.epoch} \u2212 epoch ${ref.epoch}`,
  };
}

/** The diverging colour scale of a diff view, symmetric around 0 ([-1, 1] when all zero). */
export function diffScale(view, data) {
  const [lo, hi] = viewRange(view, data);
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  return m > 0 ? chooseScale(-m, m, "diverging") : { name: "diverging", lo: -1, hi: 1 };
}

/**
 * The diff and pin controls of one view, appended to `bar`. Returns {sync(note)}: the controls'
 * state from the model, and the note of the diff on display ("" for none).
 */
export function createCompareControls(bar, model, listen) {
  const diffLabel = bar.appendChild(el("label", "kv-field"));
  const diff = el("input", "kv-diff", { type: "checkbox", "aria-label": "diff with a step" });
  diffLabel.append("diff");
  diffLabel.appendChild(diff);
  const pin = bar.appendChild(el("button", "kv-pin", { type: "button" }));
  const note = bar.appendChild(el("span", "kv-diff-note", { "aria-live": "polite" }));
  listen(diff, "change", () => {
    model.set("diff", diff.checked);
    model.save_changes();
  });
  listen(pin, "click", () => {
    model.set("pinned", model.get("pinned") == null ? model.get("epoch") : null);
    model.save_changes();
  });

  function sync(text) {
    diff.checked = Boolean(model.get("diff"));
    const pinned = model.get("pinned");
    pin.textContent = pinned == null ? "pin this epoch" : `unpin epoch ${pinned}`;
    pin.setAttribute(
      "aria-label",
      pinned == null
        ? "pin this epoch (diff against it, overlay its histogram)"
        : `unpin epoch ${pinned}`,
    );
    note.textContent = text;
  }

  return { sync };
}
