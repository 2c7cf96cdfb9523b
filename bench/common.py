"""What the benchmarks share: the digits data and the small CNN they train.

Importing it also puts this checkout first on `sys.path`, so a benchmark measures the code beside
it, whatever version of the package the environment has installed.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402


def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    return x, data.target.astype(np.int64)


def digits_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(64, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def rotated(names: list[str], round_: int) -> list[str]:
    """`names` rotated by `round_`: who goes first changes from round to round, so that neither
    the setup timed first (a cold cache) nor the one timed last is always the same."""
    k = round_ % len(names)
    return names[k:] + names[:k]
