// Heatmap views of a display array, by layout, and their drawing through ImageData.

/**
 * The 2-D view of a snapshot's display array for the chosen sample / channel / slice.
 * Returns {width, height, at(x, y) -> flat index into data, describe(x, y) -> index text}.
 */
export function viewOf(display, { sample = 0, channel = 0, slice = 0 } = {}) {
  const { shape, layout } = display;
  const clamp = (v, n) => Math.max(0, Math.min(n - 1, v | 0));
  switch (layout) {
    case "bars": {
      const [n] = shape;
      return { width: n, height: 1, at: (x) => x, describe: (x) => `sample ${x}` };
    }
    case "ND": {
      const [n, d] = shape;
      return {
        width: d,
        height: n,
        at: (x, y) => y * d + x,
        describe: (x, y) => `sample ${y}, unit ${x}`,
      };
    }
    case "NTD": {
      const [n, t, d] = shape;
      const s = clamp(sample, n);
      return {
        width: d,
        height: t,
        at: (x, y) => (s * t + y) * d + x,
        describe: (x, y) => `sample ${s}, t ${y}, d ${x}`,
      };
    }
    case "NHWC": {
      const [n, h, w, c] = shape;
      const s = clamp(sample, n);
      const ch = clamp(channel, c);
      return {
        width: w,
        height: h,
        at: (x, y) => ((s * h + y) * w + x) * c + ch,
        describe: (x, y) => `sample ${s}, channel ${ch}, y ${y}, x ${x}`,
      };
    }
    case "NDHWC": {
      const [n, dp, h, w, c] = shape;
      const s = clamp(sample, n);
      const z = clamp(slice, dp);
      const ch = clamp(channel, c);
      return {
        width: w,
        height: h,
        at: (x, y) => (((s * dp + z) * h + y) * w + x) * c + ch,
        describe: (x, y) => `sample ${s}, slice ${z}, channel ${ch}, y ${y}, x ${x}`,
      };
    }
    default:
      throw new Error(`Unknown display layout ${layout}`);
  }
}

/** The number of channels a layout lets the user choose from (1 when there is no choice). */
export function channelCount(display) {
  const { shape, layout } = display;
  return layout === "NHWC" || layout === "NDHWC" ? shape[shape.length - 1] : 1;
}

/** The number of samples in a display array. */
export function sampleCount(display) {
  return display.shape[0];
}

/** Fill RGBA pixels (Uint8ClampedArray, width * height * 4) for a view through a LUT. */
export function paint(view, data, table, lo, hi, out) {
  const { width, height } = view;
  const pixels = out || new Uint8ClampedArray(width * height * 4);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  let p = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = data[view.at(x, y)];
      if (Number.isNaN(v)) {
        pixels[p] = 255;
        pixels[p + 1] = 0;
        pixels[p + 2] = 255;
      } else {
        const level = Math.max(0, Math.min(255, Math.round((v - lo) * scale))) * 3;
        pixels[p] = table[level];
        pixels[p + 1] = table[level + 1];
        pixels[p + 2] = table[level + 2];
      }
      pixels[p + 3] = 255;
      p += 4;
    }
  }
  return pixels;
}

/** Draw a view onto a canvas whose backing size is the view's size; CSS scales it, pixelated. */
export function drawHeatmap(canvas, view, data, table, lo, hi) {
  if (canvas.width !== view.width) canvas.width = view.width;
  if (canvas.height !== view.height) canvas.height = view.height;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(view.width, view.height);
  paint(view, data, table, lo, hi, image.data);
  ctx.putImageData(image, 0, 0);
}

/** Histogram bars from a snapshot: bin centres and counts, as Float64Arrays. */
export function histogramBars(hist) {
  const { lo, hi, counts } = hist;
  const n = counts.length;
  const width = (hi - lo) / n;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = lo + (i + 0.5) * width;
    y[i] = counts[i];
  }
  return { x, y };
}
