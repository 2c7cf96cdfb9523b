"""The offline page of a run whose loss went NaN opens in a browser, without a page error."""

from __future__ import annotations

import numpy as np
import pytest

from kerasviz_widget import TensorViewer
from tests.adversarial import support
from tests.browser.lab import SCREENSHOTS

pytestmark = pytest.mark.browser


@pytest.mark.timeout(120)
def test_the_offline_page_of_a_nan_run_opens_in_a_browser(tmp_path, page):
    model = support.tiny()
    x, y = support.tiny_data()
    y = y.copy()
    y[5] = np.nan  # a NaN target: the loss is NaN from the first batch, so are the weights
    viewer = TensorViewer(model, x[:4])
    model.fit(
        x, y, epochs=2, batch_size=8, verbose=0, callbacks=[viewer.callback(every_n_batches=2)]
    )
    assert viewer.stats("out")["nan_count"] == 4, "the run did not go NaN"
    viewer.save_html(tmp_path / "nan.html")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("http*://**", lambda route: route.abort())
    page.goto((tmp_path / "nan.html").as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    options = page.eval_on_selector_all("select.kv-layer option", "o => o.map(e => e.value)")
    assert options == viewer.layers
    # The NaN layer's histogram has nothing to draw, and says why, in Python's words.
    page.select_option("select.kv-layer", "out")
    page.wait_for_function("() => document.querySelector('canvas.kv-hist').dataset.layer === 'out'")
    hist = page.locator("canvas.kv-hist")
    assert hist.get_attribute("data-note") == "no finite value: 4 NaN"
    assert hist.get_attribute("data-bars") == "0"
    assert hist.get_attribute("aria-label").endswith("; no finite value: 4 NaN")
    # Its heatmap is all NaN, and the key under the colour bar names the NaN colour.
    heatmap = page.locator("canvas.kv-heatmap")
    page.wait_for_function(
        "() => document.querySelector('canvas.kv-heatmap').dataset.layer === 'out'"
    )
    assert int(heatmap.get_attribute("data-nan")) == viewer.values("out").size
    assert page.locator(".kv-key-nan").is_visible()
    assert not page.locator(".kv-key-posinf").is_visible()
    assert heatmap.get_attribute("aria-label").endswith(f"; cells {viewer.values('out').size} NaN")
    page.screenshot(path=str(SCREENSHOTS / "nan-histogram-note.png"), full_page=True)
    # The probe holds no NaN: its heatmap draws none, and the key is hidden (keeping its room).
    first = viewer.layers[0]
    assert viewer.stats(first)["nan_count"] == 0
    page.select_option("select.kv-layer", first)
    page.wait_for_function(
        f"() => document.querySelector('canvas.kv-heatmap').dataset.layer === {first!r}"
    )
    assert heatmap.get_attribute("data-nan") == "0"
    assert not page.locator(".kv-key").is_visible()
    assert errors == []
