"""Health in the browser: the first-bad-layer banner during a `fit` that makes Inf, the overview
(one row per layer, a click shows that layer and step), and the heatmap's diff mode."""

from __future__ import annotations

import json

import pytest

from tests.browser.lab import canvas_signature, kernel_busy, screenshot
from tests.browser.test_live import run_cell

pytestmark = pytest.mark.browser

SETUP = """
import time
import numpy as np, keras
from kerasviz_widget import TensorViewer
keras.utils.set_random_seed(1)
gate = keras.Variable(1.0, trainable=False, name="gate")
model = keras.Sequential([
    keras.Input((6,)),
    keras.layers.Dense(8, activation="tanh", name="dense"),
    keras.layers.Lambda(lambda t: t / gate, name="blowup"),
    keras.layers.Dense(4, activation="relu", name="hidden"),
    keras.layers.Dense(1, name="out"),
])
model.compile(optimizer="sgd", loss="mse")
rng = np.random.default_rng(0)
x, y = rng.normal(size=(64, 6)).astype("float32"), np.zeros((64, 1), "float32")

class Breaks(keras.callbacks.Callback):
    # The gate drops to 0 at the end of epoch 2: `blowup` divides by 0 from then on.
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == 2:
            gate.assign(0.0)

class Waits(keras.callbacks.Callback):
    # Keeps the kernel busy after the last epoch, so the test sees the widget during fit.
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == 4:
            time.sleep(45)

viewer = TensorViewer(model, probe=x[:8])
viewer
"""

FIT = """
model.fit(x, y, epochs=4, batch_size=16, verbose=0,
          callbacks=[Breaks(), viewer.callback(), Waits()])
print("KV_" + "DONE", viewer.first_bad_layer())
"""

LAYERS = ["input", "dense", "blowup", "hidden", "out"]


def overview_cell(page, row: int, col: int) -> tuple[float, float]:
    """Page coordinates of the centre of an overview cell."""
    canvas = page.locator(".kv-overview-canvas")
    box = canvas.bounding_box()
    grid = json.loads(canvas.get_attribute("data-grid"))
    x = box["x"] + grid["x0"] + (col + 0.5) * grid["cellW"]
    y = box["y"] + grid["y0"] + (row + 0.5) * grid["cellH"]
    return x, y


def test_banner_overview_and_diff_during_a_fit_that_makes_inf(notebook, page):
    notebook(page, "health.ipynb", [SETUP, FIT], run=False)
    run_cell(page, 0)
    page.wait_for_function("() => document.querySelector('.kv-heatmap')?.dataset.epoch === '0'")
    run_cell(page, 1)
    banner = page.locator(".kv-bad-banner")
    banner.wait_for(state="visible", timeout=240_000)
    page.wait_for_function(
        "() => document.querySelector('.kv-overview-canvas')?.dataset.cols === '5'",
        timeout=60_000,
    )
    assert kernel_busy(page), "the banner should show while fit runs"
    assert banner.get_attribute("data-layer") == "blowup"
    assert banner.get_attribute("data-epoch") == "2"
    assert "First bad layer: blowup holds NaN/Inf from epoch 2" in banner.text_content()

    # The overview: one row per watched layer, one column per step, findings marked.
    canvas = page.locator(".kv-overview-canvas")
    assert int(canvas.get_attribute("data-rows")) == len(LAYERS)
    assert int(canvas.get_attribute("data-marks")) > 0
    for row, layer in enumerate(LAYERS):
        page.mouse.move(*overview_cell(page, row, 1))
        hover = page.locator(".kv-overview-hover")
        assert hover.get_attribute("data-layer") == layer
        assert hover.get_attribute("data-epoch") == "1"
    # Its key names each kind of mark drawn, in the order of the mark colours.
    key = page.locator(".kv-overview-key")
    kinds = key.get_attribute("data-kinds").split(",")
    assert {"inf", "dead", "constant"} <= set(kinds), kinds
    assert key.locator(".kv-key-entry").all_text_contents() == kinds
    assert kinds.index("inf") < kinds.index("dead") < kinds.index("constant")
    screenshot(page, "overview.png", element=page.locator(".kv-overview"), docs=True)

    # The banner goes to the first bad layer at its epoch; the menu marks it; the list says why.
    banner.click()
    page.wait_for_function(
        "() => { const c = document.querySelector('.kv-heatmap');"
        " return c.dataset.layer === 'blowup' && c.dataset.epoch === '2'; }"
    )
    marked = page.locator(".kv-layer option[value='blowup']").text_content()
    assert marked.startswith("\u26a0 ")
    assert not page.locator(".kv-layer option[value='input']").text_content().startswith("\u26a0")
    findings = page.locator(".kv-finding").all_text_contents()
    assert "blowup: 100% of values are infinite (±Inf) at epoch 2" in findings
    # Every cell is +inf or -inf, drawn in the map's end colours: the key names both.
    heat = page.locator(".kv-heatmap")
    infinite = [int(heat.get_attribute(f"data-{kind}")) for kind in ("posinf", "neginf")]
    assert sum(infinite) == 8 * 8 and min(infinite) > 0, infinite
    assert heat.get_attribute("data-nan") == "0"
    assert page.locator(".kv-key-posinf").is_visible()
    assert page.locator(".kv-key-neginf").is_visible()
    assert not page.locator(".kv-key-nan").is_visible()
    screenshot(page, "findings.png", element=page.locator(".kerasviz-viewer"), docs=True)

    # A click on a cell shows that layer at that step, everywhere.
    page.mouse.click(*overview_cell(page, LAYERS.index("dense"), 1))
    page.wait_for_function(
        "() => { const c = document.querySelector('.kv-heatmap');"
        " return c.dataset.layer === 'dense' && c.dataset.epoch === '1'; }"
    )
    assert page.locator(".kv-layer").input_value() == "dense"
    assert page.locator(".kv-epoch-label").text_content().startswith("epoch 1")
    assert kernel_busy(page), "the clicks were answered in the browser, during fit"

    # Diff mode: a step diffed with itself (pinned) draws zeros, one colour.
    plain = canvas_signature(page)
    assert plain["colors"] > 1
    page.check(".kv-diff")
    page.click(".kv-pin")
    page.wait_for_function(
        "() => document.querySelector('.kv-heatmap').dataset.diff === 'diff: epoch 1 \u2212 epoch 1'"
    )
    page.wait_for_timeout(200)
    zeros = canvas_signature(page)
    assert zeros["colors"] == 1, "a step minus itself is not all one colour"
    centre = page.evaluate(
        """() => { const c = document.querySelector('.kv-heatmap');
                   return [...c.getContext('2d').getImageData(0, 0, 1, 1).data].slice(0, 3); }"""
    )
    scale = page.evaluate(
        """() => { const c = document.querySelector('.kv-colorbar');
                   return [...c.getContext('2d').getImageData(0, 128, 1, 1).data].slice(0, 3); }"""
    )
    assert max(abs(a - b) for a, b in zip(centre, scale, strict=True)) <= 3, (
        "zero is not the middle of the diverging map"
    )
    screenshot(page, "diff-zero.png", element=page.locator(".kerasviz-viewer"))
    # Unpinned, the reference is the previous step: training moved `dense`, so it is not zero.
    page.click(".kv-pin")
    page.wait_for_function(
        "() => document.querySelector('.kv-heatmap').dataset.diff === 'diff: epoch 1 \u2212 epoch 0'"
    )
    page.wait_for_timeout(200)
    assert canvas_signature(page)["colors"] > 1
    screenshot(page, "diff-previous.png", element=page.locator(".kerasviz-viewer"))
