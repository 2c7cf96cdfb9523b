// The anywidget front-end of TensorViewer: controls, heatmap, colour bar, hover, and the bqplot
// histogram and timeline, all drawn from the per-model store so that they answer while the
// kernel is busy in fit() (it can still send; it cannot answer).
//
// Modules, by concern: `controls` (DOM, menus, listeners), `box` (heatmap, sizing, colour bar),
// `hover`, `playback` (slider, play, follow), `plots` (bqplot figures); `store`, `heatmap`,
// `colormap` and `protocol` hold the state, the views, the colours and the wire format.

import "./widget.css";
import { createStore } from "./store.js";
import { REPLAY } from "./protocol.js";
import { viewOf } from "./heatmap.js";
import { el } from "./format.js";
import { buildDom, syncMenus, syncControls, syncTime, bindControls } from "./controls.js";
import { createBox, scaleFor } from "./box.js";
import { bindHover } from "./hover.js";
import { createPlayback } from "./playback.js";
import { resolveParts, createPlots } from "./plots.js";

// One store per widget model, shared by all its views; keyed by the model's viewer id
// (anywidget gives initialize and render different model proxies).
const STORES = new Map();

function storeFor(model) {
  const id = model.get("_viewer_id");
  if (!STORES.has(id)) STORES.set(id, createStore());
  return STORES.get(id);
}

// Model traits whose change redraws a view.
const REDRAW_ON = [
  "layer",
  "epoch",
  "sample",
  "channel",
  "slice",
  "montage",
  "colormap",
  "range_mode",
  "range_lo",
  "range_hi",
  "log_y",
  "follow",
].map((name) => `change:${name}`);

// While following, stay on the newest step even when the kernel, once `fit` has ended, echoes
// an older epoch that this view chose while the kernel was busy.
const FOLLOW_ON = ["change:epoch", "change:follow"];

export default {
  initialize({ model }) {
    const store = storeFor(model);
    const onMessage = (content, buffers) => store.receive(content, buffers);
    model.on("msg:custom", onMessage);
    // A new front-end (page load, a view of a widget created earlier) starts empty: ask for
    // everything kept. Duplicates are harmless: the store keys snapshots by (layer, step).
    if (store.isEmpty()) model.send(REPLAY);
    return () => {
      model.off("msg:custom", onMessage);
      STORES.delete(model.get("_viewer_id"));
    };
  },

  async render({ model, el: hostEl, host }) {
    const store = storeFor(model);
    const root = hostEl.appendChild(el("div", "kv-root"));
    const ui = buildDom(root);
    const controller = new AbortController();
    const listen = (node, type, fn) =>
      node.addEventListener(type, fn, { signal: controller.signal });
    const box = createBox(ui, root);
    let frame = 0;
    let plots = null;
    let version = 0; // bumps on every message: the timeline redraws only when data changed
    let current = null; // {snap, view, scale} on display

    function draw() {
      frame = 0;
      const t0 = performance.now();
      const { status, error } = store.state;
      ui.error.hidden = !error;
      ui.error.textContent = error;
      ui.status.textContent = status.message;
      ui.status.classList.toggle("kv-error", status.state === "error");
      syncMenus(ui, model, store.state);
      syncTime(ui, model, store.state.steps);
      const snap = store.get(model.get("layer"), model.get("epoch"));
      syncControls(ui, model, snap);
      if (!snap) return;
      store.touch(snap.epoch);
      const view = viewOf(snap.display, {
        sample: model.get("sample"),
        channel: model.get("channel"),
        slice: model.get("slice"),
        montage: model.get("montage"),
      });
      const scale = scaleFor(model, store, snap, view);
      box.draw(snap, view, scale);
      current = { snap, view, scale };
      root.dataset.drawMs = String(performance.now() - t0);
      root.dataset.draws = String(Number(root.dataset.draws || 0) + 1);
      if (plots) plots.draw(snap, version);
    }

    const redraw = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };
    const playback = createPlayback(ui, model, store, listen, redraw);
    bindControls(ui, model, listen, () => current);
    bindHover(ui, listen, () => current);

    const unsubscribe = store.subscribe((kind) => {
      version++;
      if (kind === "snapshot" || kind === "step") playback.followLatest();
      else redraw();
    });
    for (const name of REDRAW_ON) model.on(name, redraw);
    for (const name of FOLLOW_ON) model.on(name, playback.followLatest);
    const resize = new ResizeObserver(() => {
      box.resized();
      redraw();
    });
    resize.observe(ui.box);

    playback.followLatest();
    let parts = null;
    try {
      parts = await resolveParts(model, host);
    } catch (err) {
      console.warn("kerasviz_widget: histogram and timeline unavailable", err);
    }
    if (parts) plots = createPlots(parts, model, store);
    // A click on a timeline dot shows that step.
    const onHit = () => {
      const selected = parts.hit.get("selected");
      if (!selected || !selected.length) return;
      parts.hit.set("selected", null);
      const epoch = store.series(model.get("layer")).epochs[selected[0]];
      const i = store.state.steps.findIndex((st) => st.epoch === epoch);
      if (i >= 0) playback.setEpochIndex(i);
    };
    if (parts && parts.hit) parts.hit.on("change:selected", onHit);
    redraw();

    return () => {
      controller.abort();
      cancelAnimationFrame(frame);
      playback.stop();
      unsubscribe();
      resize.disconnect();
      for (const name of REDRAW_ON) model.off(name, redraw);
      for (const name of FOLLOW_ON) model.off(name, playback.followLatest);
      if (parts && parts.hit) parts.hit.off("change:selected", onHit);
    };
  },
};
