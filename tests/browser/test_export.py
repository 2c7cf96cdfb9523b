"""An executed notebook exported to HTML (as nbconvert, nbviewer and GitHub show it, without a
kernel or a widget manager) still shows the viewer's static picture, at its last snapshot."""

from __future__ import annotations

import os

import nbformat
import pytest

from tests.browser.lab import ROOT, SCREENSHOTS

pytestmark = pytest.mark.browser

CELLS = [
    """
import numpy as np, keras
from kerasviz_widget import TensorViewer
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.random((64, 8, 8, 1), dtype=np.float32)
y = (x.mean(axis=(1, 2, 3)) * 10).astype(int) % 10
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(4, 3, activation="relu", name="conv2d"),
    keras.layers.Flatten(name="flatten"),
    keras.layers.Dense(10, name="dense"),
])
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
viewer = TensorViewer(model, probe=x[:8])
viewer
""",
    "model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[viewer.callback()]);",
    "repr(viewer)",
]


def test_an_exported_notebook_shows_the_static_picture_offline(tmp_path, page, monkeypatch):
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()

    outputs = nb.cells[0].outputs
    static = [o for o in outputs if "kerasviz-static" in o.get("data", {}).get("text/html", "")]
    widget = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(static) == 1 and len(widget) == 1, [o.get("data", {}).keys() for o in outputs]
    html = static[0]["data"]["text/html"]
    assert "at epoch 2 of 2" in html, "the picture was not refreshed at the end of fit"
    assert len(html.encode()) < 150_000
    # `text/plain` is the one-line repr at display time; the last cell asks for it after the fit.
    assert widget[0]["data"]["text/plain"].startswith("TensorViewer(4 layers, epoch 0, probe")
    assert "TensorViewer(4 layers, epochs 0\u20132" in nb.cells[2].outputs[0]["data"]["text/plain"]

    body, _ = HTMLExporter().from_notebook_node(nb)
    path = tmp_path / "exported.html"
    path.write_text(body, encoding="utf-8")
    print(f"exported page: {len(body) / 1e3:.0f} KB, static picture {len(html) / 1e3:.1f} KB")

    blocked = []

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    picture = page.locator(".kerasviz-static")
    picture.wait_for(state="visible", timeout=20_000)
    for img in (".kerasviz-static-heatmap", ".kerasviz-static-histogram"):
        assert page.locator(img).evaluate("i => i.complete && i.naturalWidth > 0"), img
    names = page.locator(".kerasviz-static-stats tbody td:first-child").all_text_contents()
    assert names == ["input", "conv2d", "flatten", "dense"]
    assert "conv2d at epoch 2 of 2" in picture.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "exported-notebook.png"), full_page=True)
