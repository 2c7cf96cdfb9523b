// The plots under the heatmap, drawn on canvas by `charts.js` from the store: the histogram of
// the snapshot on display (or, with `ridge`, the layer's histograms of every step) and the
// timeline of the layer's statistics and the training loss. Themed from the page's CSS
// variables, sized by a ResizeObserver; a click on the timeline (or on a ridge) shows that step.

import {
  prepareCanvas,
  drawHistogram,
  drawTimeline,
  drawRidge,
  hitTimeline,
  hitRidge,
  themeFrom,
} from "./charts.js";

const round = (v) => Math.round(v * 10) / 10;

// The chart's size in CSS pixels: its box, which CSS sizes (the canvas follows it).
function sizeOf(canvas) {
  const box = canvas.parentElement.getBoundingClientRect();
  return { width: Math.floor(box.width), height: Math.floor(box.height) };
}

/**
 * The plots of one view. `draw(snap, version)` redraws what changed (the timeline when `version`
 * did, the histogram when the snapshot or its options did); `pick(i)` is called with a step
 * index when the user clicks a step. Returns {draw, dispose}.
 */
export function createPlots(ui, root, model, store, listen, pick) {
  let drawn = { hist: "", timeline: "" };
  let histLayout = null;
  let timelineLayout = null;
  let ridgeSteps = [];
  let timelineEpochs = [];

  function theme() {
    const style = getComputedStyle(root);
    return themeFrom((name) => style.getPropertyValue(name));
  }

  function drawHist(snap, version, th) {
    const canvas = ui.hist;
    const size = sizeOf(canvas);
    if (!size.width || !size.height) return;
    const logY = Boolean(model.get("log_y"));
    const ridge = Boolean(model.get("ridge"));
    const pinned = model.get("pinned");
    const key = [snap.layer, snap.epoch, logY, ridge, pinned, size.width, size.height]
      .concat([th.bg, th.fg, ridge ? version : ""])
      .join("|");
    if (key === drawn.hist) return;
    drawn.hist = key;
    const ctx = prepareCanvas(canvas, size.width, size.height, window.devicePixelRatio || 1);
    canvas.dataset.layer = snap.layer;
    canvas.dataset.epoch = String(snap.epoch);
    canvas.dataset.view = ridge ? "ridge" : "histogram";
    canvas.dataset.logY = String(logY);
    if (ridge) {
      ridgeSteps = store.histograms(snap.layer);
      histLayout = drawRidge(ctx, size, ridgeSteps, { current: snap.epoch, theme: th });
      canvas.dataset.rows = String(histLayout.rows.length);
      canvas.setAttribute(
        "aria-label",
        `histograms of layer ${snap.layer} at ${ridgeSteps.length} steps`,
      );
      return;
    }
    const other = pinned != null && pinned !== snap.epoch ? store.get(snap.layer, pinned) : null;
    histLayout = drawHistogram(
      ctx,
      size,
      { ...snap.hist },
      {
        logY,
        overlay: other ? other.hist : null,
        label: `epoch ${snap.epoch}`,
        overlayLabel: `pinned: epoch ${pinned}`,
        note: snap.hist.note || "",
        theme: th,
      },
    );
    canvas.dataset.note = snap.hist.note || "";
    canvas.dataset.bars = String(histLayout.bars.length);
    canvas.dataset.heights = JSON.stringify(histLayout.bars.map((b) => round(b.height)));
    canvas.dataset.overlay = String(Boolean(histLayout.overlay));
    canvas.setAttribute(
      "aria-label",
      `histogram of layer ${snap.layer} at epoch ${snap.epoch}${logY ? ", log counts" : ""}` +
        (snap.hist.note ? `; ${snap.hist.note}` : ""),
    );
  }

  function drawTime(snap, version, th) {
    const canvas = ui.timeline;
    const size = sizeOf(canvas);
    if (!size.width || !size.height) return;
    const key = [snap.layer, snap.epoch, version, size.width, size.height, th.bg, th.fg].join("|");
    if (key === drawn.timeline) return;
    drawn.timeline = key;
    const ctx = prepareCanvas(canvas, size.width, size.height, window.devicePixelRatio || 1);
    const series = store.series(snap.layer);
    timelineEpochs = Array.from(series.epochs);
    timelineLayout = drawTimeline(
      ctx,
      size,
      {
        ...series,
        loss: store.logSeries("loss"),
        valLoss: store.logSeries("val_loss"),
        cursor: snap.epoch,
      },
      { theme: th },
    );
    canvas.dataset.layer = snap.layer;
    canvas.dataset.epoch = String(snap.epoch);
    canvas.dataset.points = JSON.stringify(
      timelineLayout.points.map((p) => [p.epoch, round(p.x), round(p.y)]),
    );
    canvas.setAttribute(
      "aria-label",
      `timeline of layer ${snap.layer} over ${timelineEpochs.length} steps, at epoch ${snap.epoch}`,
    );
  }

  // A click at an epoch: show the store's step of that epoch.
  function jump(epoch) {
    const i = store.state.steps.findIndex((st) => st.epoch === epoch);
    if (i >= 0) pick(i);
  }

  const local = (canvas, event) => {
    const rect = canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  };
  listen(ui.timeline, "click", (event) => {
    if (!timelineLayout) return;
    const i = hitTimeline(timelineLayout, ...local(ui.timeline, event));
    if (i >= 0) jump(timelineEpochs[i]);
  });
  listen(ui.hist, "click", (event) => {
    if (!histLayout || !model.get("ridge")) return;
    const i = hitRidge(histLayout, ...local(ui.hist, event));
    if (i >= 0) jump(ridgeSteps[i].epoch);
  });

  return {
    draw(snap, version) {
      const th = theme();
      drawHist(snap, version, th);
      drawTime(snap, version, th);
    },
    /** Forget what was drawn, so that the next draw redraws (after a resize). */
    resized() {
      drawn = { hist: "", timeline: "" };
    },
  };
}
