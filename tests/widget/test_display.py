"""How a viewer displays: through its anywidget, with a one-line repr, a static picture beside it,
and a first view that shows structure."""

from __future__ import annotations

import json
import re

import keras
import pytest

from kerasviz_widget import TensorViewer
from kerasviz_widget.core.reduce import default_channel
from kerasviz_widget.io import protocol
from kerasviz_widget.widget import canvas as canvas_module
from kerasviz_widget.widget import static as static_module
from kerasviz_widget.widget.canvas import Canvas


def quickstart_model() -> keras.Model:
    """The quickstart notebook's model (digits, 8 x 8 x 1)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(32, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="probs"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_digits()
    x = (d.images / 16.0).astype("float32")[..., None]
    return x, d.target


@pytest.fixture(scope="module")
def viewer(digits):
    x, y = digits
    model = quickstart_model()
    viewer = TensorViewer(model, probe=x[1500:1516])
    model.fit(x[:256], y[:256], epochs=2, batch_size=64, verbose=0, callbacks=[viewer.callback()])
    return viewer


def test_the_viewer_is_no_widget_but_displays_through_its_anywidget(viewer):
    assert isinstance(viewer.widget, Canvas)
    assert not hasattr(viewer, "children"), "the viewer is no container widget any more"
    bundle = viewer._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle  # (data, metadata) or data
    view = data["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == viewer.widget.model_id
    assert data["text/plain"] == repr(viewer)


def test_the_front_end_redraws_on_the_view_traits_python_sends(viewer, tmp_path):
    # The front-end takes the traits whose change redraws a view from the model
    # (`_view_traits`), in the notebook and on a saved page alike; it keeps no list of its own.
    names = list(protocol.VIEW_TRAITS)
    assert viewer.widget._view_traits == names
    synced = set(viewer.widget.traits(sync=True))
    assert "_view_traits" in synced and set(names) <= synced
    path = tmp_path / "page.html"
    viewer.save_html(path)
    text = path.read_text(encoding="utf-8")
    assert '"view_traits":' + json.dumps(names, separators=(",", ":")) in text
    assert "_view_traits: data.view_traits" in text
    assert '"_view_traits"' in (canvas_module._STATIC / "widget.js").read_text(encoding="utf-8")


def test_repr_is_one_line_that_says_what_is_kept(viewer):
    text = repr(viewer)
    assert "\n" not in text and len(text) < 120, text
    assert re.fullmatch(
        r"TensorViewer\(7 layers, epochs 0\u20132, probe \(16, 8, 8, 1\), [\d.]+ MB kept\)", text
    ), text
    mb = float(text.split(", ")[-1].split()[0])
    assert mb == pytest.approx(viewer._history.nbytes / 1e6, rel=0.05)


def test_the_first_view_shows_the_channel_with_the_widest_spread(digits):
    # At epoch 0, under the default colour range (the layer over every step), the channel a new
    # view shows spans at least half of the colour scale; channel 0 of conv1 spans much less.
    x, _ = digits
    viewer = TensorViewer(quickstart_model(), probe=x[1500:1516])
    for layer in ("conv1", "conv2"):
        snap = viewer._history.snapshot(layer, 0)
        channel = static_module._channel(viewer._history, viewer.widget, layer)
        assert channel == default_channel(snap.display, snap.layout)
        values = viewer.values(layer, 0)
        lo, hi = viewer.stats(layer, 0)["min"], viewer.stats(layer, 0)["max"]
        shown = values[0, ..., channel]  # sample 0, as the heatmap shows it
        span = (shown.max() - shown.min()) / (hi - lo)
        print(f"{layer}: channel {channel} spans {span:.0%} of the colour scale")
        assert span >= 0.5, (layer, channel, span)
    first = viewer.values("conv1", 0)[0, ..., 0]
    lo, hi = viewer.stats("conv1", 0)["min"], viewer.stats("conv1", 0)["max"]
    print(f"conv1: channel 0 spans {(first.max() - first.min()) / (hi - lo):.0%}")


def test_the_static_picture_shows_the_layer_on_display_and_every_layer_statistics(viewer):
    viewer.layer = "conv2"
    html = static_module.picture(viewer._history, viewer.widget, viewer._source.catalog())
    assert len(html.encode()) < 150_000, len(html)
    assert f'data-kv-viewer="{viewer.widget._viewer_id}"' in html
    assert html.count('<img class="kerasviz-static-heatmap"') == 1
    assert html.count('<img class="kerasviz-static-histogram"') == 1
    assert "<code>conv2</code> at epoch 2 of 2" in html
    for layer in viewer.layers:
        assert f">{layer}</td>" in html
    assert "<script" not in html
    viewer.layer = "conv1"


class FakeShell:
    """Enough of IPython's kernel shell for `StaticOutput`: a kernel, and the events."""

    def __init__(self):
        self.kernel = object()
        self.hooks: list = []
        self.events = self

    def register(self, name, fn):
        self.hooks.append(fn)

    def unregister(self, name, fn):
        self.hooks.remove(fn)


def test_the_static_picture_is_an_output_of_its_own_refreshed_after_fit_and_cells(
    digits, monkeypatch
):
    import IPython.display

    shell = FakeShell()
    published = []
    monkeypatch.setattr(static_module, "_kernel_shell", lambda: shell)
    monkeypatch.setattr(
        IPython.display, "display", lambda obj, display_id: published.append(("new", display_id))
    )
    monkeypatch.setattr(
        IPython.display,
        "update_display",
        lambda obj, display_id: published.append(("update", display_id, obj.data)),
    )
    x, y = digits
    model = quickstart_model()
    viewer = TensorViewer(model, probe=x[1500:1504])
    viewer._repr_mimebundle_()
    display_id = f"kerasviz-static-{viewer.widget._viewer_id}"
    assert published == [("new", display_id)]
    assert len(shell.hooks) == 1
    shell.hooks[0]()  # a cell ends with nothing changed: nothing to update
    assert len(published) == 1
    model.fit(x[:64], y[:64], epochs=1, verbose=0, callbacks=[viewer.callback()])
    assert published[-1][:2] == ("update", display_id), "fit's end refreshes the picture"
    assert "at epoch 1 of 1" in published[-1][2]
    viewer.layer = "probs"
    shell.hooks[0]()
    assert "<code>probs</code>" in published[-1][2], "a cell that changed the view refreshes it"
    viewer.close()
    assert shell.hooks == []


def test_outside_a_kernel_no_static_output_is_published(viewer, monkeypatch):
    import IPython.display

    published = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: published.append(a))
    viewer._repr_mimebundle_()
    assert published == []
