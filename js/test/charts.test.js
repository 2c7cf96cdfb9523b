import { test } from "node:test";
import assert from "node:assert/strict";
import {
  drawHistogram,
  fitText,
  drawTimeline,
  drawRidge,
  hitTimeline,
  hitRidge,
  prepareCanvas,
  themeFrom,
  formatTick,
  formatCount,
  integerTicks,
  overlaps,
  logCount,
  DEFAULT_THEME,
} from "../src/charts.js";

// A 2-D context that records every call with the style in force; text is 0.6 em per character.
function fakeContext() {
  const calls = [];
  const state = {
    font: "10px sans-serif",
    fillStyle: "#000",
    strokeStyle: "#000",
    lineWidth: 1,
    globalAlpha: 1,
    textAlign: "start",
    textBaseline: "alphabetic",
    dash: [],
  };
  const stack = [];
  const ctx = {
    calls,
    measureText(text) {
      const size = Number(/([\d.]+)px/.exec(ctx.font)[1]);
      return { width: String(text).length * size * 0.6 };
    },
    save: () => stack.push({ ...state, dash: [...state.dash] }),
    restore: () => Object.assign(state, stack.pop()),
    setLineDash: (d) => (state.dash = [...d]),
  };
  for (const key of Object.keys(state)) {
    if (key === "dash") continue;
    Object.defineProperty(ctx, key, {
      get: () => state[key],
      set: (v) => {
        state[key] = v;
      },
    });
  }
  const ops = [
    "fillRect",
    "clearRect",
    "fillText",
    "beginPath",
    "moveTo",
    "lineTo",
    "arc",
    "closePath",
    "stroke",
    "fill",
    "translate",
    "rotate",
    "setTransform",
  ];
  for (const op of ops) {
    ctx[op] = (...args) => calls.push({ op, args, ...state, dash: [...state.dash] });
  }
  return ctx;
}

const texts = (ctx) => ctx.calls.filter((c) => c.op === "fillText").map((c) => c.args[0]);
const close = (a, b, eps = 1e-6) => Math.abs(a - b) <= eps;

function assertNoOverlap(layout, size, where) {
  const { boxes } = layout;
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i];
    assert.ok(
      a.x0 >= 0 && a.y0 >= 0 && a.x1 <= size.width && a.y1 <= size.height,
      `${where}: ${a.kind} "${a.text}" leaves the canvas ${JSON.stringify(a)}`,
    );
    for (let j = i + 1; j < boxes.length; j++) {
      const b = boxes[j];
      assert.ok(
        !overlaps(a, b),
        `${where}: ${a.kind} "${a.text}" overlaps ${b.kind} "${b.text}" ${JSON.stringify([a, b])}`,
      );
    }
  }
}

const SIZE = { width: 420, height: 200 };
const hist = { lo: -1.3, hi: 1.7, counts: Uint32Array.from([0, 4, 16, 64, 16, 4, 1, 0, 0, 2]) };

test("histogram draws one bar per non-empty bin, heights proportional to the counts", () => {
  const ctx = fakeContext();
  const layout = drawHistogram(ctx, SIZE, hist);
  const nonEmpty = [...hist.counts].filter((c) => c > 0).length;
  assert.equal(layout.bars.length, nonEmpty);
  const rects = ctx.calls.filter((c) => c.op === "fillRect" && c.fillStyle === DEFAULT_THEME.bar);
  assert.equal(rects.length, nonEmpty);
  const tallest = layout.bars.find((b) => b.bin === 3);
  for (const bar of layout.bars) {
    assert.ok(close(bar.height / tallest.height, hist.counts[bar.bin] / 64), `bin ${bar.bin}`);
    assert.ok(close(bar.y + bar.height, layout.plot.bottom), "bars stand on the x axis");
  }
  // Bins left to right, inside the plot, the first starting at lo.
  const xs = layout.bars.map((b) => b.x);
  assert.deepEqual(
    xs,
    [...xs].sort((a, b) => a - b),
  );
  assert.ok(close(layout.x(-1.3), layout.plot.left));
  assert.ok(close(layout.x(1.7), layout.plot.right));
  assert.ok(close(layout.bars[0].x, layout.x(-1.3 + 0.3)), "bin 1 starts at lo + 1 bin width");
});

test("histogram x ticks are round values inside [lo, hi] with no more digits than they need", () => {
  const ctx = fakeContext();
  const layout = drawHistogram(ctx, SIZE, hist);
  const values = layout.xTicks.map((t) => t.value);
  assert.ok(values.length >= 3, `x ticks ${values}`);
  for (const v of values) assert.ok(v >= -1.3 && v <= 1.7);
  for (const t of layout.xTicks) assert.equal(t.text, formatTick(t.value, values[1] - values[0]));
  assert.ok(
    layout.xTicks.every((t) => !/\.\d{3,}/.test(t.text)),
    layout.xTicks.map((t) => t.text),
  );
  assert.ok(texts(ctx).includes("value"));
  assert.ok(texts(ctx).includes("count"));
  // Linear y ticks are whole counts from 0.
  assert.equal(layout.yTicks[0].value, 0);
  assert.ok(layout.yTicks.every((t) => Number.isInteger(t.value)));
});

test("log mode draws log10(1 + count), ticks at powers of ten, and says so", () => {
  const ctx = fakeContext();
  const counts = Uint32Array.from([1, 9, 99, 999, 0, 9999]);
  const layout = drawHistogram(ctx, SIZE, { lo: 0, hi: 6, counts }, { logY: true });
  const byBin = new Map(layout.bars.map((b) => [b.bin, b]));
  assert.equal(layout.bars.length, 5, "the empty bin stays empty");
  for (const [bin, bar] of byBin) {
    const expected = (logCount(counts[bin]) / layout.yMax) * (layout.plot.bottom - layout.plot.top);
    assert.ok(close(bar.height, expected), `bin ${bin}: ${bar.height} vs ${expected}`);
  }
  // Each decade is the same height: log10(1 + 9) = 1, log10(1 + 99) = 2, ...
  assert.ok(close(byBin.get(2).height, 2 * byBin.get(1).height));
  const labels = layout.yTicks.map((t) => t.text);
  assert.equal(labels[0], "0");
  for (const t of layout.yTicks.slice(1)) {
    assert.ok(/^1(0*|k|0k)$/.test(t.text), `tick ${t.text}`);
    assert.ok(close(t.value, logCount(Math.round(10 ** t.value - 1))));
  }
  assert.ok(texts(ctx).includes("count (log)"));
});

test("an overlay is an outline over the same axes, with a legend", () => {
  const ctx = fakeContext();
  const pinned = { lo: -3, hi: 1, counts: Uint32Array.from([10, 20, 30, 40]) };
  const layout = drawHistogram(ctx, SIZE, hist, {
    overlay: pinned,
    label: "epoch 5",
    overlayLabel: "epoch 2",
  });
  // The x domain covers both histograms.
  assert.ok(close(layout.x(-3), layout.plot.left));
  assert.ok(close(layout.x(1.7), layout.plot.right));
  // Outline: from the axis, along each bin top, back to the axis, stroked in the overlay colour.
  const path = layout.overlay;
  assert.equal(path.length, 2 + 2 * pinned.counts.length);
  assert.ok(close(path[0][1], layout.plot.bottom) && close(path.at(-1)[1], layout.plot.bottom));
  assert.ok(close(path[1][0], layout.x(-3)) && close(path[2][0], layout.x(-2)));
  assert.ok(close(path[7][1], layout.y(40)));
  const strokes = ctx.calls.filter(
    (c) => c.op === "stroke" && c.strokeStyle === DEFAULT_THEME.overlay,
  );
  assert.ok(strokes.length >= 1);
  assert.ok(!ctx.calls.some((c) => c.op === "fillRect" && c.fillStyle === DEFAULT_THEME.overlay));
  assert.ok(texts(ctx).includes("epoch 5") && texts(ctx).includes("epoch 2"));
  assertNoOverlap(layout, SIZE, "histogram with overlay");
});

test("model text is drawn as canvas text, verbatim", () => {
  const ctx = fakeContext();
  const name = '<img src=x onerror="alert(1)">';
  drawHistogram(ctx, SIZE, hist, { overlay: hist, label: name });
  assert.ok(texts(ctx).includes(name));
});

const steps = 21;
const series = {
  epochs: Float64Array.from({ length: steps }, (_, i) => i),
  mean: Float64Array.from({ length: steps }, (_, i) => 0.5 + 0.02 * i),
  std: Float64Array.from({ length: steps }, () => 0.3),
  zero: Float64Array.from({ length: steps }, (_, i) => 0.5 - 0.01 * i),
  loss: {
    epochs: Float64Array.from({ length: steps - 1 }, (_, i) => i + 1),
    values: Float64Array.from({ length: steps - 1 }, (_, i) => 12345.678 / (i + 1)),
  },
  valLoss: {
    epochs: Float64Array.from({ length: steps - 1 }, (_, i) => i + 1),
    values: Float64Array.from({ length: steps - 1 }, (_, i) => 13000.5 / (i + 1)),
  },
  cursor: 7,
};

test("the timeline cursor stands at the current epoch, full height", () => {
  const ctx = fakeContext();
  const layout = drawTimeline(ctx, SIZE, series);
  assert.ok(Math.abs(layout.cursorX - layout.x(7)) <= 1);
  const i = ctx.calls.findIndex(
    (c) => c.op === "moveTo" && c.args[0] === layout.cursorX && c.args[1] === layout.plot.top,
  );
  assert.ok(i >= 0, "cursor line drawn");
  assert.deepEqual(ctx.calls[i + 1].args, [layout.cursorX, layout.plot.bottom]);
  const stroke = ctx.calls.slice(i).find((c) => c.op === "stroke");
  assert.equal(stroke.strokeStyle, DEFAULT_THEME.cursor);
  // Steps map left to right inside the plot.
  assert.ok(layout.x(0) > layout.plot.left && layout.x(20) < layout.plot.right);
});

test("zero fraction is dashed on its own 0–1 scale; loss has a right-hand axis", () => {
  const ctx = fakeContext();
  const layout = drawTimeline(ctx, SIZE, series);
  const dashed = ctx.calls.filter((c) => c.dash.length && c.op === "lineTo");
  const h = layout.plot.bottom - layout.plot.top;
  // zero[20] = 0.3: 30 % of the plot's height above its bottom.
  const last = dashed.at(-1);
  assert.ok(close(last.args[1], layout.plot.bottom - 0.3 * h), `${last.args[1]}`);
  assert.ok(layout.lossTicks.length >= 2);
  const lossTickBoxes = layout.boxes.filter((b) => b.kind === "loss-tick");
  assert.ok(lossTickBoxes.every((b) => b.x0 > layout.plot.right));
  for (const t of layout.lossTicks) assert.ok(t.value >= 0 && t.value <= 14000);
  assert.ok(texts(ctx).includes("loss") && texts(ctx).includes("val_loss"));
});

test("clicking near a step marker picks that step; elsewhere picks nothing", () => {
  const ctx = fakeContext();
  const layout = drawTimeline(ctx, SIZE, series);
  assert.equal(layout.points.length, steps);
  for (const p of layout.points) {
    assert.equal(hitTimeline(layout, p.x, p.y), p.index);
    assert.equal(hitTimeline(layout, p.x + 2, layout.plot.top + 3), p.index);
  }
  assert.equal(hitTimeline(layout, layout.points[3].x, layout.plot.bottom + 40), -1);
  assert.equal(hitTimeline(layout, 1, layout.points[0].y), -1);
  // Two steps far apart: a click half way between is near neither.
  const sparse = drawTimeline(fakeContext(), SIZE, {
    epochs: [0, 1],
    mean: [0, 1],
    std: [0, 0],
    zero: [0, 0],
  });
  const mid = (sparse.points[0].x + sparse.points[1].x) / 2;
  assert.equal(hitTimeline(sparse, mid, sparse.points[0].y), -1);
});

test("no label overlaps another or leaves the canvas, at any size", () => {
  const awkward = {
    ...series,
    mean: series.mean.map((m) => m * 1e-4),
    std: series.std.map((s) => s * 1e-4),
  };
  for (const width of [180, 260, 420, 900]) {
    for (const height of [110, 160, 320]) {
      const size = { width, height };
      for (const s of [series, awkward]) {
        const ctx = fakeContext();
        const layout = drawTimeline(ctx, size, s);
        assertNoOverlap(layout, size, `timeline ${width}x${height}`);
        // Every box was drawn: fillText count equals label boxes.
        assert.equal(
          texts(ctx).length,
          layout.boxes.filter((b) => b.kind !== "legend-swatch").length,
        );
      }
      for (const logY of [false, true]) {
        const layout = drawHistogram(fakeContext(), size, hist, { logY, overlay: hist });
        assertNoOverlap(layout, size, `histogram ${width}x${height}`);
      }
      const ridge = drawRidge(fakeContext(), size, ridgeSteps(40));
      assertNoOverlap(ridge, size, `ridge ${width}x${height}`);
    }
  }
});

test("the histogram shows Python's note: in an empty plot, else after the x title", () => {
  // A layer with no finite value: no bars, the note in the middle of the plot.
  const none = { lo: 0, hi: 1, counts: new Uint32Array(10) };
  const note = "no finite value: 16 NaN";
  let ctx = fakeContext();
  let layout = drawHistogram(ctx, SIZE, none, { note });
  assert.equal(layout.bars.length, 0);
  const box = layout.boxes.find((b) => b.kind === "note");
  assert.equal(box.text, note);
  assert.ok(box.y0 > layout.plot.top && box.y1 < layout.plot.bottom, "inside the plot");
  assert.ok(texts(ctx).includes("value"));
  assert.deepEqual(layout.xTicks, [], "no x axis for nothing drawn");
  assert.equal(layout.boxes.filter((b) => b.kind === "x-tick").length, 0);
  // ... unless a pinned step is drawn over it.
  const pinned = drawHistogram(fakeContext(), SIZE, none, { note, overlay: hist });
  assert.ok(pinned.xTicks.length >= 3);
  // Values left out of a histogram that has bars: said after the x title.
  const left = "3 NaN and 1 infinite not counted";
  ctx = fakeContext();
  layout = drawHistogram(ctx, SIZE, hist, { note: left });
  assert.ok(texts(ctx).includes(`value (${left})`), texts(ctx));
  assert.equal(layout.boxes.filter((b) => b.kind === "note").length, 0);
  // No note, no change.
  ctx = fakeContext();
  drawHistogram(ctx, SIZE, hist);
  assert.ok(texts(ctx).includes("value"));
  // Narrow: the note alone, then cut short, never leaving the canvas or overlapping a label.
  for (const width of [180, 260]) {
    for (const [h, n] of [
      [none, note],
      [hist, left],
    ]) {
      const size = { width, height: 160 };
      ctx = fakeContext();
      layout = drawHistogram(ctx, size, h, { note: n });
      assertNoOverlap(layout, size, `histogram with a note, ${width} wide`);
      const shown = texts(ctx).find((t) => t.startsWith(n.slice(0, 5)) || t.includes(`(${n}`));
      assert.ok(shown, `the note is drawn at ${width}: ${texts(ctx)}`);
      assert.ok(n.startsWith(shown.replace(/…$/, "")) || shown.includes(n), shown);
    }
  }
});

test("fitText cuts a text short with an ellipsis only where it does not fit", () => {
  const ctx = fakeContext(); // 10px font: 6 px a character
  assert.equal(fitText(ctx, "abcdef", 36), "abcdef");
  assert.equal(fitText(ctx, "abcdef", 35), "abcd…");
  assert.equal(fitText(ctx, "abcdef", 6), "…");
});

test("the right-hand loss title clears its tick labels", () => {
  const ctx = fakeContext();
  const layout = drawTimeline(ctx, SIZE, series);
  const title = layout.boxes.find((b) => b.kind === "loss-title");
  assert.ok(title, "the loss title is drawn");
  const ticks = layout.boxes.filter((b) => b.kind === "loss-tick");
  for (const t of ticks)
    assert.ok(t.x1 <= title.x0, `${t.text} ends at ${t.x1}, title at ${title.x0}`);
});

test("a timeline with one step, no loss and NaN statistics still draws", () => {
  const ctx = fakeContext();
  const layout = drawTimeline(ctx, SIZE, {
    epochs: [0, 1],
    mean: [NaN, 2],
    std: [NaN, 1],
    zero: [0, 0.5],
    cursor: 0,
  });
  assert.equal(layout.points.length, 2);
  assert.equal(layout.lossTicks.length, 0);
  assert.ok(!layout.boxes.some((b) => b.kind === "loss-title"));
  assert.deepEqual(
    layout.xTicks.map((t) => t.value),
    [0, 1],
  );
  const first = ctx.calls.find((c) => c.op === "moveTo" || c.op === "lineTo");
  assert.ok(Number.isFinite(first.args[0]) && Number.isFinite(first.args[1]));
});

function ridgeSteps(n) {
  return Array.from({ length: n }, (_, e) => ({
    epoch: e,
    lo: -1 - e * 0.05,
    hi: 1 + e * 0.05,
    counts: Uint32Array.from({ length: 32 }, (_, i) =>
      Math.round(100 * Math.exp(-((i - 16) ** 2) / 40)),
    ),
  }));
}

test("the ridge view stacks steps oldest at the back, newest in front", () => {
  const ctx = fakeContext();
  const steps = ridgeSteps(6);
  const layout = drawRidge(ctx, SIZE, steps, { current: 3 });
  assert.equal(layout.rows.length, 6);
  const baselines = layout.rows.map((r) => r.baseline);
  assert.deepEqual(
    baselines,
    [...baselines].sort((a, b) => a - b),
  );
  assert.ok(close(baselines.at(-1), layout.plot.bottom));
  // x covers every step's range.
  assert.ok(close(layout.x(-1.25), layout.plot.left) && close(layout.x(1.25), layout.plot.right));
  // The current step is outlined in the accent colour.
  const accent = ctx.calls.filter(
    (c) => c.op === "stroke" && c.strokeStyle === DEFAULT_THEME.overlay,
  );
  assert.equal(accent.length, 1);
  assert.deepEqual(texts(ctx).slice(0, 6), ["5", "4", "3", "2", "1", "0"]);
  // A click just above a baseline picks that step.
  for (const row of layout.rows)
    assert.equal(hitRidge(layout, layout.x(0), row.baseline - 2), row.index);
  assert.equal(hitRidge(layout, 0, baselines[0]), -1);
});

test("the ridge thins its epoch labels to keep them a line apart", () => {
  const layout = drawRidge(fakeContext(), { width: 300, height: 150 }, ridgeSteps(200));
  const labels = layout.boxes.filter((b) => b.kind === "epoch-label");
  assert.ok(labels.length < 200 && labels.length >= 5, `${labels.length} labels`);
  assert.equal(labels[0].text, "199", "the newest step is always labelled");
});

test("prepareCanvas draws in CSS pixels on a device-pixel backing store", () => {
  const ctx = fakeContext();
  const canvas = { width: 0, height: 0, style: {}, getContext: () => ctx };
  assert.equal(prepareCanvas(canvas, 300, 150, 2), ctx);
  assert.equal(canvas.width, 600);
  assert.equal(canvas.height, 300);
  assert.equal(canvas.style.width, "300px");
  assert.deepEqual(ctx.calls[0], { ...ctx.calls[0], op: "setTransform", args: [2, 0, 0, 2, 0, 0] });
  assert.deepEqual(ctx.calls[1].args, [0, 0, 300, 150]);
});

test("the theme follows CSS variables and switches defaults on a dark background", () => {
  const light = themeFrom(() => "");
  assert.equal(light.dark, false);
  const vars = { "--jp-layout-color0": "#111111", "--jp-ui-font-color1": "rgb(240, 240, 240)" };
  const dark = themeFrom((name) => vars[name] || "");
  assert.equal(dark.dark, true);
  assert.equal(dark.fg, "rgb(240, 240, 240)");
  assert.notEqual(dark.bar, light.bar);
  const custom = themeFrom((name) => (name === "--kv-chart-bar" ? " #123456 " : ""));
  assert.equal(custom.bar, "#123456");
});

test("tick and count formats", () => {
  assert.equal(formatTick(0.25, 0.05), "0.25");
  assert.equal(formatTick(2, 0.5), "2.0");
  assert.equal(formatTick(1500, 500), "1500");
  assert.equal(formatTick(0.00025, 0.00005), "2.5e-4");
  assert.equal(formatTick(250000, 50000), "2.5e+5");
  assert.equal(formatCount(950), "950");
  assert.equal(formatCount(12345), "12.3k");
  assert.equal(formatCount(2500000), "2.5M");
  assert.deepEqual(integerTicks(0, 3, 10), [0, 1, 2, 3]);
  assert.deepEqual(integerTicks(0, 20, 5), [0, 5, 10, 15, 20]);
});

test("step markers are drawn while they stand apart, and stay clickable when they do not", () => {
  const arcs = (ctx) => ctx.calls.filter((c) => c.op === "arc").length;
  const few = fakeContext();
  assert.equal(drawTimeline(few, SIZE, series).markers, true);
  assert.equal(arcs(few), steps);
  const n = 500;
  const dense = {
    epochs: Float64Array.from({ length: n }, (_, i) => i / 25),
    mean: new Float64Array(n),
    std: new Float64Array(n),
    zero: new Float64Array(n),
  };
  const many = fakeContext();
  const layout = drawTimeline(many, SIZE, dense);
  assert.equal(layout.markers, false);
  assert.equal(arcs(many), 0);
  assert.equal(hitTimeline(layout, layout.points[250].x, layout.points[250].y), 250);
});
