"""The widget in a real JupyterLab, driven by headless Chromium."""

from __future__ import annotations

import json

import pytest

from tests.browser.lab import SCREENSHOTS, canvas_signature, screenshot, set_range

pytestmark = pytest.mark.browser

SETUP = """
import numpy as np, keras
from kerasviz_widget import TensorViewer
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.random((128, 8, 8, 1), dtype=np.float32)
y = (x.mean(axis=(1, 2, 3)) * 10).astype(int) % 10
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(4, 3, activation="relu", name="conv2d"),
    keras.layers.Flatten(name="flatten"),
    keras.layers.Dense(10, activation="softmax", name="dense"),
])
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
viewer = TensorViewer(model, probe=x[:8])
viewer
"""

FIT = """
model.fit(x, y, epochs=3, batch_size=32, callbacks=[viewer.callback()], verbose=0)
print("KV_" + "DONE", viewer.epochs)
"""


def test_live_fit_heatmap_histogram_and_slider(notebook, page):
    notebook(page, "skeleton.ipynb", [SETUP, FIT], until="KV_DONE [0, 1, 2, 3]")
    page.wait_for_function(
        "() => document.querySelector('.kv-heatmap')?.dataset.epoch === '3'", timeout=30_000
    )

    options = page.locator(".kv-layer option").all_text_contents()
    assert [o.split()[0] for o in options] == ["input", "conv2d", "flatten", "dense"]
    assert "(None, 6, 6, 4)" in options[1]

    # The static picture (for nbconvert and GitHub) is in the output, hidden by the live view.
    assert page.locator(".kerasviz-static").count() == 1
    assert page.locator(".kerasviz-static").is_hidden()
    page.screenshot(path=str(SCREENSHOTS / "lab-notebook.png"), full_page=True)

    latest = canvas_signature(page)
    assert latest["layer"] == "conv2d" and latest["epoch"] == "3"
    assert latest["colors"] > 1, "the heatmap is blank"

    hist = page.locator("canvas.kv-hist")
    page.wait_for_function("() => document.querySelector('canvas.kv-hist')?.dataset.epoch === '3'")
    heights = json.loads(hist.get_attribute("data-heights"))
    assert 2 <= len(heights) <= 64, "the histogram has no bars (one per non-empty bin of 64)"
    assert page.locator("canvas.kv-timeline").get_attribute("data-epoch") == "3"
    screenshot(page, "screenshot.png", element=page.locator(".kerasviz-viewer"), docs=True)

    page.check(".kv-log-y")
    page.wait_for_function("() => document.querySelector('canvas.kv-hist').dataset.logY === 'true'")
    log_heights = json.loads(hist.get_attribute("data-heights"))
    assert log_heights != heights, "log-y did not redraw the histogram"
    # On a log scale the small bins grow relative to the tallest one.
    small = min(h for h in heights if h > 0) / max(heights)
    assert min(h for h in log_heights if h > 0) / max(log_heights) > small
    page.uncheck(".kv-log-y")

    set_range(page, ".kv-epoch", 0)
    page.wait_for_function("() => document.querySelector('.kv-heatmap').dataset.epoch === '0'")
    first = canvas_signature(page)
    assert first["hash"] != latest["hash"], "epoch 0 and epoch 3 draw the same pixels"
    assert page.locator(".kv-epoch-label").text_content().startswith("epoch 0")

    page.select_option(".kv-layer", "dense")
    page.wait_for_function("() => document.querySelector('.kv-heatmap').dataset.layer === 'dense'")
    dense = canvas_signature(page)
    assert (dense["width"], dense["height"]) == (10, 8)  # units x samples
    screenshot(page, "skeleton-dense-epoch0.png", element=page.locator(".kerasviz-viewer"))
