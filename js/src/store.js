// The browser-side store of every snapshot a widget model was sent, shared by all its views.
// Everything the views draw comes from here, so they answer while the kernel is busy in fit().

import { PROTOCOL_VERSION, decodeMessage } from "./protocol.js";

export function stepKey(epoch) {
  return `${Number(epoch)}`;
}

export function createStore() {
  const listeners = new Set();
  const state = {
    catalog: null, // {version, layers, probe}
    layers: [], // catalog layers
    steps: [], // [{epoch, batch, logs}] ascending by epoch
    snapshots: new Map(), // layer -> Map(stepKey -> snapshot)
    status: { state: "idle", message: "" },
    error: "",
  };

  function emit(kind) {
    for (const fn of listeners) fn(kind);
  }

  function addStep(step) {
    const key = stepKey(step.epoch);
    const i = state.steps.findIndex((s) => stepKey(s.epoch) === key);
    if (i >= 0) state.steps[i] = step;
    else {
      state.steps.push(step);
      state.steps.sort((a, b) => a.epoch - b.epoch);
    }
  }

  function receive(content, buffers) {
    const msg = decodeMessage(content, buffers);
    if (!msg) return;
    switch (msg.kind) {
      case "catalog":
        if (msg.version !== PROTOCOL_VERSION) {
          state.error =
            `This widget's front-end speaks protocol version ${PROTOCOL_VERSION}, but the ` +
            `kernel's kerasviz_widget speaks ${msg.version}. Reinstall kerasviz_widget and ` +
            `restart the kernel so that both sides match.`;
        }
        state.catalog = msg;
        state.layers = msg.layers;
        break;
      case "step":
        addStep({ epoch: msg.epoch, batch: msg.batch, logs: msg.logs || {} });
        break;
      case "snapshot": {
        if (!state.snapshots.has(msg.layer)) state.snapshots.set(msg.layer, new Map());
        state.snapshots.get(msg.layer).set(stepKey(msg.epoch), msg);
        if (!state.steps.some((s) => s.epoch === msg.epoch)) {
          addStep({ epoch: msg.epoch, batch: msg.batch, logs: {} });
        }
        break;
      }
      case "status":
        state.status = { state: msg.state, message: msg.message || "" };
        break;
      case "thinned":
        break;
    }
    emit(msg.kind);
  }

  return {
    state,
    receive,
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    isEmpty() {
      return state.catalog === null;
    },
    get(layer, epoch) {
      const byStep = state.snapshots.get(layer);
      return byStep ? byStep.get(stepKey(epoch)) || null : null;
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
  };
}
