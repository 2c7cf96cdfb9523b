"""The recording settings (histogram bins, display size, memory budget): defaults and validation.

One `Settings` object is shared by a viewer, its recording session, a `Recorder`, and the files
they write (`.npz` histories and run folders record it as JSON), so each default is written here
only.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_BINS = 64
"""Histogram bins of every snapshot."""

DEFAULT_MAX_VALUES = 262_144
"""Most values of one display array sent to the front-end."""

DEFAULT_BUDGET_MB = 512
"""Memory budget of a history (and of the full arrays of a run folder), in MB."""

MAX_BINS = 4096
"""Most histogram bins: a histogram is drawn a few hundred pixels wide, so more bins than this
show nothing more, while every step keeps `bins` counts per layer (4096 bins: 16 KB per layer and
step, kept whatever the budget)."""

MAX_MAX_VALUES = 2**24
"""Most values of one display array (16,777,216): twice the pixels of a 4K screen, 32 MB of
float16 per layer and step. More cannot be seen, and would be sent to the browser at every step."""

MAX_BUDGET_MB = 2**20
"""Largest memory budget, in MB (1 TiB): more than the memory of any machine the history lives
on, so a larger number is a mistake of unit (bytes passed as MB), refused before it is used."""


def refuse_other_keywords(who: str, kwargs: Mapping[str, Any], accepted: Sequence[str]) -> None:
    """Raise a `TypeError` naming the unexpected keyword arguments and listing the accepted ones.

    Args:
        who: The class or function that received them, e.g. `"TensorViewer"`.
        kwargs: The keyword arguments left over.
        accepted: The keyword arguments `who` accepts.
    """
    if kwargs:
        names = ", ".join(repr(k) for k in kwargs)
        close = difflib.get_close_matches(next(iter(kwargs)), list(accepted), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"{who} got an unexpected keyword argument {names}.{hint} It accepts: "
            f"{', '.join(accepted)}."
        )


def _check_integer(
    who: str, name: str, value: Any, bounds: tuple[int, int], default: int, meaning: str
) -> None:
    """Refuse `value` unless it is an integer (not a bool) in `bounds`; the error names `name`."""
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(
            f"{who} received {name}={value!r}; it must be an integer >= {lo} and at most "
            f"{hi:,} ({meaning}). Pass e.g. `{name}={default:_}`, the default."
        )


@dataclass(frozen=True)
class Settings:
    """How steps are reduced and how much of them is kept.

    Attributes:
        bins: Histogram bins, an integer in [2, 4096] (`MAX_BINS`). Defaults to `64`.
        max_values: Most values per display array, an integer in [1, 2**24]
            (`MAX_MAX_VALUES`). Defaults to `262_144`.
        budget_bytes: Memory budget of the history, in bytes, > 0 and at most 1 TiB
            (`MAX_BUDGET_MB`). Defaults to 512 MB.

    The upper bounds are checked before anything is allocated: a viewer sizes its figures by
    `bins`, so `bins=10**9` would take gigabytes before any other check.

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
            ValueError: If `bins` is not in [2, 4096], `max_values` not in [1, 2**24],
                `budget_mb` not in (0, 2**20], or one is not a number.
        """
        _check_integer(
            who, "bins", bins, (2, MAX_BINS), DEFAULT_BINS, "the number of histogram bins"
        )
        _check_integer(
            who,
            "max_values",
            max_values,
            (1, MAX_MAX_VALUES),
            DEFAULT_MAX_VALUES,
            "the most values of a display array sent to the front-end",
        )
        if (
            isinstance(budget_mb, bool)
            or not isinstance(budget_mb, numbers.Real)
            or not math.isfinite(budget_mb)
            or not 0 < budget_mb <= MAX_BUDGET_MB
        ):
            raise ValueError(
                f"{who} received budget_mb={budget_mb!r}; it must be a finite number of MB "
                f"> 0 and at most {MAX_BUDGET_MB:_} (1 TiB; the memory budget of the history). "
                f"Pass e.g. `budget_mb={DEFAULT_BUDGET_MB}`, the default."
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
