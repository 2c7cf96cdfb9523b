"""The bounded store of snapshots, by (layer, step).

Full-precision arrays are kept while they fit the byte budget; past it, old steps lose their arrays,
thinned evenly with the first and the last step always kept (like TensorBoard's reservoir). The
reduced snapshots (statistics, histogram, display array) of every step are always kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .snapshot import Snapshot


@dataclass
class Step:
    """One recorded step: an epoch label (0 is before training), an optional batch, the logs."""

    epoch: float
    batch: int | None = None
    logs: dict[str, float] = field(default_factory=dict)


def _label(epoch: float) -> float | int:
    return int(epoch) if float(epoch).is_integer() else float(epoch)


class History:
    """Snapshots and full-precision arrays by (layer, epoch label), within `budget_bytes`."""

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"History received budget_bytes={budget_bytes}; it must be > 0.")
        self.budget_bytes = int(budget_bytes)
        self._steps: dict[float, Step] = {}
        self._snapshots: dict[tuple[str, float], Snapshot] = {}
        self._arrays: dict[float, dict[str, np.ndarray]] = {}
        self.nbytes = 0

    @property
    def steps(self) -> list[Step]:
        return [self._steps[k] for k in sorted(self._steps)]

    @property
    def epochs(self) -> list[float | int]:
        """Labels of every recorded step, ascending."""
        return [_label(k) for k in sorted(self._steps)]

    @property
    def kept_epochs(self) -> list[float | int]:
        """Labels of the steps whose full-precision arrays are still kept, ascending."""
        return [_label(k) for k in sorted(self._arrays)]

    def __len__(self) -> int:
        return len(self._steps)

    def add(
        self, step: Step, arrays: dict[str, np.ndarray], snapshots: dict[str, Snapshot]
    ) -> list[float | int]:
        """Record a step; returns the labels whose full arrays were thinned away to stay in budget."""
        key = float(step.epoch)
        if key in self._arrays:
            self.nbytes -= sum(a.nbytes for a in self._arrays.pop(key).values())
        self._steps[key] = step
        for layer, snap in snapshots.items():
            self._snapshots[(layer, key)] = snap
        self._arrays[key] = dict(arrays)
        self.nbytes += sum(a.nbytes for a in arrays.values())
        return self._thin()

    def _thin(self) -> list[float | int]:
        dropped: list[float | int] = []
        while self.nbytes > self.budget_bytes and len(self._arrays) > 2:
            keys = sorted(self._arrays)
            # Drop the step whose neighbours are closest together: keeps the rest evenly spread.
            gaps = [keys[i + 1] - keys[i - 1] for i in range(1, len(keys) - 1)]
            victim = keys[1 + int(np.argmin(gaps))]
            self.nbytes -= sum(a.nbytes for a in self._arrays.pop(victim).values())
            dropped.append(_label(victim))
        return dropped

    def resolve(self, epoch: float) -> float:
        """The stored key of an epoch label; `-1` means the latest step."""
        if not self._steps:
            raise KeyError("The history is empty: no step has been recorded yet.")
        if epoch == -1:
            return max(self._steps)
        key = float(epoch)
        if key not in self._steps:
            raise KeyError(f"Epoch {epoch!r} was never recorded. Recorded epochs: {self.epochs}.")
        return key

    def values(self, layer: str, epoch: float = -1) -> np.ndarray:
        key = self.resolve(epoch)
        arrays = self._arrays.get(key)
        if arrays is None:
            raise KeyError(
                f"The full values of epoch {_label(key)} were thinned away to keep the history "
                f"under its budget of {self.budget_bytes / 2**20:.0f} MB; its statistics are still "
                f"available with `stats()`. Epochs with full values: {self.kept_epochs}. "
                "Pass a larger `budget_mb` to keep more."
            )
        return arrays[layer]

    def snapshot(self, layer: str, epoch: float = -1) -> Snapshot:
        return self._snapshots[(layer, self.resolve(epoch))]

    def snapshots(self) -> list[Snapshot]:
        """Every kept snapshot, in step order."""
        return sorted(self._snapshots.values(), key=lambda s: float(s.epoch))

    def step(self, epoch: float = -1) -> Step:
        return self._steps[self.resolve(epoch)]

    def logs(self) -> dict[str, Any]:
        return {_label(k): dict(s.logs) for k, s in sorted(self._steps.items())}
