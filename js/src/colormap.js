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

/** The colour map and range for data in [lo, hi]: diverging and centred on 0 for signed data. */
export function chooseScale(lo, hi, preferred = "viridis") {
  if (lo < 0 && hi > 0) {
    const m = Math.max(-lo, hi);
    return { name: "diverging", lo: -m, hi: m };
  }
  if (lo === hi) return { name: preferred, lo: lo - 0.5, hi: hi + 0.5 };
  return { name: preferred, lo, hi };
}
