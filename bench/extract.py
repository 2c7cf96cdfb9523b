"""Benchmark of the extraction engine against a compiled forward pass (issue 7).

For each model, on one probe, in one run (median of repeats, after a warm-up call; rows 1, 2 and
3b-c are timed round by round, in a rotated order, so that a slow moment of the machine hits
the forward pass and the paths measured against it alike):

1. a compiled forward pass, `model.predict_on_batch(probe)` (the baseline);
2. the cached `Extractor` returning every layer's output as NumPy, (a) alone and (b) with every
   display array pooled and cast, and every output's min and max taken, by the backend in the
   same compiled call (`Extractor.with_displays`);
3. a full snapshot: extraction plus statistics, 64-bin histogram and display array of every
   layer, with the catalog's activation bounds (the saturation count), (a) through the
   reference `reduce.reduce_array` one layer after another, (b) the path every recording takes:
   (2b), then `reduce.reduce_many` with those displays and ranges, and (c) as (b) with the
   displays pooled and cast, and the ranges taken, by NumPy instead (the path before the backend
   computed them);
4. `keract.get_activations` (extra `bench`), or what happens when it fails;
5. the per-layer sub-model approach (`keras.Model(model.inputs, layer.output).predict` for
   every layer); on the large models a subset of layers is timed and extrapolated linearly.

Usage: `python bench/extract.py [--quick] [--out bench/RESULTS.md]`; the backend is
`KERAS_BACKEND`'s. `--quick` runs the small CNN only. The table is printed and written into the
"## Extraction" section of the results file (on JAX or PyTorch, "## Extraction (jax)" and so on).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import re
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import rotated  # noqa: E402  (puts this checkout first on sys.path)

from kerasviz_widget.core.extract import Extractor  # noqa: E402
from kerasviz_widget.core.reduce import reduce_array, reduce_many  # noqa: E402
from kerasviz_widget.core.settings import DEFAULT_MAX_VALUES  # noqa: E402


def small_cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="small_cnn",
    )


MODELS = {
    "small CNN 32x32": (small_cnn, (32, 32, 3), 16, 51, None),  # ms-scale: many repeats
    "MobileNetV2 96x96": (
        lambda: keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3)),
        (96, 96, 3),
        16,
        9,
        4,
    ),
    "ResNet50 224x224": (lambda: keras.applications.ResNet50(weights=None), (224, 224, 3), 8, 5, 2),
}


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (tracing, allocation)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed_together(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The median seconds of each function, timed round by round (the order rotated each round),
    after one warm-up call of each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in rotated(names, r):
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def keract_row(model, probe) -> tuple[float | None, str]:
    try:
        import keract
    except ImportError:
        return None, "keract not installed (`pip install kerasviz-widget[bench]`)"
    try:
        t0 = time.perf_counter()
        keract.get_activations(model, probe)
        return time.perf_counter() - t0, f"keract {keract.__version__}"
    except Exception as exc:  # noqa: BLE001 - record what happens
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
        return None, f"keract {getattr(keract, '__version__', '?')} raised `{text}`"


def submodel_row(model, probe, subset: int | None) -> tuple[float, str]:
    layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    chosen = layers if subset is None else layers[:: max(1, len(layers) // subset)][:subset]
    t0 = time.perf_counter()
    for layer in chosen:
        keras.Model(model.inputs, layer.output).predict(probe, verbose=0)
    elapsed = time.perf_counter() - t0
    if subset is None:
        return elapsed, f"all {len(layers)} layers"
    return elapsed * len(layers) / len(chosen), (
        f"{len(chosen)} of {len(layers)} layers timed, extrapolated linearly"
    )


def bench_model(name: str, spec) -> dict:
    build, shape, n, repeats, subset = spec
    keras.utils.set_random_seed(0)
    model = build()
    probe = np.random.default_rng(0).random((n, *shape), dtype=np.float32)
    t0 = time.perf_counter()
    extractor = Extractor(model)
    arrays = extractor(probe)
    build_s = time.perf_counter() - t0
    total_mb = sum(a.nbytes for a in arrays.values()) / 2**20
    bounds = {info.id: info.bounds for info in extractor.layers}  # as a recording passes them
    ref_reduce = timed(
        lambda: [
            reduce_array(k, a, epoch=0, bounds=bounds.get(k)) for k, a in extractor(probe).items()
        ],
        1 if repeats < 5 else 3,
    )

    def recording() -> None:
        outputs, displays, ranges = extractor.with_displays(probe, DEFAULT_MAX_VALUES)
        reduce_many(outputs, epoch=0, bounds=bounds, displays=displays, ranges=ranges)

    _, displays, ranges = extractor.with_displays(probe, DEFAULT_MAX_VALUES)
    t = timed_together(
        {
            "forward": lambda: model.predict_on_batch(probe),
            "extract": lambda: extractor(probe),
            "extract_displays": lambda: extractor.with_displays(probe, DEFAULT_MAX_VALUES),
            "snapshot": recording,
            "numpy_displays": lambda: reduce_many(extractor(probe), epoch=0, bounds=bounds),
            "only_fast": lambda: reduce_many(
                arrays, epoch=0, bounds=bounds, displays=displays, ranges=ranges
            ),
        },
        repeats,
    )
    forward, extract, extract_displays = t["forward"], t["extract"], t["extract_displays"]
    snapshot, numpy_displays, only_fast = t["snapshot"], t["numpy_displays"], t["only_fast"]
    keract_s, keract_note = keract_row(model, probe)
    sub_s, sub_note = submodel_row(model, probe, subset)
    return {
        "name": name,
        "n": n,
        "layers": len(arrays),
        "mb": total_mb,
        "build": build_s,
        "traces": extractor.trace_count,
        "rows": [
            ("(1) forward pass `predict_on_batch`", forward, ""),
            ("(2a) cached extractor, every output to NumPy", extract, ""),
            (
                "(2b) as (2a), with the display arrays and ranges from the backend",
                extract_displays,
                "",
            ),
            ("(3a) full snapshot, reference reductions", ref_reduce, "`reduce.reduce_array`"),
            ("(3b) full snapshot, the recording path", snapshot, "(2b) + `reduce_many`"),
            ("     statistics and histograms alone", only_fast, "of (3b)"),
            ("(3c) as (3b), displays pooled by NumPy", numpy_displays, "(2a) + `reduce_many`"),
            ("(4) `keract.get_activations`", keract_s, keract_note),
            ("(5) per-layer sub-model", sub_s, sub_note),
        ],
    }


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        forward = r["rows"][0][1]
        lines.append(
            f"### {r['name']}, probe of {r['n']}: {r['layers']} outputs, "
            f"{r['mb']:.0f} MB; extractor built and traced in {r['build']:.2f} s "
            f"({r['traces']} trace)\n"
        )
        lines.append("| step | median | × forward | note |")
        lines.append("|---|---:|---:|---|")
        for label, seconds, note in r["rows"]:
            if seconds is None:
                lines.append(f"| {label} | — | — | {note} |")
            else:
                lines.append(
                    f"| {label} | {seconds * 1e3:,.1f} ms | {seconds / forward:,.1f}× | {note} |"
                )
        lines.append("")
    return "\n".join(lines)


def write_section(path: pathlib.Path, body: str) -> None:
    backend = keras.backend.backend()
    header = "## Extraction" + ("" if backend == "tensorflow" else f" ({backend})")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"{header}\n\n{body.rstrip()}\n"
    pattern = re.compile(rf"^{re.escape(header)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small CNN only")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).with_name("RESULTS.md")))
    args = parser.parse_args()
    names = list(MODELS)[:1] if args.quick else list(MODELS)
    results = []
    for name in names:
        print(f"benchmarking {name} ...", flush=True)
        results.append(bench_model(name, MODELS[name]))
    env = (
        f"Keras {keras.__version__} ({keras.backend.backend()}), NumPy {np.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU cores. "
        "Medians of repeats in one run (rows 1, 2 and 3b-c timed round by round, interleaved); "
        "ratios are to (1) measured in the same run."
    )
    body = env + "\n\n" + table(results)
    print(body)
    if not args.quick:
        write_section(pathlib.Path(args.out), body)


if __name__ == "__main__":
    main()
