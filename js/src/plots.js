// The bqplot figures: the histogram of the snapshot on display and the timeline of the layer's
// statistics (and the loss). Python builds the figures; this module only feeds their marks.

import { histogramBars, epochTicks } from "./heatmap.js";

/** Resolve the bqplot models named in `_parts` (and the histogram bars); null if unavailable. */
export async function resolveParts(model, host) {
  if (!host || typeof host.getModel !== "function") return null;
  const refs = { ...(model.get("_parts") || {}), bars: model.get("hist") };
  const parts = {};
  for (const [name, ref] of Object.entries(refs)) {
    if (!ref) continue;
    parts[name] = await host.getModel(ref);
  }
  return parts;
}

// One bqplot update; a failure is reported with the part's name and never stops the heatmap.
function put(name, part, ...args) {
  if (!part) return;
  try {
    part.set(...args);
  } catch (err) {
    console.warn(`kerasviz_widget: could not update the bqplot ${name}`, err);
  }
}

// Explicit domains: bqplot's axes cannot format ticks over an empty or a one-point domain.
export function domain(values, pad = 0.05) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const arr of values) {
    for (const v of arr) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!(lo <= hi)) return { min: 0, max: 1 };
  if (lo === hi) return { min: lo - 0.5, max: hi + 0.5 };
  const m = (hi - lo) * pad;
  return { min: lo - m, max: hi + m };
}

const finite = (arrays) => arrays.map((a) => a.filter(Number.isFinite));

function drawLoss(parts, store) {
  const { loss, tl_loss: tloss } = parts;
  if (!loss) return;
  const l = store.logSeries("loss");
  const v = store.logSeries("val_loss");
  put("tloss", tloss, domain(finite([l.values, v.values])));
  if (v.values.length === l.values.length && v.values.length) {
    put("loss", loss, { x: l.epochs, y: [l.values, v.values], labels: ["loss", "val_loss"] });
  } else {
    put("loss", loss, { x: l.epochs, y: l.values, labels: ["loss"] });
  }
}

/**
 * The figures of one view, fed from the store. `draw(snap, version)` updates what changed:
 * the histogram when the snapshot or the log scale did, the timeline when `version` did.
 */
export function createPlots(parts, model, store) {
  let drawnTimeline = "";
  let drawnHist = null;
  let drawnLogY = null;

  function drawHistogram(snap) {
    const { bars, hist_y_axis: axis } = parts;
    const logY = model.get("log_y");
    if (drawnHist === snap.hist && drawnLogY === logY) return;
    drawnHist = snap.hist;
    const { x, y } = histogramBars(snap.hist);
    const scales = bars.get("scales") || {};
    if (scales.x && typeof scales.x.set === "function") {
      put("x scale", scales.x, { min: snap.hist.lo, max: snap.hist.hi });
    }
    // Log counts are drawn as log10(1 + count) on the linear scale: swapping a mark's scale
    // from the browser does not redraw bqplot's axis reliably, and empty bins stay at 0.
    if (logY) for (let i = 0; i < y.length; i++) y[i] = Math.log10(1 + y[i]);
    if (drawnLogY !== logY && axis) {
      put("axis", axis, "label", logY ? "log10(1 + count)" : "count");
    }
    drawnLogY = logY;
    put("bars", bars, { x, y });
  }

  function drawTimeline(snap, version) {
    const { band, mean, zero, cursor, hit, tl_x: tx, tl_y: ty } = parts;
    const key = `${snap.layer}|${version}`;
    if (key !== drawnTimeline) {
      drawnTimeline = key;
      const s = store.series(snap.layer);
      const lower = s.mean.map((m, i) => m - s.std[i]);
      const upper = s.mean.map((m, i) => m + s.std[i]);
      const epochs = Float64Array.from(store.state.steps, (st) => st.epoch);
      const last = epochs.length ? epochs[epochs.length - 1] : 1;
      const first = epochs.length ? epochs[0] : 0;
      put("tx", tx, { min: first, max: Math.max(last, 1) });
      if (parts.tl_x_axis) {
        put("epoch ticks", parts.tl_x_axis, "tick_values", epochTicks(first, last));
      }
      // Explicit domains always: bqplot does not widen a domain once it was set explicitly.
      put("ty", ty, domain(finite([lower, upper])));
      put("band", band, { x: s.epochs, y: [lower, upper] });
      put("mean", mean, { x: s.epochs, y: s.mean });
      put("zero", zero, { x: s.epochs, y: s.zero });
      put("hit", hit, { x: s.epochs, y: s.mean });
      drawLoss(parts, store);
    }
    put("cursor", cursor, "x", Float64Array.from([snap.epoch, snap.epoch]));
  }

  return {
    draw(snap, version) {
      try {
        drawHistogram(snap);
        drawTimeline(snap, version);
      } catch (err) {
        console.warn("kerasviz_widget: could not update the bqplot figures", err);
      }
    },
  };
}
