"""The viewer in a marimo app (`marimo run`), opened in headless Chromium: anywidget renders it
there (inside a shadow root, which Playwright's CSS locators pierce)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser.lab import ROOT, SCREENSHOTS

pytestmark = pytest.mark.browser

APP = """
import marimo

app = marimo.App()


@app.cell
def _():
    import keras
    import numpy as np
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
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    viewer = TensorViewer(model, probe=x[:8])
    viewer
    return model, viewer, x, y


@app.cell
def _():
    import marimo as mo

    train = mo.ui.run_button(label="train")
    train
    return mo, train


@app.cell
def _(mo, model, train, viewer, x, y):
    mo.stop(not train.value)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[viewer.callback()])
    fitted = viewer.epochs
    fitted
    return (fitted,)


if __name__ == "__main__":
    app.run()
"""

PIXELS = """c => {
    const copy = document.createElement("canvas");
    copy.width = c.width;
    copy.height = c.height;
    const ctx = copy.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(c, 0, 0);
    return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def marimo_app(tmp_path):
    """`marimo run` of the app on 127.0.0.1 and a free port (its "train" button runs the fit);
    the server is killed at the end."""
    pytest.importorskip("marimo")
    app = tmp_path / "app.py"
    app.write_text(APP)
    port = _free_port()
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    cmd = [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-token", "--no-sandbox", "--no-check"]
    log = open(tmp_path / "marimo.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("marimo did not start:\n" + (tmp_path / "marimo.log").read_text())
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_the_viewer_draws_in_marimo_and_follows_a_fit(marimo_app, page):
    page.goto(marimo_app)
    heatmap = page.locator("canvas.kv-heatmap")
    heatmap.wait_for(state="attached", timeout=120_000)
    deadline = time.monotonic() + 60
    while heatmap.get_attribute("data-epoch") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    first_epoch = heatmap.get_attribute("data-epoch")
    assert first_epoch == "0", f"the first view should show epoch 0, not {first_epoch}"
    first = heatmap.evaluate(PIXELS)
    assert len({tuple(first[i : i + 4]) for i in range(0, len(first), 4)}) > 1, "blank heatmap"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "marimo-epoch0.png"), full_page=True)
    page.get_by_role("button", name="train").click()  # now the fit cell trains

    deadline = time.monotonic() + 180
    while heatmap.get_attribute("data-epoch") != "2":
        assert time.monotonic() < deadline, "the fit's steps did not reach the page"
        time.sleep(0.3)
    time.sleep(0.3)
    assert heatmap.evaluate(PIXELS) != first, "the heatmap did not change after the fit"
    assert page.locator("canvas.kv-timeline").get_attribute("data-epoch") == "2"
    page.screenshot(path=str(SCREENSHOTS / "marimo-after-fit.png"), full_page=True)
