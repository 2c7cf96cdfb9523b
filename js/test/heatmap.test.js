import { test } from "node:test";
import assert from "node:assert/strict";
import {
  viewOf,
  paint,
  histogramBars,
  channelCount,
  sliceCount,
  originalIndex,
  fitSize,
  BAR_COLUMNS,
  BAR_ROWS,
} from "../src/heatmap.js";
import { lut, NAN_RGB } from "../src/colormap.js";

// A display array whose value at each position is its own flat index.
const iota = (n) => Float32Array.from({ length: n }, (_, i) => i);

test("ND is samples x units", () => {
  const view = viewOf({ shape: [3, 5], layout: "ND" });
  assert.equal(view.width, 5);
  assert.equal(view.height, 3);
  assert.equal(view.at(4, 2), 14);
  assert.deepEqual(view.locate(4, 2), [2, 4]);
  assert.equal(view.at(5, 0), -1);
});

test("NHWC shows one channel of one sample, channels last", () => {
  const shape = [2, 3, 4, 5];
  const data = iota(2 * 3 * 4 * 5);
  const view = viewOf({ shape, layout: "NHWC" }, { sample: 1, channel: 2 });
  assert.equal(view.width, 4);
  assert.equal(view.height, 3);
  // index of [1, 2, 3, 2] in C order
  assert.equal(data[view.at(3, 2)], ((1 * 3 + 2) * 4 + 3) * 5 + 2);
  assert.equal(channelCount({ shape, layout: "NHWC" }), 5);
});

test("NTD shows time x features of one sample", () => {
  const view = viewOf({ shape: [2, 7, 3], layout: "NTD" }, { sample: 1 });
  assert.equal(view.width, 3);
  assert.equal(view.height, 7);
  assert.equal(view.at(2, 6), (1 * 7 + 6) * 3 + 2);
});

test("out-of-range sample and channel are clamped", () => {
  const view = viewOf({ shape: [2, 1, 1, 3], layout: "NHWC" }, { sample: 9, channel: -4 });
  assert.equal(view.at(0, 0), ((1 * 1 + 0) * 1 + 0) * 3 + 0);
});

test("paint maps lo to the first level and hi to the last, NaN to magenta, and counts NaN and inf", () => {
  const view = viewOf({ shape: [1, 6], layout: "ND" });
  const table = lut("gray");
  const data = Float32Array.from([0, 10, NaN, NaN, Infinity, -Infinity]);
  const { pixels: px, nan, posinf, neginf } = paint(view, data, table, 0, 10);
  assert.deepEqual([...px.slice(0, 4)], [0, 0, 0, 255]);
  assert.deepEqual([...px.slice(4, 8)], [255, 255, 255, 255]);
  assert.deepEqual([...px.slice(8, 12)], [255, 0, 255, 255]);
  assert.deepEqual([...px.slice(16, 20)], [255, 255, 255, 255], "+inf takes the last colour");
  assert.deepEqual([...px.slice(20, 24)], [0, 0, 0, 255], "-inf takes the first colour");
  assert.deepEqual(NAN_RGB, [255, 0, 255]);
  assert.deepEqual([nan, posinf, neginf], [2, 1, 1]);
  const finite = paint(view, Float32Array.from([0, 1, 2, 30, -40, 65504]), table, 0, 10);
  assert.deepEqual([finite.nan, finite.posinf, finite.neginf], [0, 0, 0]);
});

test("a bar view counts a NaN or infinite sample's pixels, and a montage only what it shows", () => {
  const bars = viewOf({ shape: [4], layout: "bars" });
  const counted = paint(bars, Float32Array.from([1, NaN, Infinity, 2]), lut("gray"), 0, 2);
  assert.equal(counted.nan, (BAR_COLUMNS - 1) * BAR_ROWS);
  assert.equal(counted.posinf, (BAR_COLUMNS - 1) * BAR_ROWS, "an infinite bar is full height");
  assert.equal(counted.neginf, 0);
  // Sample 0 holds no NaN; sample 1 holds one, in channel 1.
  const data = Float32Array.from([1, 2, 3, 4, 5, NaN, 7, 8]);
  const shape = [2, 1, 2, 2];
  const one = (sample, channel) =>
    paint(viewOf({ shape, layout: "NHWC" }, { sample, channel }), data, lut("gray"), 0, 8).nan;
  assert.deepEqual([one(0, 0), one(0, 1), one(1, 0), one(1, 1)], [0, 0, 0, 1]);
  const montage = viewOf({ shape, layout: "NHWC" }, { sample: 1, montage: true });
  assert.equal(paint(montage, data, lut("gray"), 0, 8).nan, 1);
});

test("histogram bars sit at bin centres", () => {
  const { x, y } = histogramBars({ lo: 0, hi: 4, counts: Uint32Array.from([1, 2, 3, 4]) });
  assert.deepEqual([...x], [0.5, 1.5, 2.5, 3.5]);
  assert.deepEqual([...y], [1, 2, 3, 4]);
});

test("NHWC montage tiles every channel of one sample, with gaps between tiles", () => {
  const shape = [2, 3, 4, 5]; // 5 channels -> 3 columns x 2 rows of 4 x 3 tiles
  const data = iota(2 * 3 * 4 * 5);
  const view = viewOf({ shape, layout: "NHWC" }, { sample: 1, montage: true });
  assert.equal(view.kind, "montage");
  assert.equal(view.width, 3 * (4 + 1) - 1);
  assert.equal(view.height, 2 * (3 + 1) - 1);
  assert.equal(view.tiles.length, 5);
  assert.deepEqual(view.tiles[4], { channel: 4, x: 5, y: 4, width: 4, height: 3 });
  // channel 4 is row 1, column 1: its pixel (x 2, y 1) is [1, 1, 2, 4]
  assert.deepEqual(view.locate(5 + 2, 4 + 1), [1, 1, 2, 4]);
  assert.equal(data[view.at(5 + 2, 4 + 1)], ((1 * 3 + 1) * 4 + 2) * 5 + 4);
  assert.equal(view.at(4, 0), -1, "vertical gap");
  assert.equal(view.at(0, 3), -1, "horizontal gap");
  assert.equal(view.at(10 + 1, 4 + 1), -1, "no sixth channel");
  const px = paint(view, data, lut("gray"), 0, 119).pixels;
  assert.equal(px[(0 * view.width + 4) * 4 + 3], 0, "gaps are transparent");
  assert.equal(px[3], 255);
});

test("NDHWC shows one depth slice of one channel", () => {
  const shape = [2, 3, 4, 5, 6];
  const data = iota(2 * 3 * 4 * 5 * 6);
  const view = viewOf({ shape, layout: "NDHWC" }, { sample: 1, slice: 2, channel: 5 });
  assert.equal(view.width, 5);
  assert.equal(view.height, 4);
  assert.deepEqual(view.locate(4, 3), [1, 2, 3, 4, 5]);
  assert.equal(data[view.at(4, 3)], (((1 * 3 + 2) * 4 + 3) * 5 + 4) * 6 + 5);
  assert.equal(sliceCount({ shape, layout: "NDHWC" }), 3);
  const montage = viewOf({ shape, layout: "NDHWC" }, { sample: 1, slice: 2, montage: true });
  assert.deepEqual(montage.locate(0, 0), [1, 2, 0, 0, 0]);
});

test("1-D outputs are bars that rise from zero, one per sample", () => {
  const view = viewOf({ shape: [3], layout: "bars" });
  assert.equal(view.kind, "bars");
  assert.equal(view.width, 3 * BAR_COLUMNS);
  assert.deepEqual(view.locate(BAR_COLUMNS + 1, 7), [1]);
  assert.equal(view.locate(BAR_COLUMNS - 1, 0), null, "gap between bars");
  const px = paint(view, Float32Array.from([-1, 0, 1]), lut("gray"), -1, 1).pixels;
  const alpha = (x, y) => px[(y * view.width + x) * 4 + 3];
  const mid = Math.round((BAR_ROWS - 1) / 2);
  assert.equal(alpha(0, BAR_ROWS - 1), 255, "a negative bar reaches the bottom");
  assert.equal(alpha(0, 0), 0, "... and not the top");
  assert.equal(alpha(2 * BAR_COLUMNS, 0), 255, "a positive bar reaches the top");
  assert.equal(alpha(2 * BAR_COLUMNS, BAR_ROWS - 1), 0);
  assert.equal(alpha(BAR_COLUMNS, mid), 255, "a zero bar is a line at zero");
  assert.equal(alpha(BAR_COLUMNS, 0), 0);
});

test("a display index maps back through the pool factors Python sent", () => {
  // The factors are read, never derived: a factor 3 that halving could not give.
  const axes = [
    { name: "sample", size: 1, pool: 1 },
    { name: "y", size: 100, pool: 3 },
    { name: "x", size: 100, pool: 3 },
    { name: "channel", size: 1, pool: 1 },
  ];
  const r = originalIndex([0, 10, 33, 0], axes);
  assert.deepEqual(r.ranges, [
    [0, 1],
    [30, 33],
    [99, 100],
    [0, 1],
  ]);
  assert.deepEqual(r.names, ["sample", "y", "x", "channel"]);
  assert.equal(r.pooled, true);
  assert.equal(r.text, "[0, 30:33, 99, 0]");
  const exact = originalIndex(
    [3, 4],
    [
      { name: "sample", size: 8, pool: 1 },
      { name: "unit", size: 10, pool: 1 },
    ],
  );
  assert.equal(exact.pooled, false);
  assert.equal(exact.text, "[3, 4]");
});

test("a flattened axis is said to be flattened, and a scalar indexes as ()", () => {
  const flat = [
    { name: "sample", size: 2, pool: 1 },
    { name: "unit", size: 24, pool: 1, flattened: [2, 2, 3, 2] },
  ];
  const r = originalIndex([1, 5], flat);
  assert.equal(r.flattened, true);
  assert.equal(r.text, "[1, 5]");
  const scalar = originalIndex([0], [{ name: "sample", size: 1, pool: 1, flattened: [] }]);
  assert.equal(scalar.text, "[()]");
  assert.equal(scalar.flattened, false);
});

test("heatmaps are enlarged by whole device pixels, bars fill the box", () => {
  assert.deepEqual(fitSize(10, 8, 500, 340, 1), { width: 420, height: 336, scale: 42 });
  // At 2x, each data pixel covers 85 device pixels: 42.5 CSS pixels.
  assert.deepEqual(fitSize(10, 8, 500, 340, 2), { width: 425, height: 340, scale: 42.5 });
  const big = fitSize(1000, 1000, 500, 340, 1);
  assert.equal(big.height, 340);
  assert.equal(fitSize(16, BAR_ROWS, 500, 340, 1, true).width, 500);
});

test("paint is exact at the ends and clamps outside [lo, hi]", () => {
  const view = viewOf({ shape: [1, 4], layout: "ND" });
  const table = lut("viridis");
  const px = paint(view, Float32Array.from([-5, 0, 1, 9]), table, 0, 1).pixels;
  const rgb = (i) => [...px.slice(i * 4, i * 4 + 3)];
  assert.deepEqual(rgb(0), [...table.slice(0, 3)]);
  assert.deepEqual(rgb(1), [...table.slice(0, 3)]);
  assert.deepEqual(rgb(2), [...table.slice(255 * 3)]);
  assert.deepEqual(rgb(3), [...table.slice(255 * 3)]);
});

test("epoch ticks are whole epochs, about ten at most", async () => {
  const { epochTicks } = await import("../src/heatmap.js");
  assert.deepEqual([...epochTicks(0, 3)], [0, 1, 2, 3]);
  assert.deepEqual([...epochTicks(0, 2.5)], [0, 1, 2]);
  assert.deepEqual([...epochTicks(0, 0)], [0, 1]);
  const many = epochTicks(0, 100);
  assert.ok(many.length <= 11 && many.every((e) => Number.isInteger(e)), `${many}`);
});
