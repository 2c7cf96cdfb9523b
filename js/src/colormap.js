// Colour-map lookup tables: 256 RGB entries each, interpolated from anchor colours.

const ANCHORS = {
  viridis: [
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
  ],
  magma: [
    "#000004",
    "#180f3d",
    "#440f76",
    "#721f81",
    "#9e2f7f",
    "#cd4071",
    "#f1605d",
    "#fd9668",
    "#feca8d",
    "#fcfdbf",
  ],
  gray: ["#000000", "#ffffff"],
  // Blue below zero, white at zero, red above: for signed data.
  diverging: [
    "#2166ac",
    "#4393c3",
    "#92c5de",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#f4a582",
    "#d6604d",
    "#b2182b",
  ],
};

export const COLORMAPS = Object.keys(ANCHORS);

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const CACHE = new Map();

/** A Uint8Array of 256 * 3 bytes: the RGB colour of each of 256 levels. */
export function lut(name) {
  if (CACHE.has(name)) return CACHE.get(name);
  const anchors = ANCHORS[name];
  if (!anchors) throw new Error(`Unknown colour map ${name}; known: ${COLORMAPS.join(", ")}`);
  const rgb = anchors.map(hexToRgb);
  const table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (rgb.length - 1);
    const k = Math.min(Math.floor(t), rgb.length - 2);
    const f = t - k;
    for (let c = 0; c < 3; c++) {
      table[i * 3 + c] = Math.round(rgb[k][c] * (1 - f) + rgb[k + 1][c] * f);
    }
  }
  CACHE.set(name, table);
  return table;
}

/**
 * The colour map and range for data in [lo, hi]: the diverging map centred on 0 for signed data
 * when `name` is "auto" (viridis otherwise), or the named map over [lo, hi].
 */
export function chooseScale(lo, hi, name = "auto") {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
    lo = 0;
    hi = 1;
  }
  const signed = lo < 0 && hi > 0;
  const map = name === "auto" ? (signed ? "diverging" : "viridis") : name;
  if (map === "diverging" && signed) {
    const m = Math.max(-lo, hi);
    return { name: map, lo: -m, hi: m };
  }
  if (lo === hi) return { name: map, lo: lo - 0.5, hi: hi + 0.5 };
  return { name: map, lo, hi };
}

/** The finite [min, max] of the values a view shows (gaps, NaN and infinities skipped). */
export function viewRange(view, data) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let y = 0; y < view.height; y++) {
    for (let x = 0; x < view.width; x++) {
      const i = view.at(x, y);
      if (i < 0) continue;
      const v = data[i];
      if (!(v > -Infinity && v < Infinity)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi && Number.isFinite(lo) && Number.isFinite(hi) ? [lo, hi] : [0, 1];
}

/**
 * The colour scale of one drawing, by range mode:
 *   "layer" — min/max of the layer across every step the store holds (scrubbing compares like
 *             with like), "map" — min/max of the values on display, "fixed" — the user's [lo, hi].
 */
export function resolveScale({ mode = "layer", colormap = "auto", layerRange, mapRange, fixed }) {
  let range = layerRange;
  if (mode === "map") range = mapRange;
  else if (mode === "fixed" && fixed && Number.isFinite(fixed[0]) && Number.isFinite(fixed[1])) {
    if (fixed[0] < fixed[1]) return userRange(fixed, colormap);
  }
  return chooseScale(range[0], range[1], colormap);
}

// A fixed range is the user's: never widened to be symmetric.
function userRange(fixed, colormap) {
  const signed = fixed[0] < 0 && fixed[1] > 0;
  const name = colormap === "auto" ? (signed ? "diverging" : "viridis") : colormap;
  return { name, lo: fixed[0], hi: fixed[1] };
}

/** About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9; k++) {
    ticks.push(Math.abs(k * step) < step * 1e-9 ? 0 : Number((k * step).toPrecision(12)));
  }
  return ticks;
}
