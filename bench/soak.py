"""Soak: 10,000 snapshots of a model with about 1 MB of outputs per step, under `budget_mb=8`.

Two runs in one process, each on its own model:

1. **In memory.** `viewer.snapshot()` 10,000 times (no `fit`: the snapshots themselves are what
   is soaked, and training would only add time).
2. **Recorder.** The same 10,000 steps recorded to a run folder through the Recorder's recording
   session (`recorder.session.record`, what its callback calls at every epoch end), each step
   written as its own file, the oldest thinned when the full arrays outgrow the budget.

Reported for each: the peak growth of the process's resident memory (RSS, sampled every 50 steps,
above the RSS after 20 warm-up steps, so that TensorFlow's and Keras' one-time allocations are not
counted), the RSS at the end, the steps kept (every step keeps its statistics; which keep their
full arrays and display arrays), the charged bytes against the budget, and the time per step. The
model: four 3x3 convolutions of 32 channels on a probe of 8 samples of 16x16x8, outputs 8 x 16 x 16
x 32 x 4 B = 256 KB each, 1.03 MB per step with the probe. Display arrays are capped at 4,096
values (`max_values`), so the folder of the Recorder run stays small on disk (the display arrays
and statistics of every step stay on disk whatever the budget).

Run: `python bench/soak.py [--steps 10000]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kerasviz_widget import Recorder, TensorViewer  # noqa: E402

BUDGET_MB = 8
MAX_VALUES = 4096
WARMUP = 20
SAMPLE_EVERY = 50


def model_and_probe() -> tuple[keras.Model, np.ndarray]:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 8))
    h = inputs
    for i in range(4):
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name=f"conv{i}")(h)
    model = keras.Model(inputs, h)
    probe = np.random.default_rng(0).random((8, 16, 16, 8), dtype=np.float32)
    return model, probe


def rss() -> int:
    return psutil.Process().memory_info().rss


def soak(name: str, record, steps: int) -> dict:
    """Call `record(k)` for k = 1..steps; RSS above the level after the warm-up steps."""
    for k in range(1, WARMUP + 1):
        record(k)
    base = peak = rss()
    start = time.perf_counter()
    for k in range(WARMUP + 1, steps + 1):
        record(k)
        if k % SAMPLE_EVERY == 0:
            peak = max(peak, rss())
    seconds = time.perf_counter() - start
    end = rss()
    return {
        "name": name,
        "peak_growth_mb": (max(peak, end) - base) / 2**20,
        "end_growth_mb": (end - base) / 2**20,
        "ms_per_step": 1000 * seconds / (steps - WARMUP),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10_000, help="snapshots (default 10,000)")
    args = parser.parse_args()
    print(
        f"Keras {keras.__version__} ({keras.backend.backend()}), NumPy {np.__version__}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPU cores; {args.steps:,} steps, "
        f"budget_mb={BUDGET_MB}, max_values={MAX_VALUES}"
    )

    model, probe = model_and_probe()
    viewer = TensorViewer(model, probe, budget_mb=BUDGET_MB, max_values=MAX_VALUES)
    per_step = sum(viewer.values(layer, 0).nbytes for layer in viewer.layers)
    print(f"outputs per step: {per_step / 2**20:.2f} MB ({len(viewer.layers)} layers with input)")
    result = soak("in memory", lambda k: viewer.snapshot(k), args.steps)
    history = viewer._history
    result["kept"] = (
        f"{len(history.epochs):,} steps with statistics; full arrays for "
        f"{len(history.kept_epochs)}; display arrays for {len(history.display_epochs)}; charged "
        f"{history.charged_bytes / 2**20:.2f} MB of {BUDGET_MB} MB"
    )
    viewer.close()
    results = [result]

    model, probe = model_and_probe()
    root = tempfile.mkdtemp(prefix="kerasviz-soak-")
    try:
        recorder = Recorder(
            model, probe, os.path.join(root, "run"), budget_mb=BUDGET_MB, max_values=MAX_VALUES
        )
        result = soak(
            "Recorder", lambda k: recorder.session.record(epoch=k, raise_errors=True), args.steps
        )
        recorder.close()
        ledger = recorder._writer._ledger
        disk = sum(
            os.path.getsize(os.path.join(folder, f))
            for folder, _, files in os.walk(root)
            for f in files
        )
        result["kept"] = (
            f"{len(ledger.epochs):,} step files; full arrays in {len(ledger.kept_epochs)} "
            f"(first {ledger.kept_epochs[0]}, last {ledger.kept_epochs[-1]}); full arrays "
            f"charged {ledger.charged_bytes / 2**20:.2f} MB of {BUDGET_MB} MB; folder "
            f"{disk / 2**20:.0f} MB on disk"
        )
        results.append(result)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print()
    print("| run | peak RSS growth | RSS growth at the end | time per step | steps kept |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['name']} | {r['peak_growth_mb']:.1f} MB | {r['end_growth_mb']:.1f} MB | "
            f"{r['ms_per_step']:.1f} ms | {r['kept']} |"
        )


if __name__ == "__main__":
    main()
