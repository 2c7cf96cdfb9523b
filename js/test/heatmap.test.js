import { test } from "node:test";
import assert from "node:assert/strict";
import { viewOf, paint, histogramBars, channelCount } from "../src/heatmap.js";
import { lut } from "../src/colormap.js";

// A display array whose value at each position is its own flat index.
const iota = (n) => Float32Array.from({ length: n }, (_, i) => i);

test("ND is samples x units", () => {
  const view = viewOf({ shape: [3, 5], layout: "ND" });
  assert.equal(view.width, 5);
  assert.equal(view.height, 3);
  assert.equal(view.at(4, 2), 14);
  assert.equal(view.describe(4, 2), "sample 2, unit 4");
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

test("paint maps lo to the first level and hi to the last, NaN to magenta", () => {
  const view = viewOf({ shape: [1, 3], layout: "ND" });
  const table = lut("gray");
  const px = paint(view, Float32Array.from([0, 10, NaN]), table, 0, 10);
  assert.deepEqual([...px.slice(0, 4)], [0, 0, 0, 255]);
  assert.deepEqual([...px.slice(4, 8)], [255, 255, 255, 255]);
  assert.deepEqual([...px.slice(8, 12)], [255, 0, 255, 255]);
});

test("histogram bars sit at bin centres", () => {
  const { x, y } = histogramBars({ lo: 0, hi: 4, counts: Uint32Array.from([1, 2, 3, 4]) });
  assert.deepEqual([...x], [0.5, 1.5, 2.5, 3.5]);
  assert.deepEqual([...y], [1, 2, 3, 4]);
});
