import { test } from "node:test";
import assert from "node:assert/strict";
import { createStore, DEFAULT_MAX_BYTES } from "../src/store.js";

// A snapshot message of `n` float16 display values (all 1.0), as the kernel sends it.
function snapshot(layer, epoch, n = 256, stats = {}) {
  const display = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) display[2 * i + 1] = 0x3c;
  return [
    {
      kind: "snapshot",
      layer,
      epoch,
      batch: null,
      stats: { shape: [1, n], min: 0, max: 1, mean: epoch, std: 1, zero_fraction: 0.5, ...stats },
      hist: { lo: 0, hi: 1, bins: 2 },
      display: { shape: [1, n], layout: "ND" },
    },
    [new Uint8Array(8), display],
  ];
}

const BYTES = 256 * 4; // one decoded snapshot of 256 values (Float32Array)

test("the default bound is 256 MB", () => {
  assert.equal(DEFAULT_MAX_BYTES, 256 * 2 ** 20);
  assert.equal(createStore().maxBytes, DEFAULT_MAX_BYTES);
});

test("the store never holds more display bytes than its bound", () => {
  const store = createStore({ maxBytes: 3 * BYTES });
  for (let e = 0; e < 10; e++) {
    store.receive(...snapshot("a", e));
    assert.ok(store.bytes() <= 3 * BYTES, `${store.bytes()} bytes after epoch ${e}`);
  }
  const kept = [...Array(10).keys()].filter((e) => store.get("a", e).display.data !== null);
  assert.deepEqual(kept, [7, 8, 9], "oldest unviewed steps go first");
});

test("the least recently viewed step is dropped first", () => {
  const store = createStore({ maxBytes: 3 * BYTES });
  for (let e = 0; e < 3; e++) store.receive(...snapshot("a", e));
  store.touch(0); // the user looked at epoch 0 again
  store.receive(...snapshot("a", 3));
  assert.equal(store.get("a", 1).display.data, null);
  assert.notEqual(store.get("a", 0).display.data, null);
  assert.notEqual(store.get("a", 3).display.data, null);
});

test("statistics and histograms of dropped steps are kept for the timeline", () => {
  const store = createStore({ maxBytes: BYTES });
  for (let e = 0; e < 4; e++) store.receive(...snapshot("a", e));
  assert.equal(store.get("a", 0).display.data, null);
  assert.equal(store.get("a", 0).hist.counts.length, 2);
  assert.deepEqual([...store.series("a").mean], [0, 1, 2, 3]);
  assert.deepEqual([...store.series("a").epochs], [0, 1, 2, 3]);
});

test("a step larger than the bound still shows: the newest is never dropped", () => {
  const store = createStore({ maxBytes: 10 });
  store.receive(...snapshot("a", 0));
  store.receive(...snapshot("a", 1));
  assert.equal(store.get("a", 0).display.data, null);
  assert.notEqual(store.get("a", 1).display.data, null);
});

test("a re-sent snapshot (replay) replaces the old one without counting it twice", () => {
  const store = createStore();
  store.receive(...snapshot("a", 0));
  store.receive(...snapshot("a", 0));
  assert.equal(store.bytes(), BYTES);
});

test("training logs become series, val_loss only where it was logged", () => {
  const store = createStore();
  store.receive({ kind: "step", epoch: 0, batch: null, logs: {} });
  store.receive({ kind: "step", epoch: 1, batch: null, logs: { loss: 2, val_loss: 3 } });
  store.receive({ kind: "step", epoch: 2, batch: null, logs: { loss: 1 } });
  assert.deepEqual([...store.logSeries("loss").epochs], [1, 2]);
  assert.deepEqual([...store.logSeries("loss").values], [2, 1]);
  assert.deepEqual([...store.logSeries("val_loss").epochs], [1]);
});

test("a snapshot arriving before its step message keeps the logs that come later", () => {
  const store = createStore();
  store.receive(...snapshot("a", 1));
  store.receive({ kind: "step", epoch: 1, batch: null, logs: { loss: 0.5 } });
  assert.deepEqual(store.state.steps, [{ epoch: 1, batch: null, logs: { loss: 0.5 } }]);
});

test("after a protocol mismatch, snapshots are not decoded into the store", () => {
  const store = createStore();
  store.receive({ kind: "catalog", version: 99, layers: [], probe: { n: 0 } });
  store.receive(...snapshot("a", 0));
  assert.equal(store.get("a", 0), null);
  assert.match(store.state.error, /Reinstall kerasviz_widget/);
});

test("the default channel is Python's choice at the layer's latest step", () => {
  const store = createStore();
  assert.equal(store.defaultChannel("a"), 0, "no snapshot yet: channel 0");
  const at = (epoch, channel) => {
    const [content, buffers] = snapshot("a", epoch);
    content.display = { ...content.display, channel };
    return [content, buffers];
  };
  store.receive(...at(2, 5));
  store.receive(...at(0, 3)); // an older step arriving later (a replay) does not win
  assert.equal(store.defaultChannel("a"), 5);
  store.receive(...at(3, 1));
  assert.equal(store.defaultChannel("a"), 1);
});

test("a layer's histograms come in epoch order for the ridge view", () => {
  const store = createStore();
  for (const e of [2, 0, 1]) store.receive(...snapshot("a", e));
  const rows = store.histograms("a");
  assert.deepEqual(
    rows.map((r) => r.epoch),
    [0, 1, 2],
  );
  assert.ok(rows.every((r) => r.counts instanceof Uint32Array && r.lo === 0 && r.hi === 1));
});
