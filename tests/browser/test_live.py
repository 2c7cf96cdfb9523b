"""Live training in a real JupyterLab: the widget refreshes while `fit` runs, and scrubbing, layer
switching and hover are answered in the browser while the kernel is busy."""

from __future__ import annotations

import pytest

from tests.browser.lab import CANVAS_SIGNATURE, kernel_busy, screenshot, wait_for_text

pytestmark = pytest.mark.browser

SETUP = """
import time
import numpy as np, keras
from kerasviz_widget import TensorViewer
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.random((256, 8, 8, 1), dtype=np.float32)
y = (x.mean(axis=(1, 2, 3)) * 10).astype(int) % 10
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(4, 3, activation="relu", name="conv2d"),
    keras.layers.Flatten(name="flatten"),
    keras.layers.Dense(10, activation="softmax", name="dense"),
])
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")

class Pace(keras.callbacks.Callback):
    # A tiny model trains in milliseconds: pace it so that fit lasts about 20 seconds.
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.12)

viewer = TensorViewer(model, probe=x[:8])
viewer
"""

EPOCHS = 10
FIT = f"""
model.fit(x, y, epochs={EPOCHS}, batch_size=16,
          callbacks=[Pace(), viewer.callback(every_n_batches=4)], verbose=0)
print("KV_" + "DONE", viewer.epochs[-1], "steps", len(viewer.epochs))
"""

# Change a control as a user would and time, in the page, how long until the canvas shows it:
# performance.now() before the input event, then a check in every animation frame. The
# widget's own redraw frame is requested first, so it runs before the check in the same frame.
TIMED_INPUT = (
    """async ([selector, eventName, value, key, expected]) => {
    const signature = """
    + CANVAS_SIGNATURE
    + """;
    const canvas = document.querySelector('.kv-heatmap');
    const before = signature('.kv-heatmap').hash;
    const control = document.querySelector(selector);
    const t0 = performance.now();
    control.value = String(value);
    control.dispatchEvent(new Event(eventName, {bubbles: true}));
    return await new Promise((resolve) => {
        const check = () => {
            const ms = performance.now() - t0;
            if (canvas.dataset[key] === expected) {
                resolve({ms, changed: signature('.kv-heatmap').hash !== before});
            } else if (ms > 5000) {
                resolve({ms, changed: false, shown: canvas.dataset[key]});
            } else {
                requestAnimationFrame(check);
            }
        };
        requestAnimationFrame(check);
    });
}"""
)


def run_cell(page, index: int) -> None:
    page.evaluate(
        """i => {
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = i;
            // Not awaited: the command's promise settles only when the cell has finished.
            window.jupyterapp.commands.execute('notebook:run-cell');
        }""",
        index,
    )


def heatmap_epoch(page) -> float:
    return float(page.evaluate("() => document.querySelector('.kv-heatmap').dataset.epoch"))


def test_scrub_switch_layer_and_hover_while_fit_runs_then_follow_live(notebook, page):
    notebook(page, "live.ipynb", [SETUP, FIT], run=False)
    run_cell(page, 0)
    page.wait_for_function("() => document.querySelector('.kv-heatmap')?.dataset.epoch === '0'")
    run_cell(page, 1)
    # Live refresh: fractional steps arrive while the cell runs.
    page.wait_for_function(
        "() => Number(document.querySelector('.kv-heatmap')?.dataset.epoch) >= 0.5",
        timeout=180_000,
    )
    assert kernel_busy(page), "fit ended before the test could interact with it"

    switched = page.evaluate(TIMED_INPUT, [".kv-layer", "change", "dense", "layer", "dense"])
    assert switched["changed"], f"the canvas did not redraw for the new layer: {switched}"
    # Answered in the page: the kernel is busy with `fit` and cannot have replied. (How fast is
    # bench/render.py's question, not a test's: a loaded machine is no regression.)
    assert kernel_busy(page), "fit ended before the layer switch could be checked"

    scrubbed = page.evaluate(TIMED_INPUT, [".kv-epoch", "input", 0, "epoch", "0"])
    assert scrubbed["changed"], f"the canvas did not redraw at epoch 0: {scrubbed}"
    assert kernel_busy(page), "fit ended before the scrub could be checked"
    print(
        f"during fit: layer switch redrawn in {switched['ms']:.1f} ms, "
        f"scrub in {scrubbed['ms']:.1f} ms (in the page)"
    )

    box = page.locator(".kv-heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => document.querySelector('.kv-hover').textContent.includes('(float16 display')",
        timeout=5_000,
    )
    screenshot(page, "live-scrubbed-during-fit.png", element=page.locator(".kerasviz-viewer"))
    assert kernel_busy(page), (
        "the cell should be running after the interactions:\n"
        + (page.locator(".jp-Notebook").inner_text()[-600:])
    )
    assert "KV_DONE" not in page.locator(".jp-Notebook").inner_text()
    assert page.locator(".kv-status").text_content().startswith("recording while training")

    # Scrubbed back, the view stays put while steps keep arriving ...
    steps_before = page.evaluate("() => Number(document.querySelector('.kv-epoch').max)")
    page.wait_for_function(
        "n => Number(document.querySelector('.kv-epoch').max) > n", arg=steps_before
    )
    assert heatmap_epoch(page) == 0
    # ... and back on the newest step it follows live again.
    page.evaluate(
        """() => {
            const r = document.querySelector('.kv-epoch');
            r.value = r.max;
            r.dispatchEvent(new Event('input', {bubbles: true}));
        }"""
    )
    wait_for_text(page, f"KV_DONE {EPOCHS}", timeout=240_000)
    page.wait_for_function(
        f"() => document.querySelector('.kv-heatmap').dataset.epoch === '{EPOCHS}'",
        timeout=10_000,
    )
    assert page.locator(".kv-epoch-label").text_content().startswith(f"epoch {EPOCHS}")
    text = page.locator(".jp-Notebook").inner_text()
    kept = int(text.split(f"KV_DONE {EPOCHS} steps ")[1].split()[0])
    assert kept > EPOCHS + 1, "no per-batch step was recorded"
    shown = page.evaluate("() => Number(document.querySelector('.kv-epoch').max) + 1")
    assert shown == kept, "the front-end should hold every step the kernel recorded"
