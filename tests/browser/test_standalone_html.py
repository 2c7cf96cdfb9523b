"""The standalone page of `viewer.save_html`, opened offline in headless Chromium."""

from __future__ import annotations

import base64
import json
import zlib

import keras
import numpy as np
import pytest

from kerasviz_widget import TensorViewer
from tests.browser.lab import SCREENSHOTS, set_range

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


def canvas_pixels(page, selector="canvas.kv-heatmap"):
    """A canvas's pixels as a list of RGBA tuples (read through a copy made for reading, so
    that the page's own canvases log no read-back warning)."""
    flat = page.evaluate(
        """sel => {
        const c = document.querySelector(sel);
        const copy = document.createElement("canvas");
        copy.width = c.width;
        copy.height = c.height;
        const ctx = copy.getContext("2d", { willReadFrequently: true });
        ctx.drawImage(c, 0, 0);
        return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
    }""",
        selector,
    )
    return [tuple(flat[i : i + 4]) for i in range(0, len(flat), 4)]


def drawn(pixels) -> int:
    """How many pixels are painted (not transparent)."""
    return sum(1 for p in pixels if p[3] > 0)


def open_offline(page, path):
    """Open the page with every request but `file:` aborted; returns (requests, console)."""
    requests, console = [], []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    page.wait_for_function("document.querySelector('canvas.kv-hist').dataset.epoch === '2'")
    return requests, console


def test_save_html_is_the_whole_viewer_offline(viewer, tmp_path, page):
    viewer.widget.colormap = "magma"
    viewer.widget.log_y = True
    path = tmp_path / "run.html"
    viewer.save_html(path)
    viewer.widget.colormap = "auto"
    viewer.widget.log_y = False
    requests, console = open_offline(page, path)

    options = page.eval_on_selector_all("select.kv-layer option", "o => o.map(e => e.value)")
    assert options == viewer.layers
    # Every control is populated from the saved state; what needs a kernel is not shown.
    assert page.input_value("select.kv-colormap") == "magma"
    assert page.input_value("select.kv-range") == "layer"
    assert page.is_checked("input.kv-log-y")
    assert page.locator("input.kv-follow").is_hidden()
    assert page.locator("input.kv-ridge").is_visible()

    latest = {sel: canvas_pixels(page, sel) for sel in ("canvas.kv-heatmap", "canvas.kv-hist")}
    latest["canvas.kv-timeline"] = canvas_pixels(page, "canvas.kv-timeline")
    assert len(set(latest["canvas.kv-heatmap"])) > 1, "the heatmap is blank (one colour)"
    for sel in ("canvas.kv-hist", "canvas.kv-timeline"):
        assert drawn(latest[sel]) > 200, f"{sel} is blank"
    page.screenshot(path=str(SCREENSHOTS / "offline-page.png"), full_page=True)

    set_range(page, "input.kv-epoch", 0)
    page.wait_for_function("document.querySelector('canvas.kv-hist').dataset.epoch === '0'")
    page.wait_for_function("document.querySelector('canvas.kv-timeline').dataset.epoch === '0'")
    for sel, pixels in latest.items():
        assert canvas_pixels(page, sel) != pixels, f"scrubbing to epoch 0 did not redraw {sel}"

    # The timeline answers a click on a step; the ridge view draws every step.
    points = page.evaluate(
        "JSON.parse(document.querySelector('canvas.kv-timeline').dataset.points)"
    )
    epoch, x, y = points[1]
    page.locator("canvas.kv-timeline").click(position={"x": x, "y": y})
    page.wait_for_function(
        "e => document.querySelector('canvas.kv-heatmap').dataset.epoch === e", arg=str(epoch)
    )
    page.check("input.kv-ridge")
    page.wait_for_function("document.querySelector('canvas.kv-hist').dataset.view === 'ridge'")
    assert page.get_attribute("canvas.kv-hist", "data-rows") == "3"
    page.screenshot(path=str(SCREENSHOTS / "offline-page-ridge.png"), full_page=True)

    assert requests == [], f"the page tried the network: {requests}"
    assert console == [], f"the console is not quiet: {console}"


def test_the_page_holds_display_arrays_and_histograms_only_compressed(viewer, tmp_path):
    path = tmp_path / "run.html"
    viewer.save_html(path)
    text = path.read_text()
    data = json.loads(text.split('id="kerasviz-data">', 1)[1].split("</script>", 1)[0])
    blob = base64.b64decode(data["blob"])
    raw = zlib.decompress(blob)
    snaps = list(viewer._history.snapshots())
    assert len(raw) == sum(2 * s.display.size + 4 * s.counts.size for s in snaps)
    assert len(blob) < len(raw), "the arrays are stored compressed"
    assert len(text) < len(data["bundle"]) + len(data["blob"]) + 30_000
