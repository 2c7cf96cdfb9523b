"""Wall time of `fit` with the viewer's callback, against `fit` without callbacks.

A small CNN on scikit-learn's bundled digits (8x8, 1,797 images) trains for 10 epochs under five
setups, interleaved round by round so that a slow moment of the machine hits every setup alike:

- no callback (the baseline);
- `viewer.callback()`: a snapshot of every layer after every epoch;
- `viewer.callback(every_n_batches=10)`: also every 10 batches, throttled to 5% of training time;
- `keras.callbacks.TensorBoard(histogram_freq=1)`: weight histograms every epoch (TensorFlow
  backend only: it writes with `tf.summary`);
- the common answer: in `on_epoch_end`, build a sub-model per layer and `predict` the probe.

Each setup has its own model, warmed up by one epoch (so tracing is not timed); each round fits
it for `--epochs` more. The script prints the median wall time of each setup and its ratio to the
baseline measured in the same run; then, as the rounds are interleaved, the ratio of each
round's fit to the baseline of the same round (paired), with a 95% bootstrap interval of its
median, which says whether a target is met or lies inside the noise; and the share of each fit
that the viewer itself took (its callback measures its own time, on the training thread and on
its worker thread), which a busy shared machine disturbs far less than wall-time ratios.
Last, the same viewer snapshots only every other epoch of a few long fits, and each recorded
epoch is compared with the unrecorded epochs on either side (`alternating`): pairs a tenth of a
second apart instead of seconds, so a machine that drifts between rounds disturbs it less.
Targets: per-epoch snapshots <= 1.02x, every 10 batches <= 1.05x, and both faster than
TensorBoard's histograms.

Run: `python bench/fit_overhead.py [--repeats 11] [--epochs 10] [--alternate 3 40]`, on the backend `KERAS_BACKEND`
names.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import digits, digits_cnn, rotated  # noqa: E402

from kerasviz_widget import TensorViewer  # noqa: E402


class SubModelPerLayer(keras.callbacks.Callback):
    """The common answer: a new `keras.Model` per layer, every epoch, to read its output."""

    def __init__(self, probe: np.ndarray) -> None:
        super().__init__()
        self.probe = probe
        self.outputs: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        outs = {}
        for layer in self.model.layers:
            sub = keras.Model(self.model.inputs, layer.output)
            outs[layer.name] = sub.predict(self.probe, verbose=0)
        self.outputs.append(outs)


def paired_ratio(
    times: list[float], base: list[float], resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """The median of the per-round ratios `times[r] / base[r]`, and a 95% bootstrap interval of
    that median (rounds resampled with replacement)."""
    ratios = np.asarray(times) / np.asarray(base)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ratios.size, size=(resamples, ratios.size))
    medians = np.median(ratios[picks], axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(np.median(ratios)), float(low), float(high)


class EpochClock(keras.callbacks.Callback):
    """The start of every epoch, and the end of training: `starts[k + 1] - starts[k]` is epoch
    `k` with every callback's `on_epoch_end` (a snapshot included)."""

    async_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.starts.append(time.perf_counter())

    def on_train_end(self, logs=None):
        self.starts.append(time.perf_counter())


def alternating(
    viewer, model, x, y, fit, *, epochs: int, fits: int
) -> tuple[tuple[float, float, float], int, int]:
    """`viewer.callback()` snapshots only the even epochs of each fit; each recorded epoch is
    compared with the mean of the unrecorded epochs on either side, inside the same fit, so that
    the machine's slow drifts cancel. This counts a step's whole cost only where the step is
    finished in its own epoch, on the training thread (a step the worker finishes lands in the
    next, unrecorded epoch), so the steps finished there are counted too.

    Returns:
        `((median ratio, low, high), steps on the training thread, steps)`: the ratio with its
        95% bootstrap interval.
    """
    ratios, inline, steps = [], 0, 0
    session = viewer._source.session

    def record_even(record, epoch, logs=None):
        nonlocal inline, steps
        if epoch % 2 == 0:
            record(epoch, logs)
            steps += 1
            inline += session.last_inline

    for _ in range(fits):
        clock, callback = EpochClock(), viewer.callback()
        callback.on_epoch_end = functools.partial(record_even, callback.on_epoch_end)
        model.fit(x, y, epochs=epochs, callbacks=[clock, callback], **fit)
        d = np.diff(clock.starts)
        ratios += [d[k] / ((d[k - 1] + d[k + 1]) / 2) for k in range(2, len(d) - 1, 2)]
    return paired_ratio(ratios, [1.0] * len(ratios)), inline, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per fit (default 10)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument(
        "--data-repeat",
        type=int,
        default=1,
        help="train on the images this many times over per epoch (default 1): longer epochs, the "
        "same snapshot per epoch",
    )
    parser.add_argument(
        "--alternate",
        type=int,
        nargs=2,
        default=(3, 40),
        metavar=("FITS", "EPOCHS"),
        help="then FITS fits of EPOCHS epochs that snapshot every other epoch (default 3 40; "
        "0 0 to skip)",
    )
    args = parser.parse_args()

    x, y = digits()
    probe = x[:16]
    x, y = np.tile(x, (args.data_repeat, 1, 1, 1)), np.tile(y, args.data_repeat)
    logdir = tempfile.mkdtemp(prefix="kerasviz-bench-tb-")
    setups: dict[str, tuple[keras.Model, object]] = {}

    def add(name, make_callbacks):
        model = digits_cnn()
        setups[name] = (model, make_callbacks(model))

    add("no callback", lambda m: lambda: [])
    viewers: dict[str, TensorViewer] = {}

    def viewer_setup(every):
        def make(model):
            viewer = TensorViewer(model, probe)
            viewers[f"every_n_batches={every}"] = viewer
            return lambda: [viewer.callback(every_n_batches=every)]

        return make

    add("viewer.callback()", viewer_setup(None))
    add("viewer.callback(every_n_batches=10)", viewer_setup(10))
    if keras.backend.backend() == "tensorflow":  # TensorBoard's callback writes with tf.summary
        add(
            "TensorBoard(histogram_freq=1)",
            lambda m: lambda: [keras.callbacks.TensorBoard(log_dir=logdir, histogram_freq=1)],
        )
    add("sub-model per layer, on_epoch_end", lambda m: lambda: [SubModelPerLayer(probe)])

    fit = dict(batch_size=args.batch_size, validation_split=0.1, verbose=0)
    for model, make in setups.values():  # warm-up: trace the train and eval functions
        model.fit(x, y, epochs=1, callbacks=make(), **fit)

    times: dict[str, list[float]] = {name: [] for name in setups}
    last_callbacks: dict[str, list] = {}
    shares: dict[str, list[float]] = {name: [] for name in setups}
    cpu_shares: dict[str, list[float]] = {name: [] for name in setups}
    for r in range(args.repeats):
        for name in rotated(list(setups), r):
            model, make = setups[name]
            callbacks = make()
            session = getattr(callbacks[0], "session", None) if callbacks else None
            wall0 = session.worker_seconds if session else 0.0
            cpu0 = session._worker.cpu_seconds if session else 0.0
            start = time.perf_counter()
            model.fit(x, y, epochs=args.epochs, callbacks=callbacks, **fit)
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            last_callbacks[name] = callbacks
            if callbacks and hasattr(callbacks[0], "taken"):  # the viewer's own time, measured
                cb = callbacks[0]
                # Its time on the training thread and on the worker, the worker's last job (the
                # last epoch's step, finished inside `fit` by its final flush) included.
                own = cb._spent + cb._worker_delta()
                shares[name].append(own / elapsed)
                # The same with the worker's CPU time in place of its wall time (a worker
                # waiting for the GIL while the training loop runs Python costs no CPU).
                wall = session.worker_seconds - wall0
                cpu = session._worker.cpu_seconds - cpu0
                cpu_shares[name].append((own - wall + cpu) / elapsed)

    base = statistics.median(times["no callback"])
    steps = int(np.ceil(len(x) * 0.9 / args.batch_size))
    print(
        f"Keras {keras.__version__} ({keras.backend.backend()}); "
        f"digits CNN ({digits_cnn().count_params():,} params), {len(x)} images x 0.9, batch "
        f"{args.batch_size} ({steps} steps/epoch), {args.epochs} epochs, median of "
        f"{args.repeats} rounds"
    )
    print(f"{'setup':<40} {'median s':>9} {'ratio':>7}   all runs (s)")
    for name, ts in times.items():
        med = statistics.median(ts)
        runs = " ".join(f"{t:.2f}" for t in ts)
        print(f"{name:<40} {med:9.3f} {med / base:6.3f}x   {runs}")
    print(
        "paired: each round against the baseline of the same round (median, 95% bootstrap CI), "
        "and the median difference per epoch"
    )
    for name, ts in times.items():
        if name != "no callback":
            mid, low, high = paired_ratio(ts, times["no callback"])
            extra = statistics.median(np.subtract(ts, times["no callback"])) / args.epochs
            print(
                f"  {name:<38} {mid:6.3f}x   [{low:.3f}, {high:.3f}]   "
                f"{extra * 1e3:+8.2f} ms per epoch"
            )
    for name, values in shares.items():
        if values:
            per_epoch = statistics.median(values) * statistics.median(times[name]) / args.epochs
            print(
                f"{name}: the viewer's own time (training thread + worker) is "
                f"{statistics.median(values):.2%} of the fit (median, {per_epoch * 1e3:.2f} ms per "
                f"epoch); counting the worker's CPU time instead of its wall time, "
                f"{statistics.median(cpu_shares[name]):.2%}"
            )
    fits, epochs = args.alternate
    if fits and epochs >= 4:
        model = setups["viewer.callback()"][0]
        (mid, low, high), inline, steps = alternating(
            viewers["every_n_batches=None"], model, x, y, fit, epochs=epochs, fits=fits
        )
        print(
            f"viewer.callback() on every other epoch, {fits} fits of {epochs} epochs: a recorded "
            f"epoch against the unrecorded ones on either side {mid:.3f}x [{low:.3f}, {high:.3f}]"
            f" ({inline} of {steps} steps finished on the training thread: the measure counts "
            f"those whole)"
        )
    cb = last_callbacks["viewer.callback(every_n_batches=10)"][0]
    due = cb.taken + cb.skipped
    print(
        f"every_n_batches=10, last round: {cb.taken} per-batch snapshots taken, "
        f"{cb.skipped} skipped by the 5% throttle (of {due} due)"
    )


if __name__ == "__main__":
    main()
