"""Front-end render benchmark: ms per heatmap redraw in headless Chromium, ours against bqplot.

Draws a 512x512 map and a 64-channel 28x28 montage with the front-end's heatmap code
(`js/src/heatmap.js`: colour LUT into `ImageData`), and updates bqplot's `HeatMap` and
`GridHeatMap` with the same values, side by side in one JupyterLab page. Also redraws the
overview (`js/src/overview.js`) of 250 layers x 500 steps, without and with findings marked.
Prints a table and writes `build/bench-render.json`.

Run: `python bench/render.py` (needs Node for esbuild, JupyterLab and Chromium; a few minutes),
or `python bench/render.py --cases overview` for some cases only (`map512`, `montage64`,
`overview`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.lab import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    open_notebook,
    run_all,
    running_lab,
    wait_for_text,
)

REPS = 40

CELL = """
import pathlib, anywidget, bqplot, ipywidgets, numpy as np, traitlets as t
class Bench(anywidget.AnyWidget):
    _esm = pathlib.Path({bundle!r}).read_text()
    heat = anywidget.WidgetTrait().tag(sync=True)
    grid = anywidget.WidgetTrait().tag(sync=True)
def fig(mark_cls, title):
    sc = {{"x": bqplot.LinearScale(), "y": bqplot.LinearScale(), "color": bqplot.ColorScale(scheme="viridis")}}
    if mark_cls is bqplot.GridHeatMap:
        sc = {{"row": bqplot.OrdinalScale(), "column": bqplot.OrdinalScale(), "color": sc["color"]}}
        m = mark_cls(color=np.zeros((2, 2)), scales=sc)
    else:
        m = mark_cls(x=np.arange(2.0), y=np.arange(2.0), color=np.zeros((2, 2)), scales=sc)
    return m, bqplot.Figure(marks=[m], title=title, layout=ipywidgets.Layout(width="300px", height="300px"))
heat, heat_fig = fig(bqplot.HeatMap, "bqplot HeatMap")
grid, grid_fig = fig(bqplot.GridHeatMap, "bqplot GridHeatMap")
bench = Bench(heat=heat, grid=grid)
display(ipywidgets.HBox([bench, heat_fig, grid_fig]))
print("KV_" + "READY")
"""


def bundle(out: pathlib.Path) -> pathlib.Path:
    esbuild = ROOT / "js" / "node_modules" / ".bin" / "esbuild"
    target = out / "render_bench.js"
    subprocess.run(
        [
            str(esbuild),
            str(ROOT / "bench" / "render_bench.js"),
            "--bundle",
            "--format=esm",
            "--minify",
            "--target=es2022",
            f"--outfile={target}",
        ],
        check=True,
    )
    return target


def main(cases: list[str] | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    # The notebook cell imports bqplot: without it the cell fails in the kernel and the page
    # would only time out, minutes later.
    if importlib.util.find_spec("bqplot") is None:
        raise SystemExit(
            "bench/render.py draws bqplot's heatmaps beside ours, and bqplot is not installed: "
            'install the bench extra (`pip install -e ".[bench]"`) and run it again.'
        )

    with tempfile.TemporaryDirectory() as tmp:
        js = bundle(pathlib.Path(tmp))

        with running_lab(pathlib.Path(tmp) / "lab") as lab:
            name = lab.write_notebook("bench_render.ipynb", [CELL.format(bundle=str(js))])
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.set_default_timeout(120_000)
                open_notebook(page, lab, name)
                run_all(page)
                wait_for_text(page, "KV_READY")
                page.wait_for_function("() => typeof window.__kvbench === 'function'")
                result = page.evaluate("([r, c]) => window.__kvbench(r, c)", [REPS, cases])
                result["user_agent"] = page.evaluate("() => navigator.userAgent")
                browser.close()
    return result


def report(result: dict) -> str:
    lines = []
    if "map512" in result or "montage64" in result:
        lines += [
            "| case | size | ours (ms, median) | bqplot HeatMap (ms) | bqplot GridHeatMap (ms) |",
            "|---|---|---|---|---|",
        ]
    for key, title in [("map512", "512×512 map"), ("montage64", "64-channel 28×28 montage")]:
        if key not in result:
            continue
        r = result[key]
        grid = f"{r['GridHeatMap']['median']:.1f}" if "GridHeatMap" in r else "— (not run)"
        lines.append(
            f"| {title} | {r['width']}×{r['height']} px | {r['ours']['median']:.2f} "
            f"(max {r['ours']['max']:.2f}) | {r['HeatMap']['median']:.1f} | {grid} |"
        )
    if "overview" in result:
        o = result["overview"]
        lines += [
            f"Overview, {o['rows']} layers × {o['cols']} steps on {o['width']}×{o['height']} px, "
            f"median of {o['cells']['reps']} redraws:",
            "",
            "| overview redraw | call (ms, median) | to pixels (ms, median) | target |",
            "|---|---|---|---|",
        ]
        for key, title in [
            ("cells", "cells only"),
            ("cells+marks", f"cells + {o['marks']:,} marks"),
        ]:
            r = o[key]
            lines.append(
                f"| {title} | {r['call']['median']:.2f} (max {r['call']['max']:.2f}) | "
                f"{r['pixels']['median']:.2f} (max {r['pixels']['max']:.2f}) | ≤ 16 ms |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=["map512", "montage64", "overview"],
        help="cases to run (default: all)",
    )
    res = main(parser.parse_args().cases)
    out = ROOT / "build" / "bench-render.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(report(res))
    print(res["user_agent"])
