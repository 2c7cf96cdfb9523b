"""The standalone page of `viewer.save_html`, opened offline in headless Chromium."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasviz_widget import TensorViewer
from tests.browser.lab import set_range

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def viewer():
    """A viewer after two epochs of `fit`: steps 0, 1 and 2."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 1), dtype=np.float32)
    y = rng.random((32, 3), dtype=np.float32)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="dense"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    viewer = TensorViewer(model, probe=x[:4])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[viewer.callback()])
    return viewer


def canvas_pixels(page):
    """The heatmap's pixels as a list of RGBA tuples."""
    flat = page.evaluate(
        """() => {
        const c = document.querySelector("canvas.kv-heatmap");
        return Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data);
    }"""
    )
    return [tuple(flat[i : i + 4]) for i in range(0, len(flat), 4)]


def test_save_html_opens_offline_and_scrubs_epochs(viewer, tmp_path, page):
    path = tmp_path / "run.html"
    viewer.save_html(path)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("http*://**", lambda route: route.abort())  # offline
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    options = page.eval_on_selector_all("select.kv-layer option", "o => o.map(e => e.value)")
    assert options == viewer.layers
    page.wait_for_function("document.querySelector('canvas.kv-heatmap').width > 0")
    page.wait_for_timeout(100)
    latest = canvas_pixels(page)
    assert len(set(latest)) > 1, "the heatmap is blank (one colour)"
    page.screenshot(path=str(tmp_path / "latest.png"), full_page=True)
    set_range(page, "input.kv-epoch", 0)
    page.wait_for_function("document.querySelector('canvas.kv-heatmap').dataset.epoch === '0'")
    first = canvas_pixels(page)
    page.screenshot(path=str(tmp_path / "epoch0.png"), full_page=True)
    assert len(set(first)) > 1, "the heatmap of epoch 0 is blank (one colour)"
    assert first != latest, "scrubbing to epoch 0 did not change the pixels"
    assert errors == []
