// The golden fixtures: real messages written by Python's reduction and protocol (see
// tests/io/test_protocol.py), with NumPy's answer for a few display positions beside each. The
// front-end decodes them and must point at exactly the block of the layer output that NumPy
// averaged, with the value it holds.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { decodeMessage, PROTOCOL_VERSION } from "../src/protocol.js";
import { viewOf, originalIndex, BAR_COLUMNS } from "../src/heatmap.js";
import { lut, resolveScale } from "../src/colormap.js";
import { hoverText } from "../src/hover.js";

const DIR = new URL("../../tests/fixtures/protocol/", import.meta.url);

function load(name) {
  return JSON.parse(readFileSync(new URL(name, DIR), "utf8"));
}

function decode({ content, buffers }) {
  return decodeMessage(
    content,
    buffers.map((b) => new Uint8Array(Buffer.from(b, "base64"))),
  );
}

// The pixel of a display index in the view the user sees, and that view's options.
function pixelOf(layout, index) {
  switch (layout) {
    case "bars":
      return [{}, index[0] * BAR_COLUMNS, 0];
    case "ND":
      return [{}, index[1], index[0]];
    case "NTD":
      return [{ sample: index[0] }, index[2], index[1]];
    case "NHWC":
      return [{ sample: index[0], channel: index[3] }, index[2], index[1]];
    case "NDHWC":
      return [{ sample: index[0], slice: index[1], channel: index[4] }, index[3], index[2]];
  }
  throw new Error(`no pixel for layout ${layout}`);
}

const CASES = readdirSync(DIR)
  .filter((f) => f.endsWith(".json") && f !== "catalog.json")
  .sort();

test("the fixtures hold the cases the protocol test writes", () => {
  for (const name of ["pool3_nhwc", "ragged_ntd", "flat_6d", "scalar"]) {
    assert.ok(CASES.includes(`${name}.json`), `${name}.json is missing from ${CASES}`);
  }
});

for (const file of CASES) {
  test(`hover points at NumPy's block and value: ${file}`, () => {
    const fixture = load(file);
    const snap = decode(fixture.message);
    const { shape, layout, axes, data } = snap.display;
    assert.equal(
      data.length,
      shape.reduce((a, b) => a * b, 1),
    );
    assert.equal(axes.length, shape.length);
    for (const probe of fixture.probes) {
      const [options, x, y] = pixelOf(layout, probe.index);
      const view = viewOf(snap.display, options);
      const index = view.locate(x, y);
      assert.deepEqual(index, probe.index, `${file}: the pixel of ${probe.index}`);
      const value = data[view.at(x, y)];
      assert.equal(value, probe.value, `${file} ${probe.index}: display value`);
      assert.ok(
        Math.abs(value - probe.mean) <= Math.abs(probe.mean) * 2 ** -10,
        `${file} ${probe.index}: ${value} is not the block mean ${probe.mean}`,
      );
      const where = originalIndex(index, axes);
      assert.deepEqual(where.ranges, probe.ranges, `${file} ${probe.index}: ranges`);
      assert.equal(where.text, probe.numpy);
      assert.ok(hoverText(snap, index, value).line.includes(`${probe.numpy} = `));
    }
  });
}

test("a factor-3 pooling hovers as [0, 30:33, 45:48, 0], not as halving would", () => {
  const fixture = load("pool3_nhwc.json");
  const snap = decode(fixture.message);
  const { line, where } = hoverText(snap, [0, 10, 15, 0], 0);
  assert.equal(where.text, "[0, 30:33, 45:48, 0]");
  assert.match(line, /^values\(…\)\[0, 30:33, 45:48, 0\] = 0 {2}\(pooled mean, float16\) — /);
  assert.match(line, /y 30–32, x 45–47/);
  // The last display row is the ragged edge: row 99 alone, never past the end.
  assert.equal(originalIndex([0, 33, 33, 0], snap.display.axes).text, "[0, 99, 99, 0]");
});

test("the catalog's menus are what the front-end can draw", () => {
  const catalog = decode(load("catalog.json").message);
  assert.equal(catalog.version, PROTOCOL_VERSION);
  assert.ok(catalog.colormaps.includes("auto"));
  for (const name of catalog.colormaps) {
    if (name !== "auto") assert.equal(lut(name).length, 256 * 3, name);
  }
  assert.ok(catalog.range_modes.length > 0);
  for (const mode of catalog.range_modes) {
    const scale = resolveScale({ mode, layerRange: [0, 2], mapRange: [0, 1], fixed: [0, 4] });
    assert.ok(scale.hi > scale.lo, mode);
  }
});
