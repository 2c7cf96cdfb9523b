import { test } from "node:test";
import assert from "node:assert/strict";
import {
  lut,
  chooseScale,
  COLORMAPS,
  resolveScale,
  viewRange,
  niceTicks,
} from "../src/colormap.js";
import { viewOf } from "../src/heatmap.js";

test("every colour map has 256 RGB levels from its first to its last anchor", () => {
  for (const name of COLORMAPS) {
    const table = lut(name);
    assert.equal(table.length, 256 * 3);
  }
  const viridis = lut("viridis");
  assert.deepEqual([...viridis.slice(0, 3)], [0x44, 0x01, 0x54]);
  assert.deepEqual([...viridis.slice(255 * 3)], [0xfd, 0xe7, 0x25]);
  const gray = lut("gray");
  assert.deepEqual([...gray.slice(128 * 3, 128 * 3 + 3)], [128, 128, 128]);
});

test("signed data gets the diverging map, centred on zero", () => {
  assert.deepEqual(chooseScale(-2, 5), { name: "diverging", lo: -5, hi: 5 });
  assert.deepEqual(chooseScale(0, 5), { name: "viridis", lo: 0, hi: 5 });
  assert.deepEqual(chooseScale(3, 3), { name: "viridis", lo: 2.5, hi: 3.5 });
  const white = lut("diverging").slice(128 * 3, 128 * 3 + 3);
  assert.ok(
    [...white].every((c) => c > 230),
    `middle of the diverging map is ${white}`,
  );
});

test("an unknown colour map is an error that lists the known ones", () => {
  assert.throws(() => lut("jet"), /Unknown colour map jet; known: viridis/);
});

test("magma runs dark to light and gray is monotone", () => {
  const magma = lut("magma");
  const luma = (t, i) => t[i * 3] * 0.3 + t[i * 3 + 1] * 0.59 + t[i * 3 + 2] * 0.11;
  assert.ok(luma(magma, 0) < 10 && luma(magma, 255) > 220);
  const gray = lut("gray");
  for (let i = 1; i < 256; i++) assert.ok(gray[i * 3] >= gray[(i - 1) * 3]);
});

test("a named map is kept for signed data, without forcing symmetry", () => {
  assert.deepEqual(chooseScale(-2, 5, "magma"), { name: "magma", lo: -2, hi: 5 });
  assert.deepEqual(chooseScale(-2, 5, "diverging"), { name: "diverging", lo: -5, hi: 5 });
  assert.deepEqual(chooseScale(NaN, 1), { name: "viridis", lo: 0, hi: 1 });
});

// A 1 x 4 map whose values are 1..4, inside a layer that spans -10..20 over all epochs.
const view = viewOf({ shape: [1, 4], layout: "ND" });
const data = Float32Array.from([1, 2, 3, 4]);

test("range mode 'layer' uses the layer's range over every epoch", () => {
  const s = resolveScale({ mode: "layer", layerRange: [-10, 20], mapRange: viewRange(view, data) });
  assert.deepEqual(s, { name: "diverging", lo: -20, hi: 20 });
});

test("range mode 'map' uses the values on display", () => {
  const s = resolveScale({ mode: "map", layerRange: [-10, 20], mapRange: viewRange(view, data) });
  assert.deepEqual(s, { name: "viridis", lo: 1, hi: 4 });
});

test("range mode 'fixed' uses the user's range as given", () => {
  const args = { mode: "fixed", layerRange: [-10, 20], mapRange: [1, 4] };
  assert.deepEqual(resolveScale({ ...args, fixed: [-1, 3] }), { name: "diverging", lo: -1, hi: 3 });
  assert.deepEqual(resolveScale({ ...args, fixed: [0, 2], colormap: "gray" }), {
    name: "gray",
    lo: 0,
    hi: 2,
  });
  // An empty or reversed fixed range falls back to the layer range rather than drawing nothing.
  assert.deepEqual(resolveScale({ ...args, fixed: [3, 3] }), {
    name: "diverging",
    lo: -20,
    hi: 20,
  });
});

test("viewRange skips gaps, NaN and infinities", () => {
  const v = viewOf({ shape: [1, 4], layout: "ND" });
  assert.deepEqual(viewRange(v, Float32Array.from([NaN, -Infinity, 2, 5])), [2, 5]);
  assert.deepEqual(viewRange(v, Float32Array.from([NaN, NaN, NaN, NaN])), [0, 1]);
});

test("colour-bar ticks are round numbers inside the range", () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(-3.7, 3.7, 4), [-2, 0, 2]);
  for (const t of niceTicks(0.013, 0.0871, 5)) assert.ok(t >= 0.013 && t <= 0.0871);
});
