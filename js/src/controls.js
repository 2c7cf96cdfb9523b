// The controls: their DOM, their state read from the model, and their listeners, which write the
// model. Menus offer what the kernel's catalog says Python accepts.

import { el, option, formatNumber, formatShape } from "./format.js";
import { channelCount, sampleCount, sliceCount } from "./heatmap.js";
import { KEY_NAMES, NAN_CSS } from "./colormap.js";

const SPEEDS = [
  ["0.5×", 800],
  ["1×", 400],
  ["2×", 200],
  ["4×", 100],
];

// How the range modes read in the menu; a mode Python adds later shows as its name.
const RANGE_TEXT = { layer: "layer, all epochs", map: "this map", fixed: "fixed" };

function field(parent, text, control) {
  const label = parent.appendChild(el("label", "kv-field"));
  label.append(text);
  label.appendChild(control);
  return label;
}

function numberInput(className, label) {
  return el("input", className, { type: "number", min: "0", value: "0", "aria-label": label });
}

function layerBar(root) {
  const bar = root.appendChild(el("div", "kv-bar"));
  const layer = el("select", "kv-layer", { "aria-label": "layer" });
  field(bar, "layer", layer);
  const sample = numberInput("kv-sample", "sample");
  const channel = numberInput("kv-channel", "channel");
  const montage = el("input", "kv-montage", {
    type: "checkbox",
    "aria-label": "show all channels",
  });
  const slice = numberInput("kv-slice", "depth slice");
  return {
    layer,
    sample,
    sampleField: field(bar, "sample", sample),
    channel,
    channelField: field(bar, "channel", channel),
    montage,
    montageField: field(bar, "all channels", montage),
    slice,
    sliceField: field(bar, "slice", slice),
  };
}

function optionsBar(root) {
  const opts = root.appendChild(el("div", "kv-bar kv-options"));
  const colormap = el("select", "kv-colormap", { "aria-label": "colour map" });
  field(opts, "colours", colormap);
  const range = el("select", "kv-range", { "aria-label": "colour range" });
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
  const ridge = el("input", "kv-ridge", {
    type: "checkbox",
    "aria-label": "histograms of every epoch",
  });
  field(opts, "all epochs (ridge)", ridge);
  const status = opts.appendChild(
    el("span", "kv-status", { role: "status", "aria-live": "polite" }),
  );
  return { colormap, range, lo, hi, loField, hiField, logY, ridge, status };
}

function heatmapBox(root) {
  const main = root.appendChild(el("div", "kv-main"));
  const box = main.appendChild(el("div", "kv-box"));
  const heatmap = box.appendChild(el("canvas", "kv-heatmap", { role: "img", tabindex: "0" }));
  const overlay = box.appendChild(el("canvas", "kv-overlay", { "aria-hidden": "true" }));
  const tip = box.appendChild(el("div", "kv-tip", { "aria-hidden": "true" }));
  tip.hidden = true;
  // The colour bar sits right of the heatmap, inside the box: the box never changes size. Under
  // it, a key names the colours of NaN, +inf and -inf while the heatmap shows one.
  const scale = box.appendChild(el("div", "kv-scale", { "aria-label": "colour bar" }));
  const bar = scale.appendChild(el("div", "kv-scale-bar"));
  const colorbar = bar.appendChild(el("canvas", "kv-colorbar"));
  const ticks = bar.appendChild(el("div", "kv-ticks"));
  const key = scale.appendChild(el("div", "kv-key"));
  const keys = {};
  for (const [kind, text] of Object.entries(KEY_NAMES)) {
    const entry = key.appendChild(el("span", `kv-key-entry kv-key-${kind}`));
    entry.appendChild(el("span", "kv-key-swatch"));
    entry.appendChild(document.createTextNode(text));
    entry.hidden = true;
    keys[kind] = entry;
  }
  keys.nan.firstChild.style.background = NAN_CSS;
  key.hidden = true;
  const hover = root.appendChild(el("div", "kv-hover", { "aria-live": "off" }));
  hover.textContent = "\u00a0";
  return { box, heatmap, overlay, tip, scale, colorbar, ticks, key, keys, hover };
}

function timeBar(root) {
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
  const followField = field(time, "follow live", follow);
  return { play, speed, epoch, epochLabel, follow, followField };
}

// The histogram (or ridge) and the timeline, side by side; `plots.js` draws them.
function plotsBox(root) {
  const plots = root.appendChild(el("div", "kv-plots"));
  const chart = (className, label) =>
    plots
      .appendChild(el("div", "kv-chart"))
      .appendChild(el("canvas", className, { role: "img", "aria-label": label }));
  const hist = chart("kv-hist", "histogram");
  const timeline = chart("kv-timeline", "timeline (click a step to show it)");
  return { plots, hist, timeline };
}

/** Build the widget's DOM under `root`; returns its parts by name. */
export function buildDom(root) {
  const ui = { ...layerBar(root), ...optionsBar(root) };
  ui.error = root.appendChild(el("div", "kv-error-banner", { role: "alert" }));
  ui.error.hidden = true;
  return { ...ui, ...heatmapBox(root), ...timeBar(root), ...plotsBox(root) };
}

// Replace a menu's options only when what it lists changed (`options()` makes them).
function fill(select, key, options) {
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  select.replaceChildren(...options());
}

/** The layer list, and the colour-map and range menus, from the kernel's catalog. */
export function syncMenus(ui, model, state) {
  const { layers, catalog } = state;
  fill(ui.layer, layers.map((l) => l.id).join("\u0000"), () =>
    layers.map((info) => option(info.id, `${info.id}  ${formatShape(info.output_shape)}`)),
  );
  if (ui.layer.value !== model.get("layer")) ui.layer.value = model.get("layer");
  const colormaps = (catalog && catalog.colormaps) || [];
  fill(ui.colormap, colormaps.join("\u0000"), () => colormaps.map((n) => option(n, n)));
  const modes = (catalog && catalog.range_modes) || [];
  fill(ui.range, modes.join("\u0000"), () => modes.map((m) => option(m, RANGE_TEXT[m] || m)));
}

/**
 * The controls' values from the model, and which of them a snapshot's layout offers. `channel`
 * is the channel on display (the user's, or the layer's default while the user chose none).
 */
export function syncControls(ui, model, snap, channel = 0) {
  ui.colormap.value = model.get("colormap");
  ui.range.value = model.get("range_mode");
  const fixed = model.get("range_mode") === "fixed";
  ui.loField.hidden = ui.hiField.hidden = !fixed;
  const typed = (node, name) => {
    if (document.activeElement !== node) node.value = String(model.get(name));
  };
  typed(ui.lo, "range_lo");
  typed(ui.hi, "range_hi");
  typed(ui.sample, "sample");
  if (document.activeElement !== ui.channel) ui.channel.value = String(channel);
  typed(ui.slice, "slice");
  ui.logY.checked = model.get("log_y");
  ui.ridge.checked = Boolean(model.get("ridge"));
  ui.follow.checked = model.get("follow");
  // A saved page has no kernel: nothing arrives, so there is nothing to follow.
  ui.followField.hidden = Boolean(model.get("_standalone"));
  ui.montage.checked = model.get("montage");
  if (!snap) return;
  const display = snap.display;
  const nChannels = channelCount(display);
  const nSlices = sliceCount(display);
  ui.sample.max = String(sampleCount(display) - 1);
  ui.channel.max = String(nChannels - 1);
  ui.slice.max = String(nSlices - 1);
  ui.sampleField.hidden = display.layout === "ND" || display.layout === "bars";
  ui.montageField.hidden = nChannels <= 1;
  ui.channelField.hidden = nChannels <= 1 || model.get("montage");
  ui.sliceField.hidden = nSlices <= 1;
}

/** The epoch slider and its label from the steps the store holds. */
export function syncTime(ui, model, steps) {
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

/**
 * Listen to the controls that write the model directly (`listen` registers a DOM listener that
 * the view's cleanup removes). `current()` is what is on display, for the fixed range's start.
 */
export function bindControls(ui, model, listen, current) {
  const save = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };
  listen(ui.layer, "change", () => save("layer", ui.layer.value));
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
    const shown = current();
    if (ui.range.value === "fixed" && shown) {
      // Start the fixed range from what is on screen, so nothing jumps.
      model.set("range_lo", Number(shown.scale.lo.toPrecision(4)));
      model.set("range_hi", Number(shown.scale.hi.toPrecision(4)));
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
  listen(ui.ridge, "change", () => save("ridge", ui.ridge.checked));
}
