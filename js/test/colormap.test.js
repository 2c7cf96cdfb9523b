import { test } from "node:test";
import assert from "node:assert/strict";
import { lut, chooseScale, COLORMAPS } from "../src/colormap.js";

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
