"""What every bar source offers the ingestion layer, and the shared page record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pandas as pd

from pipelines.errors import DataError
from pipelines.schema import BARS, MACRO, conform, empty_frame
from pipelines.validation import ValidationReport


@dataclass
class BarPage:
    """One page of canonical bars. ``next_start`` is where the following page begins (None when
    the provider has nothing after this page)."""

    bars: pd.DataFrame
    report: ValidationReport = field(default_factory=ValidationReport)
    next_start: pd.Timestamp | None = None

    @classmethod
    def empty(cls) -> "BarPage":
        return cls(empty_frame(BARS), ValidationReport(), None)


@runtime_checkable
class BarSource(Protocol):
    """A provider of historical bars, one page per call."""

    name: str

    def bar_page(self, symbol: str, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp | None = None) -> BarPage:
        """Bars with ts >= start (and < end when given), at most one provider page."""

    def close(self) -> None: ...


def closed_only(bars: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Drop bars that are not final yet: a bar is final once its close (known_at) is <= now."""
    return bars[bars["known_at"] <= now].reset_index(drop=True)


def require(cond: bool, provider: str, what: str) -> None:
    """Reject a malformed payload with the reason, before anything reaches the store."""
    if not cond:
        raise DataError(f"{provider}: malformed payload: {what}")


def macro_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows of (series_id, source, ts, known_at, value) as canonical MACRO records."""
    return conform(pd.DataFrame(rows, columns=MACRO.columns), MACRO)
