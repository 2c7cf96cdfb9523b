// The render benchmark's front-end (bundled by bench/render.py): our heatmap drawing and
// bqplot's HeatMap / GridHeatMap, updated with the same data in the same page.

import { viewOf, drawHeatmap } from "../js/src/heatmap.js";
import { lut, chooseScale } from "../js/src/colormap.js";
import { drawOverview, overviewScale, ROW_MARKER } from "../js/src/overview.js";

function randomData(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.3;
  }
  return out;
}

function rows(data, height, width) {
  return Array.from({ length: height }, (_, y) =>
    Float64Array.from(data.subarray(y * width, (y + 1) * width)),
  );
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// The overview of 250 layers x 500 steps on a 800 x 500 grid (1.6 x 2 px cells), redrawn from
// four value arrays in turn: the cells alone, and with 5% of the cells marked as findings. "call"
// is the time drawOverview takes; "to pixels" adds a 1-pixel getImageData, which makes Chromium
// rasterise what was drawn before it returns.
async function overview(root, reps) {
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const rows = 250;
  const cols = 500;
  const canvas = root.appendChild(document.createElement("canvas"));
  canvas.width = 800 + ROW_MARKER + 1;
  canvas.height = 500;
  const source = document.createElement("canvas");
  const datas = [0, 1, 2, 3].map((k) => randomData(rows * cols, k + 11));
  const kinds = ["nan", "dead", "saturated", "constant", "exploding"];
  const marks = [];
  let s = 7;
  for (let i = 0; i < rows * cols; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    if (s / 2 ** 32 < 0.05) {
      marks.push({
        row: Math.floor(i / cols),
        col: i % cols,
        kind: kinds[s % kinds.length],
      });
    }
  }
  const { table, lo, hi } = overviewScale(datas[0]);
  const ctx = canvas.getContext("2d", { willReadFrequently: false });
  const result = {
    rows,
    cols,
    width: canvas.width,
    height: canvas.height,
    marks: marks.length,
  };
  for (const [name, withMarks] of [
    ["cells", false],
    ["cells+marks", true],
  ]) {
    const call = [];
    const pixels = [];
    for (let r = 0; r < reps; r++) {
      const options = {
        table,
        lo,
        hi,
        marks: withMarks ? marks : [],
        selected: { row: r, col: r },
      };
      await frame();
      let t0 = performance.now();
      drawOverview(canvas, source, { values: datas[r % 4], rows, cols }, options);
      call.push(performance.now() - t0);
      await frame();
      t0 = performance.now();
      drawOverview(canvas, source, { values: datas[(r + 1) % 4], rows, cols }, options);
      ctx.getImageData(0, 0, 1, 1);
      pixels.push(performance.now() - t0);
    }
    result[name] = {
      call: { median: median(call), max: Math.max(...call) },
      pixels: { median: median(pixels), max: Math.max(...pixels) },
      reps,
    };
  }
  return result;
}

async function run(heat, grid, root, reps, only = ["map512", "montage64", "overview"]) {
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const canvas = root.appendChild(document.createElement("canvas"));
  canvas.style.width = "256px";
  canvas.style.imageRendering = "pixelated";
  const montageCanvas = root.appendChild(document.createElement("canvas"));
  const cases = {
    map512: { display: { shape: [512, 512], layout: "ND" }, opts: {} },
    montage64: {
      display: { shape: [1, 28, 28, 64], layout: "NHWC" },
      opts: { montage: true },
    },
  };
  const result = {};
  if (only.includes("overview")) result.overview = await overview(root, reps);
  for (const [name, { display, opts }] of Object.entries(cases)) {
    if (!only.includes(name)) continue;
    const n = display.shape.reduce((a, b) => a * b, 1);
    const datas = [0, 1, 2, 3].map((k) => randomData(n, k + 1));
    const view = viewOf(display, opts);
    const scale = chooseScale(-0.3, 0.7);
    const table = lut(scale.name);
    const target = name === "map512" ? canvas : montageCanvas;
    const ours = [];
    for (let r = 0; r < reps; r++) {
      await frame();
      const t0 = performance.now();
      drawHeatmap(target, view, datas[r % 4], table, scale.lo, scale.hi);
      ours.push(performance.now() - t0);
    }
    // bqplot gets the same values as a 2-D grid (the montage as its tiled image).
    const grids = datas.map((d) => {
      const img = new Float32Array(view.width * view.height).fill(NaN);
      for (let y = 0; y < view.height; y++)
        for (let x = 0; x < view.width; x++) {
          const i = view.at(x, y);
          if (i >= 0) img[y * view.width + x] = d[i];
        }
      return rows(img, view.height, view.width);
    });
    const bq = {};
    for (const [mark, model] of [
      ["HeatMap", heat],
      ["GridHeatMap", grid],
    ]) {
      // 512 x 512 SVG cells (262,144 rects) would take minutes: GridHeatMap runs the montage only.
      if (mark === "GridHeatMap" && name === "map512") continue;
      const times = [];
      const slow = mark === "GridHeatMap" ? Math.min(reps, 5) : reps;
      model.set({ color: grids[3] });
      await frame();
      for (let r = 0; r < slow; r++) {
        await frame();
        const t0 = performance.now();
        model.set({ color: grids[r % 3] });
        document.body.getBoundingClientRect(); // flush the DOM work bqplot did
        times.push(performance.now() - t0);
      }
      bq[mark] = { median: median(times), reps: slow };
    }
    result[name] = {
      width: view.width,
      height: view.height,
      values: n,
      ours: { median: median(ours), max: Math.max(...ours), reps },
      ...bq,
    };
  }
  return result;
}

export default {
  async render({ model, el, host }) {
    const heat = await host.getModel(model.get("heat"));
    const grid = await host.getModel(model.get("grid"));
    window.__kvbench = (reps, cases) => run(heat, grid, el, reps, cases || undefined);
    el.dataset.ready = "1";
    el.classList.add("kv-bench");
  },
};
