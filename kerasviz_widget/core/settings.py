"""The recording settings (histogram bins, display size, memory budget): defaults and validation.

One `Settings` object is shared by a viewer, its recording session, a `Recorder`, and the files
they write (`.npz` histories and run folders record it as JSON), so each default is written here
only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BINS = 64
"""Histogram bins of every snapshot."""

DEFAULT_MAX_VALUES = 262_144
"""Most values of one display array sent to the front-end."""

DEFAULT_BUDGET_MB = 512
"""Memory budget of a history (and of the full arrays of a run folder), in MB."""


@dataclass(frozen=True)
class Settings:
    """How steps are reduced and how much of them is kept.

    Attributes:
        bins: Histogram bins, an integer >= 2. Defaults to `64`.
        max_values: Most values per display array, an integer >= 1. Defaults to `262_144`.
        budget_bytes: Memory budget of the history, in bytes, > 0. Defaults to 512 MB.

    Example:

    >>> Settings.check(bins=32, max_values=4096, budget_mb=64).budget_bytes
    67108864
    """

    bins: int = DEFAULT_BINS
    max_values: int = DEFAULT_MAX_VALUES
    budget_bytes: int = DEFAULT_BUDGET_MB * 2**20

    @classmethod
    def check(
        cls,
        bins: Any = DEFAULT_BINS,
        max_values: Any = DEFAULT_MAX_VALUES,
        budget_mb: Any = DEFAULT_BUDGET_MB,
        *,
        who: str = "TensorViewer",
    ) -> Settings:
        """Validate the settings as a user passes them; errors name `who` and the argument.

        Args:
            bins: Histogram bins. Defaults to `64`.
            max_values: Most values per display array. Defaults to `262_144`.
            budget_mb: Memory budget in MB. Defaults to `512`.
            who: The class or function that received them, for the messages. Defaults to
                `"TensorViewer"`.

        Returns:
            The settings, with the budget in bytes.

        Raises:
            ValueError: If `bins < 2`, `max_values < 1`, `budget_mb <= 0`, or one is not a number.
        """
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
            raise ValueError(
                f"{who} received bins={bins!r}; it must be an integer >= 2 (the number of "
                f"histogram bins). Pass e.g. `bins={DEFAULT_BINS}`, the default."
            )
        if (
            isinstance(max_values, bool)
            or not isinstance(max_values, numbers.Integral)
            or (max_values < 1)
        ):
            raise ValueError(
                f"{who} received max_values={max_values!r}; it must be an integer >= 1 (the "
                "most values of a display array sent to the front-end). Pass e.g. "
                f"`max_values={DEFAULT_MAX_VALUES:_}`, the default."
            )
        if (
            isinstance(budget_mb, bool)
            or not isinstance(budget_mb, numbers.Real)
            or not math.isfinite(budget_mb)
            or budget_mb <= 0
        ):
            raise ValueError(
                f"{who} received budget_mb={budget_mb!r}; it must be a finite number of MB "
                "> 0 (the memory budget of the history). Pass e.g. "
                f"`budget_mb={DEFAULT_BUDGET_MB}`, the default."
            )
        return cls(int(bins), int(max_values), max(1, int(budget_mb * 2**20)))

    def to_json(self) -> dict[str, int]:
        """The settings as files record them: `{"bins", "max_values", "budget_bytes"}`."""
        return {"bins": self.bins, "max_values": self.max_values, "budget_bytes": self.budget_bytes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, *, budget_mb: Any = None) -> Settings:
        """The settings a file recorded; a missing entry takes its default.

        Args:
            data: What `to_json` wrote (or a run folder's manifest).
            budget_mb: If given, replaces the recorded budget (a reader's own budget).
                Defaults to `None`.
        """
        data = dict(data or {})
        recorded = cls.check(
            int(data.get("bins", DEFAULT_BINS)),
            int(data.get("max_values", DEFAULT_MAX_VALUES)),
            who="The file",
        )
        budget = data.get("budget_bytes", recorded.budget_bytes)
        if budget_mb is not None:
            budget = cls.check(budget_mb=budget_mb, who="TensorViewer").budget_bytes
        return cls(recorded.bins, recorded.max_values, max(1, int(budget)))
