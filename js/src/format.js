// Small DOM and text helpers shared by the front-end's modules.

/** A new element with a class and attributes. */
export function el(tag, className, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** An `<option>`; its text comes from the model, so it is set as text, never HTML. */
export function option(value, text) {
  const node = document.createElement("option");
  node.value = value;
  node.textContent = text;
  return node;
}

/** A number for people: five significant digits, exponents for the very small and large. */
export function formatNumber(v) {
  if (v == null || Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  const a = Math.abs(v);
  if (a === 0) return "0";
  return a < 1e-3 || a >= 1e5 ? v.toExponential(3) : Number(v.toPrecision(5)).toString();
}

/** A shape as Python prints it: `(None, 6, 6, 4)`. */
export function formatShape(shape) {
  return `(${shape.map((d) => (d == null ? "None" : d)).join(", ")})`;
}
