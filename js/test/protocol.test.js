import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeFloat16, decodeUint32, decodeMessage, PROTOCOL_VERSION } from "../src/protocol.js";
import { createStore } from "../src/store.js";

// Little-endian float16 bit patterns and their values.
const HALVES = [
  [0x0000, 0],
  [0x3c00, 1],
  [0xc000, -2],
  [0x7bff, 65504],
  [0x0001, 2 ** -24],
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
];

test("float16 buffers decode to the exact values", () => {
  const bytes = new Uint8Array(HALVES.length * 2);
  HALVES.forEach(([bits], i) => {
    bytes[2 * i] = bits & 0xff;
    bytes[2 * i + 1] = bits >> 8;
  });
  assert.deepEqual(
    [...decodeFloat16(bytes)],
    HALVES.map(([, v]) => v),
  );
  assert.ok(Number.isNaN(decodeFloat16(new Uint8Array([0x00, 0x7e]))[0]));
});

test("uint32 buffers decode from a DataView at an offset", () => {
  const raw = new Uint8Array([9, 1, 0, 0, 0, 2, 0, 0, 0]);
  const view = new DataView(raw.buffer, 1);
  assert.deepEqual([...decodeUint32(view)], [1, 2]);
});

test("messages that are not ours are ignored", () => {
  assert.equal(decodeMessage({ kind: "something-else" }), null);
  assert.equal(decodeMessage(null), null);
});

function snapshotMessage(layer, epoch) {
  const counts = new Uint8Array(new Uint32Array([3, 1]).buffer);
  const display = new Uint8Array([0x00, 0x3c, 0x00, 0x40]); // [1, 2]
  return [
    {
      kind: "snapshot",
      layer,
      epoch,
      batch: null,
      stats: { shape: [1, 2], min: 1, max: 2 + epoch },
      hist: { lo: 1, hi: 2, bins: 2 },
      display: { shape: [1, 2], layout: "ND" },
    },
    [counts, display],
  ];
}

test("the store keeps every step in order and the layer range across epochs", () => {
  const store = createStore();
  const seen = [];
  store.subscribe((kind) => seen.push(kind));
  store.receive({
    kind: "catalog",
    version: PROTOCOL_VERSION,
    layers: [{ id: "d" }],
    probe: { n: 1 },
  });
  store.receive(...snapshotMessage("d", 2));
  store.receive(...snapshotMessage("d", 0));
  assert.deepEqual(
    store.state.steps.map((s) => s.epoch),
    [0, 2],
  );
  assert.deepEqual([...store.get("d", 2).display.data], [1, 2]);
  assert.deepEqual([...store.get("d", 0).hist.counts], [3, 1]);
  assert.deepEqual(store.layerRange("d"), [1, 4]);
  assert.deepEqual(seen, ["catalog", "snapshot", "snapshot"]);
});

test("a protocol version mismatch is reported, naming both versions", () => {
  const store = createStore();
  store.receive({ kind: "catalog", version: 99, layers: [], probe: { n: 0 } });
  assert.match(store.state.error, new RegExp(`protocol version ${PROTOCOL_VERSION}.*speaks 99`));
});

test("a batch is received as its messages, in order, each with its own buffers", () => {
  const catalog = {
    kind: "catalog",
    version: PROTOCOL_VERSION,
    layers: [{ id: "d" }],
    probe: { n: 1 },
  };
  const [first, firstBuffers] = snapshotMessage("d", 1);
  const [second, secondBuffers] = snapshotMessage("d", 2);
  secondBuffers[1] = new Uint8Array([0x00, 0x42, 0x00, 0x44]); // [3, 4]: each its own buffers
  const step = { kind: "step", epoch: 2, batch: null, logs: { loss: 0.5 } };
  const findings = { kind: "findings", epoch: 2, findings: [], first_bad: null };
  const batched = createStore();
  const seen = [];
  batched.subscribe((kind) => seen.push(kind));
  batched.receive(
    {
      kind: "batch",
      messages: [catalog, first, step, second, findings],
      buffers: [0, firstBuffers.length, 0, secondBuffers.length, 0],
    },
    [...firstBuffers, ...secondBuffers],
  );
  const single = createStore();
  single.receive(catalog);
  single.receive(first, firstBuffers);
  single.receive(step);
  single.receive(second, secondBuffers);
  single.receive(findings);
  assert.deepEqual(seen, ["catalog", "snapshot", "step", "snapshot", "findings"]);
  assert.deepEqual([...batched.get("d", 1).display.data], [...single.get("d", 1).display.data]);
  assert.deepEqual([...batched.get("d", 2).hist.counts], [...single.get("d", 2).hist.counts]);
  assert.notDeepEqual([...batched.get("d", 1).display.data], [...batched.get("d", 2).display.data]);
  assert.deepEqual(batched.state.steps, single.state.steps);
});
