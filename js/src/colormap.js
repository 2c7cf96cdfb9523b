// Colour-map lookup tables: 256 RGB entries each, and the colour of NaN, from the package's
// colormaps.json (the bundle inlines it; the static view in Python reads the same file).

import TABLES from "../../kerasviz_widget/io/colormaps.json" with { type: "json" };

export const COLORMAPS = Object.keys(TABLES.maps);

function hexBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** The RGB colour of NaN in every map: [r, g, b]. */
export const NAN_RGB = Array.from(hexBytes(TABLES.nan));

/** The CSS colour of NaN, for keys that name it. */
export const NAN_CSS = `#${TABLES.nan}`;

/** What the key under the colour bar names: NaN (its own colour), +inf and -inf (the map's end
 * colours); the keys are `paint`'s counts. */
export const KEY_NAMES = { nan: "NaN", posinf: "+inf", neginf: "\u2212inf" };

const CACHE = new Map();

/** A Uint8Array of 256 * 3 bytes: the RGB colour of each of 256 levels. */
export function lut(name) {
  if (CACHE.has(name)) return CACHE.get(name);
  const entry = TABLES.maps[name];
  if (!entry) throw new Error(`Unknown colour map ${name}; known: ${COLORMAPS.join(", ")}`);
  const table = hexBytes(entry.levels);
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
