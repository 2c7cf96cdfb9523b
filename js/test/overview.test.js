import { test } from "node:test";
import assert from "node:assert/strict";
import {
  valueRange,
  overviewScale,
  gridGeometry,
  hitTest,
  cellRect,
  paintGrid,
  drawMarks,
  drawOverview,
  MARK_COLOURS,
  SELECTED_COLOUR,
  ROW_MARKER,
  WHOLE_CELL,
} from "../src/overview.js";
import { lut } from "../src/colormap.js";

// A canvas whose 2-D context records every call and every style it was given.
function fakeCanvas(width = 0, height = 0) {
  const calls = [];
  const ctx = {
    calls,
    createImageData: (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
  };
  for (const name of [
    "putImageData",
    "drawImage",
    "clearRect",
    "beginPath",
    "rect",
    "fill",
    "stroke",
    "strokeRect",
    "save",
    "restore",
  ]) {
    ctx[name] = (...args) => calls.push({ name, args, style: { ...styleOf(ctx) } });
  }
  return { width, height, getContext: () => ctx, ctx };
}

function styleOf(ctx) {
  const { fillStyle, strokeStyle, lineWidth, imageSmoothingEnabled } = ctx;
  return { fillStyle, strokeStyle, lineWidth, imageSmoothingEnabled };
}

const rgbaAt = (pixels, i) => [...pixels.slice(i * 4, i * 4 + 4)];
const lutAt = (table, level) => [...table.slice(level * 3, level * 3 + 3), 255];

test("cells are painted row-major through the LUT; NaN stays transparent, infinities clip", () => {
  const table = lut("viridis");
  const values = Float64Array.from([0, 0.5, 1, NaN, Infinity, -Infinity]);
  const pixels = paintGrid(values, 2, 3, table, 0, 1);
  assert.deepEqual(rgbaAt(pixels, 0), lutAt(table, 0));
  assert.deepEqual(rgbaAt(pixels, 1), lutAt(table, 128));
  assert.deepEqual(rgbaAt(pixels, 2), lutAt(table, 255));
  assert.deepEqual(rgbaAt(pixels, 3), [0, 0, 0, 0]); // row 1, col 0: no value
  assert.deepEqual(rgbaAt(pixels, 4), lutAt(table, 255));
  assert.deepEqual(rgbaAt(pixels, 5), lutAt(table, 0));
});

test("the range skips NaN and infinities, and the scale reuses the colour maps", () => {
  const values = Float32Array.from([NaN, -2, Infinity, 3]);
  assert.deepEqual(valueRange(values), [-2, 3]);
  assert.deepEqual(valueRange(Float32Array.from([NaN])), [0, 1]);
  const scale = overviewScale(values);
  assert.equal(scale.name, "diverging");
  assert.deepEqual([scale.lo, scale.hi], [-3, 3]);
  assert.equal(scale.table, lut("diverging"));
  assert.deepEqual(overviewScale(values, "magma", [0, 10]).hi, 10);
});

test("hit testing finds the cell under every pixel of every cell, and nothing outside", () => {
  for (const [w, h] of [
    [400, 300],
    [120, 40], // fractional cells: fewer pixels than steps
  ]) {
    const g = gridGeometry(7, 200, w, h, { left: 5, top: 3 });
    for (let row = 0; row < 7; row++) {
      for (let col = 0; col < 200; col += 13) {
        const r = cellRect(g, row, col);
        for (const [fx, fy] of [
          [0.01, 0.01],
          [0.5, 0.5],
          [0.99, 0.99],
        ]) {
          assert.deepEqual(hitTest(g, r.x + fx * r.w, r.y + fy * r.h), { row, col });
        }
      }
    }
    assert.equal(hitTest(g, 4.9, 10), null);
    assert.equal(hitTest(g, 10, 2.9), null);
    assert.equal(hitTest(g, g.x0 + g.width, 10), null);
    assert.equal(hitTest(g, 10, g.y0 + g.height), null);
  }
});

test("cells are whole pixels from WHOLE_CELL up, and fill the space below it", () => {
  const g = gridGeometry(10, 30, 110 + ROW_MARKER + 1, 55);
  assert.deepEqual([g.cellW, g.cellH, g.width, g.height], [3, 5, 90, 50]);
  assert.equal(g.x0, ROW_MARKER + 1);
  const small = gridGeometry(250, 500, 800 + ROW_MARKER + 1, 500);
  assert.deepEqual([small.cellW, small.cellH, small.width, small.height], [1.6, 2, 800, 500]);
  assert.ok(WHOLE_CELL > 1);
});

test("one redraw: one image of a pixel per cell, scaled once without smoothing", () => {
  const canvas = fakeCanvas(600, 300);
  const source = fakeCanvas();
  const rows = 25;
  const cols = 50;
  const values = Float32Array.from({ length: rows * cols }, (_, i) => i);
  const { table, lo, hi } = overviewScale(values);
  const g = drawOverview(canvas, source, { values, rows, cols }, { table, lo, hi });
  assert.deepEqual([source.width, source.height], [cols, rows]);
  const put = source.ctx.calls.filter((c) => c.name === "putImageData");
  assert.equal(put.length, 1);
  const image = put[0].args[0];
  assert.deepEqual([image.width, image.height], [cols, rows]);
  assert.deepEqual(rgbaAt(image.data, rows * cols - 1), lutAt(table, 255));
  const draws = canvas.ctx.calls.filter((c) => c.name === "drawImage");
  assert.equal(draws.length, 1);
  assert.deepEqual(draws[0].args, [source, 0, 0, cols, rows, g.x0, g.y0, g.width, g.height]);
  assert.equal(draws[0].style.imageSmoothingEnabled, false);
  // The ImageData is kept for the next redraw of the same size.
  drawOverview(canvas, source, { values, rows, cols }, { table, lo, hi });
  const images = source.ctx.calls.filter((c) => c.name === "putImageData").map((c) => c.args[0]);
  assert.equal(images[0], images[1]);
});

test("marks are one path per colour, outlined in large cells and filled in small ones", () => {
  const marks = [
    { row: 1, col: 2, kind: "nan" },
    { row: 1, col: 3, kind: "inf" },
    { row: 4, col: 0, kind: "dead" },
  ];
  const large = fakeCanvas();
  drawMarks(large.ctx, gridGeometry(5, 5, 105, 100), marks);
  const strokes = large.ctx.calls.filter((c) => c.name === "stroke");
  assert.deepEqual(
    strokes.map((c) => c.style.strokeStyle),
    [MARK_COLOURS.nan, MARK_COLOURS.dead],
  );
  const cellRects = large.ctx.calls.filter((c) => c.name === "rect").slice(0, 3);
  assert.deepEqual(cellRects[0].args, [5 + 2 * 20 + 1.5, 1 * 20 + 1.5, 17, 17]);
  // Row markers left of the grid, one per marked row.
  const markers = large.ctx.calls.filter((c) => c.name === "rect" && c.args[0] === 0);
  assert.deepEqual(
    markers.map((c) => c.args),
    [
      [0, 20, ROW_MARKER, 20],
      [0, 80, ROW_MARKER, 20],
    ],
  );

  const small = fakeCanvas();
  drawMarks(small.ctx, gridGeometry(250, 500, 505, 250), marks);
  assert.equal(small.ctx.calls.filter((c) => c.name === "stroke").length, 0);
  const fills = small.ctx.calls.filter((c) => c.name === "fill");
  assert.equal(fills.length, 4); // two colours of cells, two colours of row markers
  assert.equal(fills[0].style.fillStyle, MARK_COLOURS.nan);
});

test("the selected cell is outlined last, over the marks", () => {
  const canvas = fakeCanvas(105, 100);
  const values = new Float64Array(25);
  const { table, lo, hi } = overviewScale(values);
  drawOverview(
    canvas,
    fakeCanvas(),
    { values, rows: 5, cols: 5 },
    { table, lo, hi, marks: [{ row: 0, col: 0, kind: "dead" }], selected: { row: 2, col: 3 } },
  );
  const last = canvas.ctx.calls.filter((c) => c.name === "strokeRect").at(-1);
  assert.equal(last.style.strokeStyle, SELECTED_COLOUR);
  assert.deepEqual(last.args, [5 + 3 * 20 - 1.5, 2 * 20 - 1.5, 23, 23]);
  const names = canvas.ctx.calls.map((c) => c.name);
  assert.ok(names.lastIndexOf("fill") < names.indexOf("strokeRect"));
});

test("an empty grid clears the canvas and draws nothing", () => {
  const canvas = fakeCanvas(50, 50);
  const g = drawOverview(
    canvas,
    fakeCanvas(),
    { values: new Float32Array(0), rows: 0, cols: 0 },
    { table: lut("viridis"), lo: 0, hi: 1 },
  );
  assert.deepEqual(
    canvas.ctx.calls.map((c) => c.name),
    ["clearRect"],
  );
  assert.equal(hitTest(g, 10, 10), null);
});
