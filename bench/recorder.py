"""The Recorder: fit overhead, follow latency, and bytes on disk per step.

Three measurements, on a small CNN trained on scikit-learn's bundled digits (8x8, 1,797 images),
probe of 16 images:

1. **Fit overhead.** `fit` for `--epochs` epochs with `Recorder(...)` (one step per epoch) against
   `fit` with no callback, each setup on its own warmed-up model, interleaved round by round so
   that a slow moment of the machine hits both alike, and rotated (AB, BA, AB, ...) so that
   neither always runs first. Median wall time and ratio to the baseline
   of the same run. Target <= 1.03x.
2. **Follow latency.** A `TensorViewer.follow(logdir)` polls a run folder (every 0.25 s, the
   default) while a recorder in another thread writes steps one second apart. Latency is the time
   from the end of a step's write (the rename) to the moment the following viewer has sent the
   last message of that step to the front-end (`send` captured): the step is then in the
   front-end's store as soon as the comm delivers it. Median and max. Target <= 1 s.
3. **Bytes on disk per step** (a step file, full arrays kept) against the in-memory size of the
   same step (full arrays + display arrays + histogram counts).

Run: `python bench/recorder.py [--repeats 5] [--epochs 10] [--steps 8]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from common import digits, digits_cnn  # noqa: E402

from kerasviz_widget import Recorder, TensorViewer  # noqa: E402
from kerasviz_widget.io import files, protocol  # noqa: E402
from kerasviz_widget.io import runfolder as runlog  # noqa: E402


def fit_overhead(x, y, root: str, repeats: int, epochs: int) -> None:
    base, rec = digits_cnn(), digits_cnn()
    base.fit(x, y, epochs=1, batch_size=32, verbose=0)
    rec.fit(x, y, epochs=1, batch_size=32, verbose=0)
    times: dict[str, list[float]] = {"no callback": [], "Recorder": []}

    def plain(r: int) -> None:
        t0 = time.perf_counter()
        base.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
        times["no callback"].append(time.perf_counter() - t0)

    def recorded(r: int) -> None:
        recorder = Recorder(rec, x[:16], os.path.join(root, f"fit-{r}"))
        t0 = time.perf_counter()
        rec.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[recorder])
        times["Recorder"].append(time.perf_counter() - t0)
        recorder.close()

    for r in range(repeats):
        # Rotated (AB, BA, AB, ...): neither setup always runs first, after the other's garbage.
        for run in (plain, recorded) if r % 2 == 0 else (recorded, plain):
            run(r)
    baseline = statistics.median(times["no callback"])
    print(f"## fit overhead ({epochs} epochs, median of {repeats})")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:12s} {median:7.3f} s  {median / baseline:5.3f}x")


def follow_latency(x, root: str, steps: int) -> None:
    model = digits_cnn()
    logdir = os.path.join(root, "follow")
    recorder = Recorder(model, x[:16], logdir)
    recorder.set_model(model)
    viewer = TensorViewer.follow(logdir)
    n_layers = len(viewer.layers)
    arrived: dict[float, float] = {}
    counts: dict[float, int] = {}

    def send(content, buffers=None):
        for inner, _ in protocol.unbatch(content, buffers or []):  # a step is one batch
            if inner.get("kind") == "snapshot":
                e = float(inner["epoch"])
                counts[e] = counts.get(e, 0) + 1
                if counts[e] == n_layers:
                    arrived[e] = time.perf_counter()

    viewer._canvas.send = send
    written: dict[float, float] = {}

    def stamp(tmp: str) -> None:
        # Called just before the rename; the step is visible right after it.
        stamp.pending = time.perf_counter()

    files._before_rename = stamp
    for epoch in range(steps):
        time.sleep(1.0)
        recorder.on_epoch_begin(epoch)
        recorder.on_epoch_end(epoch, {"loss": 1.0})
        recorder.session.flush()  # the step is written on the recorder's worker thread
        written[float(epoch + 1)] = stamp.pending
    deadline = time.perf_counter() + 10
    while len(arrived) < steps and time.perf_counter() < deadline:
        time.sleep(0.05)
    files._before_rename = None
    viewer.close()
    recorder.close()
    latencies = [arrived[k] - written[k] for k in written if k in arrived]
    print(f"## follow latency ({len(latencies)} of {steps} steps, poll 0.25 s)")
    print(f"median {statistics.median(latencies):.3f} s, max {max(latencies):.3f} s")


def disk_bytes(x, root: str) -> None:
    model = digits_cnn()
    logdir = os.path.join(root, "bytes")
    recorder = Recorder(model, x[:16], logdir)  # records epoch 0
    recorder.close()
    reader = runlog.RunReader(logdir)
    ((_, path),) = reader.step_files()
    on_disk = os.path.getsize(path)
    (record,) = reader.poll()
    values = sum(a.nbytes for a in record.arrays.values())
    reduced = sum(s.display.nbytes + s.counts.nbytes for s in record.snapshots.values())
    in_memory = values + reduced
    print("## bytes per step (probe 16, all layers)")
    print(f"in memory: {in_memory:,} B (full arrays {values:,} + display/hist {reduced:,})")
    print(f"on disk:   {on_disk:,} B  ({on_disk / in_memory:.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    x, y = digits()
    with tempfile.TemporaryDirectory() as root:
        disk_bytes(x, root)
        follow_latency(x, root, args.steps)
        fit_overhead(x, y, root, args.repeats, args.epochs)


if __name__ == "__main__":
    main()
