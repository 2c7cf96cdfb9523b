// The anywidget front-end of TensorViewer: controls, heatmap, colour bar, hover, histogram and
// timeline, all drawn from the per-model store so that they answer while the kernel is busy in
// fit() (it can still send; it cannot answer).
//
// Modules, by concern: `controls` (DOM, menus, listeners), `box` (heatmap, sizing, colour bar),
// `hover`, `playback` (slider, play, follow), `plots` (histogram, ridge and timeline on canvas,
// through `charts`), `findings` (banner, menu marks, list), `overview-panel` (layers x steps),
// `compare` (diff mode, pin); `store`, `heatmap`, `colormap` and `protocol` hold the state, the
// views, the colours and the wire format.

import "./widget.css";
import { createStore } from "./store.js";
import { REPLAY } from "./protocol.js";
import { viewOf } from "./heatmap.js";
import { el } from "./format.js";
import { buildDom, syncMenus, syncControls, syncTime, bindControls } from "./controls.js";
import { createBox, scaleFor } from "./box.js";
import { bindHover } from "./hover.js";
import { createPlayback } from "./playback.js";
import { createPlots } from "./plots.js";
import { createFindings } from "./findings.js";
import { createOverviewPanel } from "./overview-panel.js";
import { createCompareControls, diffReference, diffSnapshot, diffScale } from "./compare.js";

// One store per widget model, shared by all its views; keyed by the model's viewer id
// (anywidget gives initialize and render different model proxies).
const STORES = new Map();

function storeFor(model) {
  const id = model.get("_viewer_id");
  if (!STORES.has(id)) STORES.set(id, createStore());
  return STORES.get(id);
}

// The model traits whose change redraws a view, as Python sends them (`protocol.VIEW_TRAITS`).
function redrawEvents(model) {
  const names = model.get("_view_traits");
  if (!Array.isArray(names) || names.length === 0) {
    throw new Error(
      "kerasviz_widget: the widget sent no _view_traits; the Python package and its front-end " +
        "bundle do not match. Reinstall kerasviz_widget and restart the kernel.",
    );
  }
  return names.map((name) => `change:${name}`);
}

// While following, stay on the newest step even when the kernel, once `fit` has ended, echoes
// an older epoch that this view chose while the kernel was busy.
const FOLLOW_ON = ["change:epoch", "change:follow"];

// The notebook output that carries the viewer's static picture (for nbconvert and GitHub) is
// hidden once a live view has drawn: one rule per viewer id, in the page's head.
function hideStaticPicture(id) {
  if (!id || !/^[0-9a-z-]+$/i.test(id) || document.getElementById(`kv-static-${id}`)) return;
  const picture = `.kerasviz-static[data-kv-viewer="${id}"]`;
  const style = document.createElement("style");
  style.id = `kv-static-${id}`;
  style.textContent =
    `${picture} { display: none !important; } ` +
    `.jp-OutputArea-child:has(${picture}) { display: none !important; }`;
  document.head.appendChild(style);
}

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

  render({ model, el: hostEl }) {
    const redrawOn = redrawEvents(model);
    const store = storeFor(model);
    hostEl.classList.add("kerasviz-viewer");
    const root = hostEl.appendChild(el("div", "kv-root"));
    const ui = buildDom(root);
    const controller = new AbortController();
    const listen = (node, type, fn) =>
      node.addEventListener(type, fn, { signal: controller.signal });
    const box = createBox(ui, root);
    let frame = 0;
    let version = 0; // bumps on every message: the timeline redraws only when data changed
    let current = null; // {snap, view, scale} on display
    // Show a layer at a step, from the banner, a finding, or an overview cell.
    const goTo = (layer, epoch) => {
      const steps = store.state.steps;
      const latest = steps.length ? steps[steps.length - 1].epoch : epoch;
      model.set({ layer, follow: epoch === latest, epoch });
      model.save_changes();
    };
    const below = el("div", "kv-below");
    ui.hover.after(below);
    const findings = createFindings(root, ui.box.parentNode, below, model, store, listen, goTo);
    const compareBar = el("span", "kv-compare");
    ui.status.before(compareBar);
    const compare = createCompareControls(compareBar, model, listen);
    const overview = createOverviewPanel(root, model, store, listen, goTo);
    ui.plots.before(overview.element); // the whole model first, then the layer's plots

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
      findings.draw(ui.layer);
      overview.draw(version);
      const layer = model.get("layer");
      let snap = store.get(layer, model.get("epoch"));
      // The user's channel, else the one Python chose for this layer (its latest step).
      const channel = model.get("channel") ?? store.defaultChannel(layer);
      syncControls(ui, model, snap, channel);
      if (!snap) return compare.sync("");
      const step = snap; // the step itself, for the plots, whatever the heatmap shows
      store.touch(snap.epoch);
      const viewOptions = {
        sample: model.get("sample"),
        channel,
        slice: model.get("slice"),
        montage: model.get("montage"),
      };
      let view = viewOf(snap.display, viewOptions);
      let scale = scaleFor(model, store, snap, view);
      let note = "";
      let diffed = false;
      if (model.get("diff")) {
        const ref = diffReference(store, snap.layer, snap.epoch, model.get("pinned"));
        const diff = diffSnapshot(snap, ref);
        note = diff.note;
        if (diff.snap) {
          diffed = true;
          snap = diff.snap;
          view = viewOf(snap.display, viewOptions);
          scale = diffScale(view, snap.display.data);
        }
      }
      compare.sync(note);
      ui.heatmap.dataset.diff = diffed ? note : "";
      box.draw(snap, view, scale);
      current = { snap, view, scale };
      hover.refresh();
      root.dataset.drawMs = String(performance.now() - t0);
      root.dataset.draws = String(Number(root.dataset.draws || 0) + 1);
      plots.draw(step, version);
      if (snap.display.data) hideStaticPicture(model.get("_viewer_id"));
    }

    const redraw = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };
    const playback = createPlayback(ui, model, store, listen, redraw);
    bindControls(ui, model, listen, () => current);
    const hover = bindHover(ui, listen, () => current);
    const plots = createPlots(ui, root, model, store, listen, (i) => playback.setEpochIndex(i));

    const unsubscribe = store.subscribe((kind) => {
      version++;
      if (kind === "snapshot" || kind === "step") playback.followLatest();
      else redraw();
    });
    for (const name of redrawOn) model.on(name, redraw);
    for (const name of FOLLOW_ON) model.on(name, playback.followLatest);
    const resize = new ResizeObserver(() => {
      box.resized();
      plots.resized();
      overview.resized();
      redraw();
    });
    resize.observe(ui.box);
    resize.observe(ui.plots);
    resize.observe(overview.element);
    // A theme switch (JupyterLab sets data-jp-theme-name on the body) recolours the plots.
    const themed = new MutationObserver(() => {
      plots.resized();
      redraw();
    });
    themed.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name"] });

    playback.followLatest();
    redraw();

    return () => {
      controller.abort();
      cancelAnimationFrame(frame);
      playback.stop();
      unsubscribe();
      resize.disconnect();
      themed.disconnect();
      for (const name of redrawOn) model.off(name, redraw);
      for (const name of FOLLOW_ON) model.off(name, playback.followLatest);
    };
  },
};
