// The wire format, front-end side. Mirrors kerasviz_widget/io/protocol.py (its docstring has the
// table of messages). Python decides, the front-end draws: the catalog carries the colour maps and
// range modes to offer (`colormaps`, `range_modes`), and each snapshot its `display.axes` (name,
// size and pool factor of every display axis), which the hover reads as they are. A `findings`
// message follows each step's snapshots: the step's health findings and the run's first bad layer,
// decided in Python (core/health.py) and shown as they are.

export const PROTOCOL_VERSION = 3;

export const KINDS = ["catalog", "step", "snapshot", "findings", "status"];

// float16 bits -> float32, through a table of all 65536 values (built once).
let HALF_TABLE = null;

function halfTable() {
  if (HALF_TABLE) return HALF_TABLE;
  HALF_TABLE = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac ? NaN : Infinity;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    HALF_TABLE[h] = sign * v;
  }
  return HALF_TABLE;
}

/** Decode little-endian float16 bytes into a Float32Array. */
export function decodeFloat16(buffer) {
  const bytes = toBytes(buffer);
  const n = bytes.byteLength >> 1;
  const bits = new Uint16Array(n);
  new Uint8Array(bits.buffer).set(bytes.subarray(0, n * 2));
  const table = halfTable();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[bits[i]];
  return out;
}

/** Decode little-endian uint32 bytes into a Uint32Array. */
export function decodeUint32(buffer) {
  const bytes = toBytes(buffer);
  const out = new Uint32Array(bytes.byteLength >> 2);
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 4));
  return out;
}

function toBytes(buffer) {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) {
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  return new Uint8Array(buffer);
}

/**
 * Decode one message from the kernel into a plain object, or null if it is not ours.
 * Snapshots get `hist.counts` (Uint32Array) and `display.data` (Float32Array).
 */
export function decodeMessage(content, buffers = []) {
  if (!content || !KINDS.includes(content.kind)) return null;
  if (content.kind !== "snapshot") return content;
  const counts = decodeUint32(buffers[0]);
  const data = decodeFloat16(buffers[1]);
  return {
    ...content,
    hist: { ...content.hist, counts },
    display: { ...content.display, data },
  };
}

/**
 * The messages of a `batch` (several messages sent as one: a recorded step, a replay), each with
 * its buffers, as [content, buffers] pairs in order; any other message alone.
 */
export function unbatch(content, buffers = []) {
  if (!content || content.kind !== "batch") return [[content, buffers]];
  const out = [];
  let start = 0;
  content.messages.forEach((inner, i) => {
    const count = content.buffers[i];
    out.push([inner, buffers.slice(start, start + count)]);
    start += count;
  });
  return out;
}

/** The message a new view sends when its store is empty. */
export const REPLAY = { kind: "replay" };
