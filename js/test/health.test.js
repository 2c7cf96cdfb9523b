import { test } from "node:test";
import assert from "node:assert/strict";
import { createStore } from "../src/store.js";
import { PROTOCOL_VERSION } from "../src/protocol.js";
import { bannerText, flaggedLayers, markOptions, FLAG } from "../src/findings.js";
import { overviewGrid } from "../src/overview-panel.js";
import { diffReference, diffSnapshot, diffScale } from "../src/compare.js";
import { viewOf } from "../src/heatmap.js";

// A snapshot message of float16 display values, as the kernel sends it.
function snapshot(layer, epoch, values, stats = {}, shape = [1, values.length]) {
  const bits = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  values.forEach((v, i) => {
    // Small integers only: exact in float16.
    f[0] = v;
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    bits[i] = v === 0 ? sign : sign | (exp << 10) | ((x >>> 13) & 0x3ff);
  });
  return [
    {
      kind: "snapshot",
      layer,
      epoch,
      batch: null,
      stats: { shape, min: 0, max: 1, mean: 0, std: 1, zero_fraction: 0, ...stats },
      hist: { lo: 0, hi: 1, bins: 2 },
      display: { shape, layout: "ND", axes: [] },
    },
    [new Uint8Array(8), new Uint8Array(bits.buffer)],
  ];
}

const CATALOG = {
  kind: "catalog",
  version: PROTOCOL_VERSION,
  layers: [{ id: "input" }, { id: "dense" }, { id: "blowup" }],
  overview_stats: [{ key: "mean_abs", label: "mean |x|" }],
};

function findings(epoch, list, firstBad = null) {
  return [{ kind: "findings", epoch, findings: list, first_bad: firstBad }, []];
}

const INF = (layer, epoch) => ({
  layer,
  epoch,
  kind: "inf",
  fraction: 1,
  message: `${layer}: 100% of values are infinite (±Inf) at epoch ${epoch}`,
});

test("the store keeps each step's findings and the latest first bad layer", () => {
  const store = createStore();
  store.receive(CATALOG, []);
  store.receive(...findings(0, []));
  store.receive(...findings(1, [INF("blowup", 1)], ["blowup", 1]));
  assert.deepEqual(store.findingsAt(0), []);
  assert.deepEqual(store.findingsAt(1), [INF("blowup", 1)]);
  assert.deepEqual(store.findingsAt(7), []);
  assert.deepEqual(store.state.firstBad, ["blowup", 1]);
});

test("the banner names the first bad layer and its epoch, and nothing without one", () => {
  assert.equal(bannerText(null), "");
  assert.match(bannerText(["blowup", 2]), /^First bad layer: blowup holds NaN\/Inf from epoch 2/);
});

test("flagged layers are marked in the menu and unmarked again", () => {
  const options = [
    { value: "dense", textContent: "dense  (None, 4)", dataset: {} },
    { value: "blowup", textContent: "blowup  (None, 4)", dataset: {} },
  ];
  const select = { options };
  markOptions(select, flaggedLayers([INF("blowup", 2), INF("blowup", 2)]));
  assert.deepEqual(
    options.map((o) => o.textContent),
    ["dense  (None, 4)", `${FLAG}blowup  (None, 4)`],
  );
  markOptions(select, []);
  assert.equal(options[1].textContent, "blowup  (None, 4)");
});

test("the overview grid has one row per layer, one column per step, and the marks", () => {
  const store = createStore();
  store.receive(CATALOG, []);
  for (const epoch of [0, 1, 2]) {
    store.receive(...snapshot("input", epoch, [1, 2], { mean_abs: 1.5 }));
    store.receive(...snapshot("dense", epoch, [1, 2], { mean_abs: epoch }));
    if (epoch > 0) store.receive(...snapshot("blowup", epoch, [1, 2], { mean_abs: null }));
  }
  store.receive(...findings(2, [INF("blowup", 2)], ["blowup", 2]));
  const grid = overviewGrid(store, "mean_abs");
  assert.equal(grid.rows, 3);
  assert.equal(grid.cols, 3);
  assert.deepEqual(grid.layers, ["input", "dense", "blowup"]);
  assert.deepEqual(grid.epochs, [0, 1, 2]);
  assert.deepEqual([...grid.values.slice(0, 6)], [1.5, 1.5, 1.5, 0, 1, 2]);
  assert.ok(grid.values.slice(6).every(Number.isNaN), "missing and undefined are NaN");
  assert.deepEqual(grid.marks, [{ row: 2, col: 2, kind: "inf" }]);
});

test("a diff is the current display minus the reference's; a step with itself is zeros", () => {
  const store = createStore();
  store.receive(CATALOG, []);
  store.receive(...snapshot("dense", 0, [1, 2, 4, 8]));
  store.receive(...snapshot("dense", 1, [2, 2, 2, 2]));
  store.receive(...snapshot("dense", 2, [3, 1, 3, 1], {}, [2, 2]));
  const one = store.get("dense", 1);
  const previous = diffReference(store, "dense", 1, null);
  assert.equal(previous.epoch, 0);
  const d = diffSnapshot(one, previous);
  assert.deepEqual([...d.snap.display.data], [1, 0, -2, -6]);
  assert.match(d.note, /epoch 1 − epoch 0/);
  const self = diffSnapshot(one, diffReference(store, "dense", 1, 1));
  assert.ok(self.snap.display.data.every((v) => v === 0));
  const view = viewOf(self.snap.display);
  assert.deepEqual(diffScale(view, self.snap.display.data), { name: "diverging", lo: -1, hi: 1 });
  const other = diffSnapshot(store.get("dense", 2), one);
  assert.equal(other.snap, null);
  assert.match(other.note, /different shapes \(2×2 and 1×4\): no diff/);
  assert.match(diffSnapshot(store.get("dense", 0), null).note, /no earlier step/);
});
