"""The static HTML picture: PNG encoding, colours shared with the front-end, escaping, size."""

from __future__ import annotations

import base64
import html.parser
import json
import math
import pathlib
import re
import struct
import zlib

import numpy as np
import pytest

from kerasviz_widget.core.reduce import reduce_array
from kerasviz_widget.io import colormaps, png, static_view
from kerasviz_widget.io.static_view import ViewState

FIXTURE = pathlib.Path(__file__).parents[2] / "js" / "test" / "fixtures" / "static_view.json"


# ------------------------------------------------------------------------------ a PNG reader


def decode_png(data: bytes) -> np.ndarray:
    """An independent PNG reader (8-bit palette, RGB and RGBA; all five row filters) -> RGBA."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"CRC of {kind}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and interlace == 0
    channels = {3: 1, 2: 3, 6: 4}[color]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = w * channels
    rows = np.zeros((h, stride), dtype=np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        prev = rows[y - 1] if y else np.zeros(stride, np.int32)
        out = np.zeros(stride, np.int32)
        for i in range(stride):
            a = out[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 0:
                pred = 0
            elif f == 1:
                pred = a
            elif f == 2:
                pred = b
            elif f == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[i] = (line[i] + pred) & 255
        rows[y] = out
    pixels = rows.astype(np.uint8).reshape(h, w, channels)
    if color == 6:
        return pixels
    if color == 2:
        return np.concatenate([pixels, np.full((h, w, 1), 255, np.uint8)], axis=2)
    palette = np.frombuffer(dict(chunks)[b"PLTE"], np.uint8).reshape(-1, 3)
    alpha = np.full(len(palette), 255, np.uint8)
    trns = dict(chunks).get(b"tRNS", b"")
    alpha[: len(trns)] = np.frombuffer(trns, np.uint8)
    table = np.concatenate([palette, alpha[:, None]], axis=1)
    return table[pixels[..., 0]]


def images(page: str) -> dict[str, np.ndarray]:
    """Every inline PNG of a static picture, by its class, decoded."""
    found = {}
    for cls, uri in re.findall(
        r'<img class="([^"]+)"[^>]*src="data:image/png;base64,([^"]+)"', page
    ):
        found[cls] = decode_png(base64.b64decode(uri))
    return found


# ------------------------------------------------------------------------------ PNG


def test_png_palette_image_round_trips_with_transparency():
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (200, 4), dtype=np.uint8)
    colors[:20, 3] = 0
    rgba = colors[rng.integers(0, 200, (37, 53))]
    data = png.encode(rgba)
    assert data[25] == 3, "colour type: palette"
    np.testing.assert_array_equal(decode_png(data), rgba)


def test_png_with_many_colours_is_rgba_and_round_trips():
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (19, 31, 4), dtype=np.uint8)
    data = png.encode(rgba)
    assert data[25] == 6, "colour type: RGBA"
    np.testing.assert_array_equal(decode_png(data), rgba)


def test_png_rejects_what_is_not_an_rgba_image():
    with pytest.raises(ValueError, match=r"shape \(4, 4, 3\).*\(height, width, 4\) uint8"):
        png.encode(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype float64"):
        png.encode(np.zeros((4, 4, 4)))


# ------------------------------------------------------------------------------ colours


def test_colour_tables_are_the_anchors_interpolated():
    doc = json.loads(colormaps.TABLES_PATH.read_text())
    assert colormaps.colormaps() == ("viridis", "magma", "gray", "diverging")
    for name, entry in doc["maps"].items():
        rgb = [[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in entry["anchors"]]
        expected = []
        for i in range(256):
            t = i / 255 * (len(rgb) - 1)
            k = min(math.floor(t), len(rgb) - 2)
            f = t - k
            expected.append(
                [math.floor(rgb[k][c] * (1 - f) + rgb[k + 1][c] * f + 0.5) for c in range(3)]
            )
        np.testing.assert_array_equal(colormaps.lut(name), np.array(expected), err_msg=name)
    with pytest.raises(ValueError, match="Unknown colour map 'jet'; pass one of viridis"):
        colormaps.lut("jet")


def test_scales_follow_the_front_end_rules():
    assert colormaps.choose_scale(-2, 5) == ("diverging", -5, 5)
    assert colormaps.choose_scale(0, 5) == ("viridis", 0, 5)
    assert colormaps.choose_scale(3, 3) == ("viridis", 2.5, 3.5)
    assert colormaps.choose_scale(-2, 5, "magma") == ("magma", -2, 5)
    assert colormaps.resolve_scale("map", "auto", (-10, 20), (1, 4)) == ("viridis", 1, 4)
    assert colormaps.resolve_scale("fixed", "auto", (-10, 20), (1, 4), (-1, 3)) == (
        "diverging",
        -1,
        3,
    )
    assert colormaps.resolve_scale("fixed", "auto", (-10, 20), (1, 4), (3, 3)) == (
        "diverging",
        -20,
        20,
    )


def test_levels_clip_and_mark_nan():
    v = np.array([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, np.inf, np.nan])
    np.testing.assert_array_equal(colormaps.levels(v, 0.0, 1.0), [0, 0, 0, 128, 255, 255, 255, 256])
    assert (
        tuple(colormaps.colorize(np.array([256]), "gray")[0])
        == colormaps.nan_rgb()
        == (255, 0, 255)
    )


# ------------------------------------------------------------------------------ heatmap


def conv_snapshot(layer: str = "conv2d", seed: int = 0):
    rng = np.random.default_rng(seed)
    array = rng.normal(size=(2, 6, 5, 3)).astype(np.float32)
    array[1, :, :, 2] = np.arange(30, dtype=np.float32).reshape(6, 5) / 10  # 0.0 .. 2.9
    return reduce_array(layer, array, epoch=3)


def test_heatmap_is_the_chosen_sample_and_channel_in_the_front_end_colours():
    snap = conv_snapshot()
    state = ViewState(sample=1, channel=2, colormap="gray", range_mode="map")
    page = static_view.render(snap, [(snap.layer, snap.stats)], state=state)
    heat = images(page)["kerasviz-static-heatmap"]
    assert heat.shape == (6, 5, 4)
    values = snap.display[1, :, :, 2].astype(np.float64)
    lo, hi = values.min(), values.max()
    level = np.floor((values - lo) * 255 / (hi - lo) + 0.5).astype(int)
    np.testing.assert_array_equal(heat[..., :3], colormaps.lut("gray")[level])
    assert (heat[..., 3] == 255).all()
    assert "gray, 0 to 2.9" in page


def test_signed_layer_range_uses_the_diverging_map_centred_on_zero():
    snap = conv_snapshot()
    rgba, scale, _ = static_view.heatmap_rgba(snap.display, snap.layout, ViewState(), (-4.0, 2.0))
    assert scale == ("diverging", -4.0, 4.0)
    zero_level = colormaps.levels(np.array([0.0]), -4.0, 4.0)[0]
    assert zero_level == 128


def test_montage_tiles_every_channel_with_transparent_gaps():
    snap = conv_snapshot()
    rgba, _, _ = static_view.heatmap_rgba(snap.display, snap.layout, ViewState(montage=True))
    # 3 channels: a 2 x 2 grid of 6 x 5 tiles one pixel apart; the fourth tile is empty.
    assert rgba.shape[:2] == (2 * 7 - 1, 2 * 6 - 1)
    assert (rgba[6, :, 3] == 0).all() and (rgba[:, 5, 3] == 0).all()
    assert (rgba[7:, 6:, 3] == 0).all()
    assert (rgba[:6, :5, 3] == 255).all()


def test_bars_rise_from_zero():
    levels = static_view.bar_levels(np.array([1.0, -1.0, np.nan]), -1.0, 1.0)
    assert levels.shape == (static_view.BAR_ROWS, 3 * static_view.BAR_COLUMNS)
    middle = round((static_view.BAR_ROWS - 1) / 2)
    assert (levels[: middle + 1, 0] == 255).all() and (levels[middle + 1 :, 0] == -1).all()
    assert (levels[middle:, 4] == 0).all() and (levels[: middle - 1, 4] == -1).all()
    assert (levels[:, 8] == 256).all()
    assert (levels[:, 3] == -1).all(), "the last column of each sample is a gap"


def test_large_views_are_capped():
    display = np.random.default_rng(2).normal(size=(600, 700)).astype(np.float16)
    rgba, _, _ = static_view.heatmap_rgba(display, "ND", ViewState(), max_px=256)
    assert max(rgba.shape[:2]) <= 256


# ------------------------------------------------------------------------------ histogram


def test_histogram_image_heights_follow_the_counts_or_their_logs():
    counts = np.array([0, 10, 100, 1000], dtype=np.uint32)
    width, height = 40, 50
    lin = static_view.histogram_rgba(counts, size=(width, height))
    heights = [(lin[:, x, 3] > 0).sum() for x in (5, 15, 25, 35)]
    assert heights == [0, 1, 5, 50]
    log = static_view.histogram_rgba(counts, log_y=True, size=(width, height))
    heights = [(log[:, x, 3] > 0).sum() for x in (5, 15, 25, 35)]
    expected = [math.ceil(math.log10(1 + c) / math.log10(1001) * height) for c in counts]
    assert heights == expected
    assert (lin[:, 9, 3] == 0).all(), "a pixel between wide bars"


def test_static_picture_has_the_histogram_and_the_table():
    snap = conv_snapshot()
    rows = [("input", snap.stats), (snap.layer, snap.stats), ("dense", snap.stats)]
    page = static_view.render(snap, rows, epochs=[0, 1, 2, 3], logs={"loss": 0.25})
    imgs = images(page)
    assert imgs["kerasviz-static-histogram"].shape == (72, 256, 4)
    assert "at epoch 3 of 3 · loss 0.25" in page
    assert page.count("<tr") == 1 + 3
    assert (
        '<tr style="font-weight:bold"><td style="padding:1px 8px;text-align:left;font-family:monospace">conv2d'
        in page
    )
    assert f"{100 * snap.stats['zero_fraction']:.1f}%" in page


def test_static_picture_says_what_the_histogram_leaves_out():
    array = np.full((2, 6, 5, 3), np.nan, np.float32)
    snap = reduce_array("conv2d", array, epoch=3)
    page = static_view.render(snap, [(snap.layer, snap.stats)], epochs=[3])
    assert (
        '<div class="kerasviz-static-note" style="font-size:11px">no finite value: 180 NaN</div>'
        in page
    )
    clean = conv_snapshot()
    assert "kerasviz-static-note" not in static_view.render(clean, [(clean.layer, clean.stats)])


def test_static_picture_keys_nan_and_inf_only_where_it_draws_them():
    array = np.random.default_rng(3).normal(size=(2, 6, 5, 3)).astype(np.float32)
    array[1, :2, :2, 0] = np.nan  # sample 1, channel 0 only
    array[1, 5, 4, 0] = np.inf
    array[0, 0, 0, 2] = -np.inf  # sample 0, channel 2 only
    snap = reduce_array("conv2d", array, epoch=1)
    rows = [(snap.layer, snap.stats)]
    rgba, (name, _, _), counts = static_view.heatmap_rgba(
        snap.display, snap.layout, ViewState(sample=1)
    )
    assert counts == {"nan": 4, "posinf": 1, "neginf": 0}
    assert (np.all(rgba[..., :3] == colormaps.nan_rgb(), axis=-1).sum()) == 4
    assert tuple(rgba[5, 4, :3]) == tuple(colormaps.lut(name)[255]), "+inf takes the last colour"
    shown = static_view.render(snap, rows, state=ViewState(sample=1))
    key = re.search(r'<span class="kerasviz-static-key">(.*?)</div>', shown).group(1)
    assert 'background:#ff00ff"></span> NaN' in key and "+inf" in key and "\u2212inf" not in key
    _, (name, _, _), counts = static_view.heatmap_rgba(
        snap.display, snap.layout, ViewState(sample=0, channel=2)
    )
    assert counts == {"nan": 0, "posinf": 0, "neginf": 1}
    low = colormaps.lut(name)[0]
    key = static_view.render(snap, rows, state=ViewState(sample=0, channel=2))
    assert f'background:#{low[0]:02x}{low[1]:02x}{low[2]:02x}"></span> \u2212inf' in key
    for state in (ViewState(sample=0), ViewState(sample=1, channel=1)):
        assert "kerasviz-static-key" not in static_view.render(snap, rows, state=state)


# ------------------------------------------------------------------------------ text


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_text_from_the_model_is_escaped():
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">&'
    snap = conv_snapshot(layer=hostile)
    findings = [
        {"layer": hostile, "epoch": 3, "kind": "dead", "fraction": 0.5, "message": hostile},
    ]
    page = static_view.render(snap, [(hostile, snap.stats)], findings=findings)
    assert "<script" not in page and hostile not in page
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags and "onerror" not in parsed.attrs
    assert parsed.tags.count("img") == 2, "only the two pictures are images"
    assert sum(hostile in t for t in parsed.text) >= 3, "the name reads back as text"


def test_findings_are_listed_and_capped():
    snap = conv_snapshot()
    findings = [
        {"layer": f"l{i}", "epoch": i, "kind": "dead", "fraction": 0.25, "message": "no output"}
        for i in range(15)
    ]
    page = static_view.render(snap, [], findings=findings, max_findings=4)
    assert page.count("<li>") == 5
    assert "<code>l0</code> · epoch 0 · dead (25%): no output" in page
    assert "… and 11 more" in page
    assert "Findings" not in static_view.render(snap, [])


def test_no_snapshot_yet_renders_a_note_and_no_image():
    page = static_view.render(None, [])
    assert "no snapshot recorded yet" in page and "<img" not in page


def test_default_picture_stays_under_150_kb_for_a_large_model():
    # Worst case for compression: a 512 x 512 map of noise, 300 layers, many findings.
    rng = np.random.default_rng(3)
    snap = reduce_array("noise", rng.normal(size=(512, 512)).astype(np.float32), epoch=20)
    rows = [(f"block_{i}/conv2d_{i}", snap.stats) for i in range(300)]
    findings = [
        {"layer": r[0], "epoch": 20, "kind": "saturated", "fraction": 0.9, "message": "x" * 80}
        for r in rows
    ]
    page = static_view.render(snap, rows, epochs=list(range(21)), findings=findings)
    assert len(page.encode()) < 150_000, len(page.encode())
    assert "… and 276 more layers" in page
    assert max(images(page)["kerasviz-static-heatmap"].shape[:2]) <= 256


# ------------------------------------------------------------------------------ front-end fixture


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def fixture_cases() -> dict:
    """Displays, view states and colour settings, with the pixels this module draws for them.

    `js/test/static_view.test.js` draws the same cases with the front-end's code and compares.
    """
    nan, inf = float("nan"), float("inf")
    cases = []

    def add(name, shape, layout, data, state, layer_range):
        display = np.array(data, dtype=np.float16).reshape(shape)
        rgba, scale, nonfinite = static_view.heatmap_rgba(
            display, layout, state, layer_range, max_px=10_000
        )
        cases.append(
            {
                "name": name,
                "display": {"shape": list(shape), "layout": layout},
                "data": [_num(float(v)) for v in display.ravel()],
                "state": {
                    k: getattr(state, k)
                    for k in ("sample", "channel", "slice", "montage", "colormap", "range_mode")
                }
                | {"fixed": [state.range_lo, state.range_hi]},
                "layerRange": list(layer_range),
                "scale": {"name": scale[0], "lo": scale[1], "hi": scale[2]},
                "size": [int(rgba.shape[1]), int(rgba.shape[0])],
                "rgba": rgba.tobytes().hex(),
                "nonfinite": nonfinite,
            }
        )

    ramp = [(-1.5 + 0.125 * i) for i in range(2 * 3 * 4 * 5)]
    add("NHWC layer range", (2, 3, 4, 5), "NHWC", ramp, ViewState(sample=1, channel=3), (-2.0, 6.0))
    add(
        "NHWC map range",
        (2, 3, 4, 5),
        "NHWC",
        ramp,
        ViewState(channel=1, range_mode="map"),
        (-2.0, 6.0),
    )
    add(
        "NHWC montage magma",
        (2, 3, 4, 5),
        "NHWC",
        ramp,
        ViewState(montage=True, colormap="magma"),
        (-2.0, 6.0),
    )
    add(
        "ND fixed with NaN and inf",
        (2, 4),
        "ND",
        [0.0, 0.25, nan, inf, -inf, 1.0, 0.5, 2.0],
        ViewState(range_mode="fixed", range_lo=0.0, range_hi=1.0),
        (0.0, 2.0),
    )
    add("NTD", (2, 3, 2), "NTD", [float(i) for i in range(12)], ViewState(sample=1), (0.0, 11.0))
    add(
        "NDHWC slice",
        (1, 2, 2, 2, 2),
        "NDHWC",
        [float(i) for i in range(16)],
        ViewState(slice=1, channel=1),
        (0.0, 15.0),
    )
    add("bars", (4,), "bars", [0.5, -0.25, 1.0, nan], ViewState(), (-0.25, 1.0))
    add("bars with inf", (4,), "bars", [0.5, -inf, inf, 0.25], ViewState(), (-0.25, 1.0))
    return {
        "about": "Written by tests/io/test_static_view.py (run it as a script to rewrite).",
        "cases": cases,
    }


def test_front_end_fixture_is_what_this_module_draws():
    committed = json.loads(FIXTURE.read_text())
    assert committed == json.loads(json.dumps(fixture_cases())), (
        "js/test/fixtures/static_view.json is stale: rewrite it with "
        "`python -m tests.io.test_static_view`, then run the JS tests."
    )


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture_cases(), indent=1) + "\n")
    print(f"wrote {FIXTURE}")
