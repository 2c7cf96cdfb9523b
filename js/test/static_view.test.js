// The static view (kerasviz_widget/io/static_view.py) draws heatmaps in Python for pages with no
// widget; these tests hold the front-end to the same pixels, through a fixture Python writes,
// and to the one colour table file both sides read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { lut, COLORMAPS, NAN_RGB, resolveScale, viewRange } from "../src/colormap.js";
import { viewOf, paint } from "../src/heatmap.js";

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
const fixture = read("./fixtures/static_view.json");
const tables = read("../../kerasviz_widget/io/colormaps.json");

const hex = (bytes) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
const number = (v) => (typeof v === "string" ? Number(v.replace("inf", "Infinity")) : v);

test("the colour tables are the package's colormaps.json, map for map, and NaN's colour", () => {
  // The bundle inlines the file; Python checks that its levels interpolate the anchors.
  assert.deepEqual(COLORMAPS, ["viridis", "magma", "gray", "diverging"]);
  for (const name of COLORMAPS) {
    const table = lut(name);
    assert.equal(table.length, 256 * 3, name);
    assert.equal(hex(table), tables.maps[name].levels, name);
    const anchors = tables.maps[name].anchors;
    assert.equal(`#${hex(table.slice(0, 3))}`, anchors[0], `${name} starts at its first anchor`);
    assert.equal(`#${hex(table.slice(765))}`, anchors.at(-1), `${name} ends at its last anchor`);
  }
  assert.deepEqual(NAN_RGB, [255, 0, 255]);
  assert.throws(() => lut("jet"), /Unknown colour map jet; known: viridis, magma, gray, diverging/);
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
    const { pixels, ...counts } = paint(view, data, lut(scale.name), scale.lo, scale.hi);
    assert.equal(hex(pixels), c.rgba);
    assert.deepEqual(counts, c.nonfinite, "NaN and inf pixels, for the key under the colour bar");
  });
}
