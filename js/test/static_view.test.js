// The static view (kerasviz_widget/io/static_view.py) draws heatmaps in Python for pages with no
// widget; these tests hold the front-end to the same pixels, through a fixture Python writes,
// and to the one colour table file both sides read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { lut, COLORMAPS, resolveScale, viewRange } from "../src/colormap.js";
import { viewOf, paint } from "../src/heatmap.js";

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
const fixture = read("./fixtures/static_view.json");
const tables = read("../../kerasviz_widget/io/colormaps.json");

const hex = (bytes) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
const number = (v) => (typeof v === "string" ? Number(v.replace("inf", "Infinity")) : v);

test("the colour tables are the package's colormaps.json, map for map", () => {
  assert.deepEqual(COLORMAPS, Object.keys(tables.maps));
  for (const name of COLORMAPS) assert.equal(hex(lut(name)), tables.maps[name].levels, name);
});

for (const c of fixture.cases) {
  test(`static view and front-end draw the same pixels: ${c.name}`, () => {
    const data = Float32Array.from(c.data, number);
    const { sample, channel, slice, montage, colormap, range_mode: mode, fixed } = c.state;
    const view = viewOf(c.display, { sample, channel, slice, montage });
    assert.deepEqual([view.width, view.height], c.size);
    const scale = resolveScale({
      mode,
      colormap,
      layerRange: c.layerRange,
      mapRange: viewRange(view, data),
      fixed,
    });
    assert.deepEqual(scale, c.scale);
    const pixels = paint(view, data, lut(scale.name), scale.lo, scale.hi);
    assert.equal(hex(pixels), c.rgba);
  });
}
