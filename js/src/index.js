// The anywidget front-end of TensorViewer: controls, heatmap, colour bar, hover, and the bqplot
// histogram and timeline, all drawn from the per-model store so that they answer while the
// kernel is busy in fit() (it can still send; it cannot answer).

import "./widget.css";
import { createStore } from "./store.js";
import { REPLAY } from "./protocol.js";
import { lut, resolveScale, viewRange, niceTicks, COLORMAPS, RANGE_MODES } from "./colormap.js";
import {
  viewOf,
  drawHeatmap,
  histogramBars,
  channelCount,
  sampleCount,
  sliceCount,
  originalIndex,
  axisNames,
  fitSize,
  epochTicks,
} from "./heatmap.js";

// One store per widget model, shared by all its views; keyed by the model's viewer id
// (anywidget gives initialize and render different model proxies).
const STORES = new Map();

function storeFor(model) {
  const id = model.get("_viewer_id");
  if (!STORES.has(id)) STORES.set(id, createStore());
  return STORES.get(id);
}

const SPEEDS = [
  ["0.5×", 800],
  ["1×", 400],
  ["2×", 200],
  ["4×", 100],
];

const SCALE_WIDTH = 96; // CSS px kept right of the heatmap for the colour bar and its ticks

function el(tag, className, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function option(value, text) {
  const node = document.createElement("option");
  node.value = value;
  node.textContent = text; // names come from the model: text, never HTML
  return node;
}

export function formatNumber(v) {
  if (v == null || Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  const a = Math.abs(v);
  if (a === 0) return "0";
  return a < 1e-3 || a >= 1e5 ? v.toExponential(3) : Number(v.toPrecision(5)).toString();
}

function formatShape(shape) {
  return `(${shape.map((d) => (d == null ? "None" : d)).join(", ")})`;
}

function field(parent, text, control) {
  const label = parent.appendChild(el("label", "kv-field"));
  label.append(text);
  label.appendChild(control);
  return label;
}

function buildDom(root) {
  const bar = root.appendChild(el("div", "kv-bar"));
  const layer = el("select", "kv-layer", { "aria-label": "layer" });
  field(bar, "layer", layer);
  const sample = el("input", "kv-sample", {
    type: "number",
    min: "0",
    value: "0",
    "aria-label": "sample",
  });
  const sampleField = field(bar, "sample", sample);
  const channel = el("input", "kv-channel", {
    type: "number",
    min: "0",
    value: "0",
    "aria-label": "channel",
  });
  const channelField = field(bar, "channel", channel);
  const montage = el("input", "kv-montage", {
    type: "checkbox",
    "aria-label": "show all channels",
  });
  const montageField = field(bar, "all channels", montage);
  const slice = el("input", "kv-slice", {
    type: "number",
    min: "0",
    value: "0",
    "aria-label": "depth slice",
  });
  const sliceField = field(bar, "slice", slice);

  const opts = root.appendChild(el("div", "kv-bar kv-options"));
  const colormap = el("select", "kv-colormap", { "aria-label": "colour map" });
  colormap.append(option("auto", "auto"), ...COLORMAPS.map((n) => option(n, n)));
  field(opts, "colours", colormap);
  const range = el("select", "kv-range", { "aria-label": "colour range" });
  const RANGE_TEXT = { layer: "layer, all epochs", map: "this map", fixed: "fixed" };
  range.append(...RANGE_MODES.map((m) => option(m, RANGE_TEXT[m])));
  field(opts, "range", range);
  const lo = el("input", "kv-range-lo", {
    type: "number",
    step: "any",
    "aria-label": "colour range low",
  });
  const hi = el("input", "kv-range-hi", {
    type: "number",
    step: "any",
    "aria-label": "colour range high",
  });
  const loField = field(opts, "from", lo);
  const hiField = field(opts, "to", hi);
  const logY = el("input", "kv-log-y", { type: "checkbox", "aria-label": "histogram log scale" });
  field(opts, "log-y histogram", logY);
  const status = opts.appendChild(
    el("span", "kv-status", { role: "status", "aria-live": "polite" }),
  );

  const error = root.appendChild(el("div", "kv-error-banner", { role: "alert" }));
  error.hidden = true;

  const main = root.appendChild(el("div", "kv-main"));
  const box = main.appendChild(el("div", "kv-box"));
  const heatmap = box.appendChild(el("canvas", "kv-heatmap", { role: "img", tabindex: "0" }));
  const overlay = box.appendChild(el("canvas", "kv-overlay", { "aria-hidden": "true" }));
  const tip = box.appendChild(el("div", "kv-tip", { "aria-hidden": "true" }));
  tip.hidden = true;
  // The colour bar sits right of the heatmap, inside the box: the box never changes size.
  const scale = box.appendChild(el("div", "kv-scale", { "aria-label": "colour bar" }));
  const colorbar = scale.appendChild(el("canvas", "kv-colorbar"));
  const ticks = scale.appendChild(el("div", "kv-ticks"));
  const hover = root.appendChild(el("div", "kv-hover", { "aria-live": "off" }));
  hover.textContent = "\u00a0";

  const time = root.appendChild(el("div", "kv-time"));
  const play = time.appendChild(el("button", "kv-play", { type: "button", "aria-label": "play" }));
  play.textContent = "\u25b6";
  const speed = el("select", "kv-speed", { "aria-label": "playback speed" });
  speed.append(...SPEEDS.map(([text, ms]) => option(String(ms), text)));
  speed.value = "400";
  time.appendChild(speed);
  const epoch = time.appendChild(
    el("input", "kv-epoch", {
      type: "range",
      min: "0",
      max: "0",
      value: "0",
      step: "1",
      "aria-label": "epoch",
    }),
  );
  const epochLabel = time.appendChild(el("span", "kv-epoch-label", { "aria-live": "off" }));
  const follow = el("input", "kv-follow", { type: "checkbox", "aria-label": "follow live" });
  field(time, "follow live", follow);
  return {
    layer,
    sample,
    sampleField,
    channel,
    channelField,
    montage,
    montageField,
    slice,
    sliceField,
    colormap,
    range,
    lo,
    hi,
    loField,
    hiField,
    logY,
    status,
    error,
    box,
    heatmap,
    overlay,
    tip,
    colorbar,
    scale,
    ticks,
    hover,
    play,
    speed,
    epoch,
    epochLabel,
    follow,
  };
}

/** Resolve the bqplot models named in `_parts` (and the histogram bars); null if unavailable. */
async function resolveParts(model, host) {
  if (!host || typeof host.getModel !== "function") return null;
  const refs = { ...(model.get("_parts") || {}), bars: model.get("hist") };
  const parts = {};
  for (const [name, ref] of Object.entries(refs)) {
    if (!ref) continue;
    parts[name] = await host.getModel(ref);
  }
  return parts;
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

  async render({ model, el: hostEl, host }) {
    const store = storeFor(model);
    const root = hostEl.appendChild(el("div", "kv-root"));
    const ui = buildDom(root);
    const controller = new AbortController();
    const { signal } = controller;
    let frame = 0;
    let playTimer = 0;
    let parts = null;
    let version = 0; // bumps on every message: the timeline redraws only when data changed
    let drawnTimeline = "";
    let drawnHist = null;
    let drawnLogY = null;
    let current = null; // {snap, view} on display
    let sized = "";

    const listen = (node, type, fn) => node.addEventListener(type, fn, { signal });
    const save = (name, value) => {
      model.set(name, value);
      model.save_changes();
    };

    function syncLayers() {
      const layers = store.state.layers;
      const key = layers.map((l) => l.id).join("\u0000");
      if (ui.layer.dataset.key !== key) {
        ui.layer.dataset.key = key;
        ui.layer.replaceChildren(
          ...layers.map((info) => option(info.id, `${info.id}  ${formatShape(info.output_shape)}`)),
        );
      }
      if (ui.layer.value !== model.get("layer")) ui.layer.value = model.get("layer");
    }

    function syncControls(snap) {
      ui.colormap.value = model.get("colormap");
      ui.range.value = model.get("range_mode");
      const fixed = model.get("range_mode") === "fixed";
      ui.loField.hidden = ui.hiField.hidden = !fixed;
      if (document.activeElement !== ui.lo) ui.lo.value = String(model.get("range_lo"));
      if (document.activeElement !== ui.hi) ui.hi.value = String(model.get("range_hi"));
      ui.logY.checked = model.get("log_y");
      ui.follow.checked = model.get("follow");
      ui.montage.checked = model.get("montage");
      if (document.activeElement !== ui.sample) ui.sample.value = String(model.get("sample"));
      if (document.activeElement !== ui.channel) ui.channel.value = String(model.get("channel"));
      if (document.activeElement !== ui.slice) ui.slice.value = String(model.get("slice"));
      if (!snap) return;
      const display = snap.display;
      const nChannels = channelCount(display);
      const nSamples = sampleCount(display);
      const nSlices = sliceCount(display);
      ui.sample.max = String(nSamples - 1);
      ui.channel.max = String(nChannels - 1);
      ui.slice.max = String(nSlices - 1);
      ui.sampleField.hidden = display.layout === "ND" || display.layout === "bars";
      ui.montageField.hidden = nChannels <= 1;
      ui.channelField.hidden = nChannels <= 1 || model.get("montage");
      ui.sliceField.hidden = nSlices <= 1;
    }

    function syncTime() {
      const steps = store.state.steps;
      ui.epoch.max = String(Math.max(0, steps.length - 1));
      const i = steps.findIndex((s) => s.epoch === model.get("epoch"));
      if (i >= 0 && ui.epoch.value !== String(i)) ui.epoch.value = String(i);
      const step = steps[i];
      const last = steps.length ? steps[steps.length - 1].epoch : 0;
      const logs = step && step.logs ? step.logs : {};
      const loss = logs.loss != null ? `  loss ${formatNumber(logs.loss)}` : "";
      const val = logs.val_loss != null ? `  val_loss ${formatNumber(logs.val_loss)}` : "";
      ui.epochLabel.textContent = `epoch ${model.get("epoch")} / ${last}${loss}${val}`;
      ui.epoch.setAttribute("aria-valuetext", `epoch ${model.get("epoch")} of ${last}`);
    }

    function drawColorbar(scale) {
      const table = lut(scale.name);
      const c = ui.colorbar;
      if (c.width !== 1 || c.height !== 256) {
        c.width = 1;
        c.height = 256;
      }
      const ctx = c.getContext("2d");
      const image = ctx.createImageData(1, 256);
      for (let i = 0; i < 256; i++) {
        const level = (255 - i) * 3;
        image.data.set([table[level], table[level + 1], table[level + 2], 255], i * 4);
      }
      ctx.putImageData(image, 0, 0);
      const key = `${scale.lo}|${scale.hi}`;
      if (ui.ticks.dataset.key === key) return;
      ui.ticks.dataset.key = key;
      const spans = niceTicks(scale.lo, scale.hi, 5).map((v) => {
        const span = el("span", "kv-tick");
        span.style.top = `${((scale.hi - v) / (scale.hi - scale.lo)) * 100}%`;
        span.textContent = formatNumber(v);
        return span;
      });
      ui.ticks.replaceChildren(...spans);
    }

    // Size the canvas to whole device pixels per data pixel; the box never changes size, so
    // nothing around it moves.
    function layout(view) {
      const box = ui.box.getBoundingClientRect();
      if (!box.width || !box.height) return;
      const dpr = window.devicePixelRatio || 1;
      const key = `${view.width}x${view.height}@${box.width}x${box.height}@${dpr}@${view.kind}`;
      if (key === sized && view.kind !== "montage") return;
      const room = box.width - SCALE_WIDTH;
      const size = fitSize(view.width, view.height, room, box.height, dpr, view.kind === "bars");
      ui.scale.style.left = `${size.width + 10}px`;
      for (const c of [ui.heatmap, ui.overlay]) {
        c.style.width = `${size.width}px`;
        c.style.height = `${size.height}px`;
      }
      const ow = Math.round(size.width * dpr);
      const oh = Math.round(size.height * dpr);
      if (ui.overlay.width !== ow) ui.overlay.width = ow;
      if (ui.overlay.height !== oh) ui.overlay.height = oh;
      const ctx = ui.overlay.getContext("2d");
      ctx.clearRect(0, 0, ow, oh);
      if (view.tiles && size.scale * view.tiles[0].height >= 12) {
        // Channel numbers at each tile's corner, crisp at any device pixel ratio.
        const font = Math.round(10 * dpr);
        ctx.font = `${font}px ${getComputedStyle(root).fontFamily}`;
        ctx.textBaseline = "top";
        for (const tile of view.tiles) {
          const x = tile.x * size.scale * dpr;
          const y = tile.y * size.scale * dpr;
          const text = String(tile.channel);
          const w = ctx.measureText(text).width + 4 * dpr;
          ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
          ctx.fillRect(x, y, w, font + 3 * dpr);
          ctx.fillStyle = "#fff";
          ctx.fillText(text, x + 2 * dpr, y + 1.5 * dpr);
        }
      }
      sized = key;
    }

    function scaleFor(snap, view) {
      return resolveScale({
        mode: model.get("range_mode"),
        colormap: model.get("colormap"),
        layerRange: store.layerRange(snap.layer),
        mapRange: snap.display.data ? viewRange(view, snap.display.data) : [0, 1],
        fixed: [model.get("range_lo"), model.get("range_hi")],
      });
    }

    function draw() {
      frame = 0;
      const t0 = performance.now();
      const { status, error } = store.state;
      ui.error.hidden = !error;
      ui.error.textContent = error;
      ui.status.textContent = status.message;
      ui.status.classList.toggle("kv-error", status.state === "error");
      syncLayers();
      syncTime();
      const snap = store.get(model.get("layer"), model.get("epoch"));
      syncControls(snap);
      if (!snap) return;
      store.touch(snap.epoch);
      const view = viewOf(snap.display, {
        sample: model.get("sample"),
        channel: model.get("channel"),
        slice: model.get("slice"),
        montage: model.get("montage"),
      });
      const scale = scaleFor(snap, view);
      if (snap.display.data) {
        drawHeatmap(ui.heatmap, view, snap.display.data, lut(scale.name), scale.lo, scale.hi);
        ui.heatmap.classList.remove("kv-dropped");
      } else {
        ui.heatmap.classList.add("kv-dropped");
        ui.status.textContent = `epoch ${snap.epoch}: display data dropped from the browser store (statistics kept)`;
      }
      layout(view);
      drawColorbar(scale);
      current = { snap, view, scale };
      ui.heatmap.dataset.layer = snap.layer;
      ui.heatmap.dataset.epoch = String(snap.epoch);
      ui.heatmap.setAttribute(
        "aria-label",
        `heatmap of layer ${snap.layer} at epoch ${snap.epoch}, colour range ${formatNumber(scale.lo)} to ${formatNumber(scale.hi)}`,
      );
      root.dataset.drawMs = String(performance.now() - t0);
      root.dataset.draws = String(Number(root.dataset.draws || 0) + 1);
      if (parts) drawPlots(snap);
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

    function drawPlots(snap) {
      try {
        drawHistogram(snap);
        drawTimeline(snap);
      } catch (err) {
        console.warn("kerasviz_widget: could not update the bqplot figures", err);
      }
    }

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

    // Explicit domains: bqplot's axes cannot format ticks over an empty or a one-point domain.
    function domain(values, pad = 0.05) {
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

    function drawTimeline(snap) {
      const { band, mean, zero, loss, cursor, hit, tl_x: tx, tl_y: ty, tl_loss: tloss } = parts;
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
        if (parts.tl_x_axis)
          put("epoch ticks", parts.tl_x_axis, "tick_values", epochTicks(first, last));
        // Explicit domains always: bqplot does not widen a domain once it was set explicitly.
        put("ty", ty, domain([lower, upper].map((a) => a.filter(Number.isFinite))));
        put("band", band, { x: s.epochs, y: [lower, upper] });
        put("mean", mean, { x: s.epochs, y: s.mean });
        put("zero", zero, { x: s.epochs, y: s.zero });
        put("hit", hit, { x: s.epochs, y: s.mean });
        if (loss) {
          const l = store.logSeries("loss");
          const v = store.logSeries("val_loss");
          put("tloss", tloss, domain([l.values, v.values].map((a) => a.filter(Number.isFinite))));
          if (v.values.length === l.values.length && v.values.length) {
            put("loss", loss, {
              x: l.epochs,
              y: [l.values, v.values],
              labels: ["loss", "val_loss"],
            });
          } else {
            put("loss", loss, { x: l.epochs, y: l.values, labels: ["loss"] });
          }
        }
      }
      put("cursor", cursor, "x", Float64Array.from([snap.epoch, snap.epoch]));
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

    function setEpochIndex(i, { follow } = {}) {
      const steps = store.state.steps;
      if (!steps.length) return;
      const k = Math.max(0, Math.min(steps.length - 1, i));
      // One set, so that change:epoch already sees the new `follow`. Scrubbing stops following
      // the newest step; reaching it again resumes.
      model.set({ follow: follow ?? k === steps.length - 1, epoch: steps[k].epoch });
      model.save_changes();
    }

    const epochIndex = () => store.state.steps.findIndex((s) => s.epoch === model.get("epoch"));

    function stopPlaying() {
      clearInterval(playTimer);
      playTimer = 0;
      ui.play.textContent = "\u25b6";
      ui.play.setAttribute("aria-label", "play");
    }

    function startPlaying() {
      clearInterval(playTimer);
      ui.play.textContent = "\u23f8";
      ui.play.setAttribute("aria-label", "pause");
      playTimer = setInterval(() => {
        const n = store.state.steps.length;
        const i = epochIndex();
        setEpochIndex(i + 1 >= n ? 0 : i + 1, { follow: false });
      }, Number(ui.speed.value));
    }

    listen(ui.layer, "change", () => save("layer", ui.layer.value));
    listen(ui.epoch, "input", () => setEpochIndex(Number(ui.epoch.value)));
    const intInput = (node, name) =>
      listen(node, "input", () => {
        const v = Number(node.value);
        if (Number.isFinite(v)) save(name, Math.max(0, Math.min(Number(node.max) || 0, v | 0)));
      });
    intInput(ui.sample, "sample");
    intInput(ui.channel, "channel");
    intInput(ui.slice, "slice");
    listen(ui.montage, "change", () => save("montage", ui.montage.checked));
    listen(ui.colormap, "change", () => save("colormap", ui.colormap.value));
    listen(ui.range, "change", () => {
      if (ui.range.value === "fixed" && current) {
        // Start the fixed range from what is on screen, so nothing jumps.
        model.set("range_lo", Number(current.scale.lo.toPrecision(4)));
        model.set("range_hi", Number(current.scale.hi.toPrecision(4)));
      }
      save("range_mode", ui.range.value);
    });
    for (const [node, name] of [
      [ui.lo, "range_lo"],
      [ui.hi, "range_hi"],
    ]) {
      listen(node, "change", () => {
        const v = Number(node.value);
        if (node.value !== "" && Number.isFinite(v)) save(name, v);
      });
    }
    listen(ui.logY, "change", () => save("log_y", ui.logY.checked));
    listen(ui.follow, "change", () => {
      save("follow", ui.follow.checked);
      if (ui.follow.checked) followLatest();
    });
    listen(ui.play, "click", () => (playTimer ? stopPlaying() : startPlaying()));
    listen(ui.speed, "change", () => playTimer && startPlaying());
    // Arrow keys scrub from the heatmap too (the slider has them natively).
    listen(ui.heatmap, "keydown", (event) => {
      const delta = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity }[event.key];
      if (delta === undefined) return;
      event.preventDefault();
      const n = store.state.steps.length;
      const i = epochIndex();
      setEpochIndex(Number.isFinite(delta) ? i + delta : delta < 0 ? 0 : n - 1);
    });

    function hoverAt(event) {
      if (!current || !current.snap.display.data) return;
      const { snap, view } = current;
      const rect = ui.heatmap.getBoundingClientRect();
      const x = Math.floor(((event.clientX - rect.left) / rect.width) * view.width);
      const y = Math.floor(((event.clientY - rect.top) / rect.height) * view.height);
      const index = view.locate(x, y);
      if (!index) return hideTip();
      const value = snap.display.data[view.at(x, y)];
      const where = originalIndex(index, snap.display.shape, snap.stats.shape);
      const names = axisNames(snap.display.layout);
      const named = where.ranges
        .map(([a, b], k) => `${names[k] || `axis ${k}`} ${b - a === 1 ? a : `${a}–${b - 1}`}`)
        .join(", ");
      const kind = where.pooled ? "pooled mean, float16" : "float16 display value";
      const prefix = where.flattened ? "values(…) flattened" : "values(…)";
      const text = `${prefix}${where.text} = ${formatNumber(value)}  (${kind}) — ${named}`;
      ui.hover.textContent = text;
      ui.hover.dataset.index = JSON.stringify(where.ranges.map(([a]) => a));
      ui.hover.dataset.value = String(value);
      ui.hover.dataset.pooled = String(where.pooled);
      ui.tip.textContent = `${formatNumber(value)}${where.pooled ? " (pooled mean)" : ""}\n${named}`;
      ui.tip.hidden = false;
      const box = ui.box.getBoundingClientRect();
      const left = event.clientX - box.left + 14;
      const top = event.clientY - box.top + 14;
      ui.tip.style.left = `${Math.min(left, box.width - ui.tip.offsetWidth - 2)}px`;
      ui.tip.style.top = `${Math.min(top, box.height - ui.tip.offsetHeight - 2)}px`;
    }

    function hideTip() {
      ui.tip.hidden = true;
    }

    listen(ui.heatmap, "mousemove", hoverAt);
    listen(ui.heatmap, "mouseleave", hideTip);

    const unsubscribe = store.subscribe((kind) => {
      version++;
      if (kind === "snapshot" || kind === "step") followLatest();
      else redraw();
    });
    const modelEvents = [
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
    for (const name of modelEvents) model.on(name, redraw);
    // While following, stay on the newest step even when the kernel, once `fit` has ended,
    // echoes an older epoch that this view chose while the kernel was busy.
    const followEvents = ["change:epoch", "change:follow"];
    for (const name of followEvents) model.on(name, followLatest);
    const resize = new ResizeObserver(() => {
      sized = "";
      redraw();
    });
    resize.observe(ui.box);

    followLatest();
    try {
      parts = await resolveParts(model, host);
    } catch (err) {
      console.warn("kerasviz_widget: histogram and timeline unavailable", err);
    }
    const onHit = () => {
      const selected = parts.hit.get("selected");
      if (!selected || !selected.length) return;
      parts.hit.set("selected", null);
      const epoch = store.series(model.get("layer")).epochs[selected[0]];
      const i = store.state.steps.findIndex((st) => st.epoch === epoch);
      if (i >= 0) setEpochIndex(i);
    };
    if (parts && parts.hit) parts.hit.on("change:selected", onHit);
    redraw();

    return () => {
      controller.abort();
      cancelAnimationFrame(frame);
      stopPlaying();
      unsubscribe();
      resize.disconnect();
      for (const name of modelEvents) model.off(name, redraw);
      if (parts && parts.hit) parts.hit.off("change:selected", onHit);
      for (const name of followEvents) model.off(name, followLatest);
    };
  },
};
