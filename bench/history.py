"""Benchmark of snapshots and history: reduction time, bytes on the wire, memory of a long run.

Run from the repository root:

    python bench/history.py            # everything (a few minutes)
    python bench/history.py --steps 200  # a shorter memory run

It prints Markdown rows for `bench/RESULTS.md`:

1. Reduction time for all layers of MobileNetV2 (96x96, probe 16, `weights=None`) as a ratio of
   one compiled forward pass (`predict_on_batch`) measured in the same run: the reference
   (`reduce_array` per layer, pure NumPy) and the fast path (`reduce_many`).
2. Bytes on the wire per snapshot (JSON content + buffers, as `protocol.encode_snapshot` makes them)
   against the payload `2 bytes x display values + 4 bytes x bins`; target <= 1.1x.
3. A 1,000-step run of `TensorViewer.snapshot()` with `budget_mb=64` on a model whose watched
   outputs are about 8 MB per step: the memory held after each step (tracemalloc, all Python and
   NumPy allocations, above a baseline taken with the viewer built and warmed up and its history
   empty; also above the process before the viewer) and the history's own accounting; target
   <= 64 MB.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kerasviz_widget import TensorViewer  # noqa: E402
from kerasviz_widget.core.extract import Extractor  # noqa: E402
from kerasviz_widget.core.history import History  # noqa: E402
from kerasviz_widget.core.reduce import reduce_array, reduce_many  # noqa: E402
from kerasviz_widget.io import protocol  # noqa: E402


def timed(fn, repeat: int) -> float:
    """Median wall time of `fn()` over `repeat` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_reduction(repeat: int) -> list[str]:
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None)
    probe = np.random.default_rng(0).random((16, 96, 96, 3), dtype=np.float32)
    extractor = Extractor(model)
    arrays = extractor(probe)
    n_values = sum(a.size for a in arrays.values())
    forward = timed(lambda: model.predict_on_batch(probe), repeat)
    reference = timed(
        lambda: [reduce_array(lid, a, epoch=0) for lid, a in arrays.items()], max(1, repeat // 3)
    )
    fast = timed(lambda: reduce_many(arrays, epoch=0), repeat)
    snaps = reduce_many(arrays, epoch=0)

    # Bytes on the wire.
    total_wire = total_payload = 0
    worst = (0.0, "")
    for snap in snaps.values():
        content, buffers = protocol.encode_snapshot(snap)
        wire = len(json.dumps(content, separators=(",", ":"))) + sum(b.nbytes for b in buffers)
        payload = 2 * snap.display.size + 4 * snap.counts.size
        total_wire += wire
        total_payload += payload
        worst = max(worst, (wire / payload, snap.layer))
    big = [s for s in snaps.values() if s.display.size >= 4096]
    big_wire = sum(
        len(json.dumps(protocol.encode_snapshot(s)[0], separators=(",", ":")))
        + 2 * s.display.size
        + 4 * s.counts.size
        for s in big
    )
    big_payload = sum(2 * s.display.size + 4 * s.counts.size for s in big)
    return [
        f"| MobileNetV2 96x96, probe 16: {len(arrays)} outputs, {n_values / 1e6:.1f} M values "
        f"| forward pass (`predict_on_batch`) | {forward * 1e3:.0f} ms | 1.0x |",
        f"| | reduce all layers, reference (`reduce_array` each) | {reference * 1e3:.0f} ms "
        f"| {reference / forward:.1f}x |",
        f"| | reduce all layers, fast path (`reduce_many`, {os.cpu_count()} threads) "
        f"| {fast * 1e3:.0f} ms | {fast / forward:.1f}x |",
        f"| | fast path speed-up over the reference | | {reference / fast:.1f}x |",
        f"| wire bytes / (2 B x display values + 4 B x bins), all {len(snaps)} snapshots "
        f"| {total_wire / 1e6:.2f} MB / {total_payload / 1e6:.2f} MB "
        f"| | {total_wire / total_payload:.3f}x |",
        f"| same, the {len(big)} snapshots with >= 4,096 display values "
        f"| {big_wire / 1e6:.2f} MB / {big_payload / 1e6:.2f} MB "
        f"| | {big_wire / big_payload:.3f}x |",
        f"| worst single snapshot (`{worst[1]}`, tiny display: JSON dominates) | | "
        f"| {worst[0]:.2f}x |",
    ]


def eight_mb_model() -> tuple[keras.Model, np.ndarray]:
    """Eight 16-channel convolutions on a 16x32x32x3 probe: 8 x 1 MB of float32 outputs."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i in range(8):
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    model = keras.Model(inputs, x)
    probe = np.random.default_rng(0).random((16, 32, 32, 3), dtype=np.float32)
    return model, probe


def bench_memory(steps: int) -> list[str]:
    model, probe = eight_mb_model()
    layers = [f"conv{i}" for i in range(8)]
    out_bytes = sum(a.nbytes for a in Extractor(model, layers)(probe).values())
    gc.collect()
    tracemalloc.start()
    base_process = tracemalloc.get_traced_memory()[0]
    viewer = TensorViewer(model, probe, layers=layers, budget_mb=64)
    # Warm up (the compiled predict function, the widgets), then start an empty history: the
    # baseline is everything but the history.
    viewer.snapshot()
    empty = History(64 * 2**20)
    viewer._history = viewer._source.session.store = viewer._front_end.history = empty
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    held_max = process_max = 0
    start = time.perf_counter()
    for _ in range(steps):
        viewer.snapshot()
        current = tracemalloc.get_traced_memory()[0]
        held_max = max(held_max, current - base)
        process_max = max(process_max, current - base_process)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    history = viewer._history
    mb = 2**20
    return [
        f"| {steps}-step run, budget 64 MB, outputs {out_bytes / mb:.1f} MB/step "
        f"| most memory held by the history after a step (tracemalloc above the warmed-up "
        f"viewer) | {held_max / mb:.2f} MB | {held_max / (64 * mb):.3f}x budget |",
        f"| | same, above the process before the viewer was built (viewer, widgets, compiled "
        f"predict function included) | {process_max / mb:.2f} MB | |",
        f"| | history accounting at the end: arrays `nbytes` / charged "
        f"| {history.nbytes / mb:.1f} / {history.charged_bytes / mb:.1f} MB "
        f"| full values kept for {len(history.kept_epochs)} steps, displays for "
        f"{len(history.display_epochs)}, statistics for {len(history)} |",
        f"| | peak during a step (adds the step's own outputs and reductions) "
        f"| {peak / mb:.1f} MB | |",
        f"| | time per snapshot (extraction + reduction + history), tracemalloc on "
        f"| {elapsed / steps * 1e3:.0f} ms | |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps of the memory run")
    parser.add_argument("--repeat", type=int, default=7, help="timing repeats")
    parser.add_argument("--skip-reduction", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    rows = ["| case | measure | value | ratio |", "|---|---|---|---|"]
    if not args.skip_reduction:
        rows += bench_reduction(args.repeat)
    if not args.skip_memory:
        rows += bench_memory(args.steps)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
