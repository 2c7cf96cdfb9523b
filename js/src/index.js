// The anywidget front-end of TensorViewer: controls, heatmap, colour bar and histogram,
// all drawn from the per-model store so that they answer while the kernel is busy.

import "./widget.css";
import { createStore } from "./store.js";
import { REPLAY } from "./protocol.js";
import { lut, chooseScale } from "./colormap.js";
import { viewOf, drawHeatmap, histogramBars, channelCount, sampleCount } from "./heatmap.js";

// One store per widget model, shared by all its views; keyed by the model's viewer id.
const STORES = new Map();

function storeFor(model) {
  const id = model.get("_viewer_id");
  if (!STORES.has(id)) STORES.set(id, createStore());
  return STORES.get(id);
}

function el(tag, className, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function formatNumber(v) {
  if (v == null || Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(3) : v.toPrecision(4);
}

function formatShape(shape) {
  return `(${shape.map((d) => (d == null ? "None" : d)).join(", ")})`;
}

function buildDom(root) {
  const bar = root.appendChild(el("div", "kv-bar"));
  const layerLabel = bar.appendChild(el("label", "kv-field"));
  layerLabel.append("layer ");
  const layer = layerLabel.appendChild(el("select", "kv-layer", { "aria-label": "layer" }));
  const sampleLabel = bar.appendChild(el("label", "kv-field"));
  sampleLabel.append("sample ");
  const sample = sampleLabel.appendChild(
    el("input", "kv-sample", { type: "number", min: "0", value: "0", "aria-label": "sample" }),
  );
  const channelLabel = bar.appendChild(el("label", "kv-field"));
  channelLabel.append("channel ");
  const channel = channelLabel.appendChild(
    el("input", "kv-channel", { type: "number", min: "0", value: "0", "aria-label": "channel" }),
  );
  const status = bar.appendChild(el("span", "kv-status", { role: "status" }));

  const main = root.appendChild(el("div", "kv-main"));
  const heatmap = main.appendChild(el("canvas", "kv-heatmap", { role: "img" }));
  const scale = main.appendChild(el("div", "kv-scale"));
  const scaleHi = scale.appendChild(el("span", "kv-scale-hi"));
  const colorbar = scale.appendChild(el("canvas", "kv-colorbar"));
  const scaleLo = scale.appendChild(el("span", "kv-scale-lo"));
  const hover = root.appendChild(el("div", "kv-hover"));
  hover.textContent = "\u00a0";

  const time = root.appendChild(el("div", "kv-time"));
  const play = time.appendChild(el("button", "kv-play", { type: "button", "aria-label": "play" }));
  play.textContent = "\u25b6";
  const epoch = time.appendChild(
    el("input", "kv-epoch", { type: "range", min: "0", max: "0", value: "0", step: "1" }),
  );
  epoch.setAttribute("aria-label", "epoch");
  const epochLabel = time.appendChild(el("span", "kv-epoch-label"));
  return {
    layer,
    sample,
    channel,
    status,
    heatmap,
    colorbar,
    scaleHi,
    scaleLo,
    hover,
    play,
    epoch,
    epochLabel,
    channelLabel,
  };
}

export default {
  initialize({ model }) {
    const store = storeFor(model);
    const onMessage = (content, buffers) => store.receive(content, buffers);
    model.on("msg:custom", onMessage);
    // A new front-end (page load, new notebook view) starts empty: ask for everything kept.
    model.send(REPLAY);
    return () => {
      model.off("msg:custom", onMessage);
      STORES.delete(model.get("_viewer_id"));
    };
  },

  async render({ model, el: host_el, host }) {
    const store = storeFor(model);
    const root = host_el.appendChild(el("div", "kv-root"));
    const ui = buildDom(root);
    const controller = new AbortController();
    const { signal } = controller;
    let frame = 0;
    let playTimer = 0;
    let lastHist = null;
    let bars = null;

    const currentSnapshot = () => store.get(model.get("layer"), model.get("epoch"));

    function syncLayers() {
      const layers = store.state.layers;
      if (ui.layer.options.length === layers.length) return;
      ui.layer.replaceChildren();
      for (const info of layers) {
        const option = document.createElement("option");
        option.value = info.id;
        // Names come from the model: text, never HTML.
        option.textContent = `${info.id}  ${formatShape(info.output_shape)}`;
        ui.layer.appendChild(option);
      }
      ui.layer.value = model.get("layer");
    }

    function syncTime() {
      const steps = store.state.steps;
      ui.epoch.max = String(Math.max(0, steps.length - 1));
      const i = steps.findIndex((s) => s.epoch === model.get("epoch"));
      if (i >= 0) ui.epoch.value = String(i);
      const step = steps[i];
      const loss =
        step && step.logs && step.logs.loss != null ? `  loss ${formatNumber(step.logs.loss)}` : "";
      ui.epochLabel.textContent = `epoch ${model.get("epoch")} / ${steps.length ? steps[steps.length - 1].epoch : 0}${loss}`;
    }

    function drawColorbar(scale) {
      const table = lut(scale.name);
      const c = ui.colorbar;
      c.width = 1;
      c.height = 256;
      const ctx = c.getContext("2d");
      const image = ctx.createImageData(1, 256);
      for (let i = 0; i < 256; i++) {
        const level = (255 - i) * 3;
        image.data.set([table[level], table[level + 1], table[level + 2], 255], i * 4);
      }
      ctx.putImageData(image, 0, 0);
      ui.scaleHi.textContent = formatNumber(scale.hi);
      ui.scaleLo.textContent = formatNumber(scale.lo);
    }

    function draw() {
      frame = 0;
      syncLayers();
      syncTime();
      const { status, error } = store.state;
      ui.status.textContent = error || status.message;
      ui.status.classList.toggle("kv-error", Boolean(error) || status.state === "error");
      const snap = currentSnapshot();
      if (!snap) return;
      const display = snap.display;
      const nChannels = channelCount(display);
      ui.channel.max = String(nChannels - 1);
      ui.sample.max = String(sampleCount(display) - 1);
      ui.channelLabel.hidden = nChannels <= 1;
      const view = viewOf(display, { sample: model.get("sample"), channel: model.get("channel") });
      const [lo, hi] = store.layerRange(snap.layer);
      const scale = chooseScale(lo, hi);
      drawHeatmap(ui.heatmap, view, display.data, lut(scale.name), scale.lo, scale.hi);
      drawColorbar(scale);
      ui.heatmap.dataset.layer = snap.layer;
      ui.heatmap.dataset.epoch = String(snap.epoch);
      ui.heatmap.setAttribute("aria-label", `heatmap of ${snap.layer} at epoch ${snap.epoch}`);
      if (bars && lastHist !== snap.hist) {
        lastHist = snap.hist;
        const { x, y } = histogramBars(snap.hist);
        const scales = bars.get("scales");
        if (scales && scales.x && typeof scales.x.set === "function") {
          scales.x.set({ min: snap.hist.lo, max: snap.hist.hi });
        }
        bars.set("x", x);
        bars.set("y", y);
      }
    }

    const redraw = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };

    function followLatest() {
      const steps = store.state.steps;
      if (model.get("follow") && steps.length) {
        const latest = steps[steps.length - 1].epoch;
        if (model.get("epoch") !== latest) model.set("epoch", latest);
      }
      redraw();
    }

    function setEpochIndex(i) {
      const steps = store.state.steps;
      if (!steps.length) return;
      const k = Math.max(0, Math.min(steps.length - 1, i));
      // One set, so that change:epoch already sees the new `follow`.
      model.set({ follow: k === steps.length - 1, epoch: steps[k].epoch });
      model.save_changes();
    }

    function stopPlaying() {
      clearInterval(playTimer);
      playTimer = 0;
      ui.play.textContent = "\u25b6";
      ui.play.setAttribute("aria-label", "play");
    }

    ui.layer.addEventListener(
      "change",
      () => {
        model.set("layer", ui.layer.value);
        model.save_changes();
      },
      { signal },
    );
    ui.epoch.addEventListener("input", () => setEpochIndex(Number(ui.epoch.value)), { signal });
    ui.sample.addEventListener(
      "input",
      () => {
        model.set("sample", Math.max(0, Number(ui.sample.value) | 0));
        model.save_changes();
      },
      { signal },
    );
    ui.channel.addEventListener(
      "input",
      () => {
        model.set("channel", Math.max(0, Number(ui.channel.value) | 0));
        model.save_changes();
      },
      { signal },
    );
    ui.play.addEventListener(
      "click",
      () => {
        if (playTimer) return stopPlaying();
        ui.play.textContent = "\u23f8";
        ui.play.setAttribute("aria-label", "pause");
        playTimer = setInterval(() => {
          const n = store.state.steps.length;
          const i = Number(ui.epoch.value);
          setEpochIndex(i + 1 >= n ? 0 : i + 1);
        }, 400);
      },
      { signal },
    );
    ui.heatmap.addEventListener(
      "mousemove",
      (event) => {
        const snap = currentSnapshot();
        if (!snap) return;
        const rect = ui.heatmap.getBoundingClientRect();
        const x = Math.floor(((event.clientX - rect.left) / rect.width) * ui.heatmap.width);
        const y = Math.floor(((event.clientY - rect.top) / rect.height) * ui.heatmap.height);
        if (x < 0 || y < 0 || x >= ui.heatmap.width || y >= ui.heatmap.height) return;
        const view = viewOf(snap.display, {
          sample: model.get("sample"),
          channel: model.get("channel"),
        });
        const value = snap.display.data[view.at(x, y)];
        ui.hover.textContent = `${view.describe(x, y)}: ${formatNumber(value)} (float16 display value)`;
      },
      { signal },
    );

    const unsubscribe = store.subscribe((kind) =>
      kind === "snapshot" || kind === "step" ? followLatest() : redraw(),
    );
    const modelEvents = ["change:layer", "change:sample", "change:channel"];
    for (const name of modelEvents) model.on(name, redraw);
    // While following, stay on the newest step even when the kernel, once `fit` has ended,
    // echoes an older epoch that this view chose while the kernel was busy.
    const followEvents = ["change:epoch", "change:follow"];
    for (const name of followEvents) model.on(name, followLatest);

    if (host && model.get("hist")) {
      try {
        bars = await host.getModel(model.get("hist"));
      } catch (err) {
        console.warn("kerasviz_widget: histogram unavailable", err);
      }
    }
    followLatest();

    return () => {
      controller.abort();
      cancelAnimationFrame(frame);
      stopPlaying();
      unsubscribe();
      for (const name of modelEvents) model.off(name, redraw);
      for (const name of followEvents) model.off(name, followLatest);
    };
  },
};
