// The browser-side store of every snapshot a widget model was sent, shared by all its views.
// Everything the views draw comes from here, so they answer while the kernel is busy in fit().
//
// The store is bounded by bytes of display data: past `maxBytes`, the display arrays of the
// least recently viewed steps are dropped first (a step counts as viewed when it arrives).
// Statistics and histograms of every step are always kept: they feed the timeline and the
// overview. The health findings of each step and the run's first bad layer are kept as the
// kernel sent them (`findings` messages).

import { PROTOCOL_VERSION, decodeMessage, unbatch } from "./protocol.js";

/** Default bound of the display data a store keeps, in bytes. */
export const DEFAULT_MAX_BYTES = 256 * 2 ** 20;

export function stepKey(epoch) {
  return `${Number(epoch)}`;
}

export function createStore({ maxBytes = DEFAULT_MAX_BYTES } = {}) {
  const listeners = new Set();
  const state = {
    catalog: null, // {version, layers, probe}
    layers: [], // catalog layers
    steps: [], // [{epoch, batch, logs}] ascending by epoch
    snapshots: new Map(), // layer -> Map(stepKey -> snapshot)
    findings: new Map(), // stepKey -> [{layer, epoch, kind, fraction, message}]
    firstBad: null, // [layer, epoch] or null: where NaN/Inf starts
    status: { state: "idle", message: "" },
    error: "",
  };
  let bytes = 0;
  let clock = 0;
  const lastUse = new Map(); // stepKey -> clock of its arrival or last view
  const stepBytes = new Map(); // stepKey -> display bytes held for that step

  function emit(kind) {
    for (const fn of listeners) fn(kind);
  }

  function addStep(step) {
    const key = stepKey(step.epoch);
    const i = state.steps.findIndex((s) => stepKey(s.epoch) === key);
    if (i >= 0)
      state.steps[i] = {
        ...state.steps[i],
        ...step,
        logs: { ...state.steps[i].logs, ...step.logs },
      };
    else {
      state.steps.push(step);
      state.steps.sort((a, b) => a.epoch - b.epoch);
    }
  }

  function addSnapshot(msg) {
    const key = stepKey(msg.epoch);
    if (!state.snapshots.has(msg.layer)) state.snapshots.set(msg.layer, new Map());
    const byStep = state.snapshots.get(msg.layer);
    const old = byStep.get(key);
    if (old && old.display.data) account(key, -old.display.data.byteLength);
    byStep.set(key, msg);
    account(key, msg.display.data.byteLength);
    lastUse.set(key, ++clock);
    if (!state.steps.some((s) => stepKey(s.epoch) === key)) {
      addStep({ epoch: msg.epoch, batch: msg.batch, logs: {} });
    }
    evict(key);
  }

  function account(key, delta) {
    bytes += delta;
    stepBytes.set(key, (stepBytes.get(key) || 0) + delta);
  }

  // Drop display arrays, least recently used step first, until the store fits; never the step
  // just written (`keep`), so the newest snapshot can always be drawn.
  function evict(keep) {
    while (bytes > maxBytes) {
      let victim = null;
      for (const [key, held] of stepBytes) {
        if (held <= 0 || key === keep) continue;
        if (victim === null || lastUse.get(key) < lastUse.get(victim)) victim = key;
      }
      if (victim === null) return;
      for (const byStep of state.snapshots.values()) {
        const snap = byStep.get(victim);
        if (snap && snap.display.data) {
          account(victim, -snap.display.data.byteLength);
          snap.display = { ...snap.display, data: null };
        }
      }
    }
  }

  function receive(content, buffers) {
    for (const [inner, innerBuffers] of unbatch(content, buffers)) receiveOne(inner, innerBuffers);
  }

  function receiveOne(content, buffers) {
    const msg = decodeMessage(content, buffers);
    if (!msg) return;
    switch (msg.kind) {
      case "catalog":
        if (msg.version !== PROTOCOL_VERSION) {
          state.error =
            `kerasviz_widget: this front-end speaks protocol version ${PROTOCOL_VERSION}, but ` +
            `the kernel's kerasviz_widget speaks ${msg.version}. Reinstall ` +
            `kerasviz_widget, restart the kernel and reload the page so that both sides match.`;
        } else state.error = "";
        state.catalog = msg;
        state.layers = msg.layers;
        break;
      case "step":
        addStep({ epoch: msg.epoch, batch: msg.batch, logs: msg.logs || {} });
        break;
      case "snapshot":
        if (state.error) return;
        addSnapshot(msg);
        break;
      case "findings":
        if (state.error) return;
        state.findings.set(stepKey(msg.epoch), msg.findings || []);
        state.firstBad = msg.first_bad || null;
        break;
      case "status":
        state.status = { state: msg.state, message: msg.message || "" };
        break;
    }
    emit(msg.kind);
  }

  return {
    state,
    receive,
    maxBytes,
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    isEmpty() {
      return state.catalog === null;
    },
    /** Bytes of display data held now. */
    bytes() {
      return bytes;
    },
    /** The snapshot of a layer at a step (its `display.data` is null if it was dropped). */
    get(layer, epoch) {
      const byStep = state.snapshots.get(layer);
      return byStep ? byStep.get(stepKey(epoch)) || null : null;
    },
    /** The health findings of a step, as the kernel sent them ([] when none were sent). */
    findingsAt(epoch) {
      return state.findings.get(stepKey(epoch)) || [];
    },
    /** Mark a step as viewed now, so that it is dropped last. */
    touch(epoch) {
      const key = stepKey(epoch);
      if (lastUse.has(key)) lastUse.set(key, ++clock);
    },
    /** The [min, max] colour range of a layer across every step the store holds. */
    layerRange(layer) {
      const byStep = state.snapshots.get(layer);
      let lo = Infinity;
      let hi = -Infinity;
      if (byStep) {
        for (const snap of byStep.values()) {
          if (snap.stats.min != null) lo = Math.min(lo, snap.stats.min);
          if (snap.stats.max != null) hi = Math.max(hi, snap.stats.max);
        }
      }
      return lo <= hi ? [lo, hi] : [0, 1];
    },
    /** Per-step statistics of a layer, ascending by epoch: {epochs, mean, std, zero}. */
    series(layer) {
      const byStep = state.snapshots.get(layer);
      const rows = byStep ? [...byStep.values()].sort((a, b) => a.epoch - b.epoch) : [];
      const nan = (v) => (v == null ? NaN : v);
      return {
        epochs: Float64Array.from(rows, (s) => s.epoch),
        mean: Float64Array.from(rows, (s) => nan(s.stats.mean)),
        std: Float64Array.from(rows, (s) => nan(s.stats.std)),
        zero: Float64Array.from(rows, (s) => nan(s.stats.zero_fraction)),
      };
    },
    /** The layer's histograms, ascending by epoch: [{epoch, lo, hi, counts}] (the ridge view). */
    histograms(layer) {
      const byStep = state.snapshots.get(layer);
      const rows = byStep ? [...byStep.values()].sort((a, b) => a.epoch - b.epoch) : [];
      return rows.map((s) => ({
        epoch: s.epoch,
        lo: s.hist.lo,
        hi: s.hist.hi,
        counts: s.hist.counts,
      }));
    },
    /**
     * The channel a view shows until the user picks one: Python's choice (`display.channel`) at
     * the layer's latest step, so that it stays put while the user scrubs back.
     */
    defaultChannel(layer) {
      const byStep = state.snapshots.get(layer);
      let latest = null;
      if (byStep)
        for (const s of byStep.values()) if (!latest || s.epoch > latest.epoch) latest = s;
      return latest && Number.isInteger(latest.display.channel) ? latest.display.channel : 0;
    },
    /** A training log (e.g. "loss", "val_loss") over the steps that have it: {epochs, values}. */
    logSeries(name) {
      const rows = state.steps.filter((s) => s.logs && s.logs[name] != null);
      return {
        epochs: Float64Array.from(rows, (s) => s.epoch),
        values: Float64Array.from(rows, (s) => s.logs[name]),
      };
    },
  };
}
