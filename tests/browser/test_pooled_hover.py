"""Hover over a pooled map in a real JupyterLab: the hover line names the exact block of
`viewer.values(layer)` that a display pixel averages, for a pooling factor that is not a power of
two (a 100 x 100 probe shown in at most 2000 values is pooled by 3, into 34 x 34)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.lab import canvas_signature, screenshot

pytestmark = pytest.mark.browser

SETUP = """
import numpy as np, keras
from kerasviz_widget import TensorViewer
keras.utils.set_random_seed(0)
probe = (np.arange(100 * 100) % 97).reshape(1, 100, 100, 1).astype("float32")
model = keras.Sequential([
    keras.Input((100, 100, 1)),
    keras.layers.Conv2D(1, 1, name="conv"),
])
viewer = TensorViewer(model, probe=probe, max_values=2000)
print("KV_" + "READY")
viewer
"""


def probe() -> np.ndarray:
    """The notebook's probe, computed here too: the oracle the hover is checked against."""
    return (np.arange(100 * 100) % 97).reshape(1, 100, 100, 1).astype(np.float32)


def hover_pixel(page, x: int, y: int) -> dict:
    box = page.locator(".kv-heatmap").bounding_box()
    width = canvas_signature(page)["width"]
    height = canvas_signature(page)["height"]
    page.mouse.move(
        box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height
    )
    page.wait_for_function(
        "i => document.querySelector('.kv-hover').dataset.index === i",
        arg=f"[0,{3 * y},{3 * x},0]",
        timeout=5_000,
    )
    hover = page.locator(".kv-hover")
    return {"text": hover.text_content(), "value": float(hover.get_attribute("data-value"))}


def test_hover_over_a_map_pooled_by_three_names_the_exact_block(notebook, page):
    notebook(page, "pooled.ipynb", [SETUP], until="KV_READY")
    page.locator(".kv-layer").select_option("input")
    page.wait_for_function("() => document.querySelector('.kv-heatmap').dataset.layer === 'input'")
    signature = canvas_signature(page)
    assert (signature["width"], signature["height"]) == (34, 34)
    values = probe()

    inside = hover_pixel(page, 15, 10)
    assert "values(…)[0, 30:33, 45:48, 0] = " in inside["text"], inside["text"]
    assert "(pooled mean, float16)" in inside["text"]
    assert "y 30–32, x 45–47" in inside["text"]
    assert inside["value"] == float(
        np.float16(values[0, 30:33, 45:48, 0].astype(np.float64).mean())
    )
    screenshot(page, "pooled-hover.png", element=page.locator(".kerasviz-viewer"))

    edge = hover_pixel(page, 33, 33)  # the ragged last block: row and column 99 alone
    assert "values(…)[0, 99, 99, 0] = " in edge["text"], edge["text"]
    assert edge["value"] == float(values[0, 99, 99, 0])
