"""Feature specs: what a feature is called, which family it belongs to, how it is computed and how
many bars of history it needs before its value is valid (its look-back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd


@dataclass(frozen=True)
class FeatureContext:
    """What a feature may use besides the symbol's own bars, all as known at each bar:
    other symbols' bars (for cross-asset features), macro observations and news/sentiment.
    Every frame carries ``known_at`` and a feature must as-of join on it, never on ``ts`` alone."""

    symbol: str = ""
    asset_class: str = ""
    timeframe: str = ""
    peers: dict[str, pd.DataFrame] = field(default_factory=dict)
    macro: pd.DataFrame | None = None
    news: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)


FeatureFn = Callable[[pd.DataFrame, FeatureContext], pd.DataFrame]


@dataclass(frozen=True)
class FeatureSpec:
    """One function that yields one or more named feature columns.

    ``fn(bars, ctx)`` gets one symbol's bars sorted by ``ts`` (columns ts, open, high, low, close,
    volume, known_at; a RangeIndex) and returns a frame with exactly ``columns``, row-aligned with
    ``bars``. ``lookback`` is the number of leading rows whose values are not yet valid; the
    engine drops them. Row t may only depend on rows <= t (checked by the prefix test).
    ``needs`` names optional inputs (``volume``, ``peers``, ``macro``, ``news``); a spec whose
    needs the data cannot meet is skipped, not filled with zeros."""

    name: str
    family: str
    fn: FeatureFn
    columns: tuple[str, ...]
    lookback: int
    needs: tuple[str, ...] = ()
    description: str = ""
    # optional fast path: the same values as ``fn`` as {column: 1-D array}; the engine uses it
    # to skip building a frame per spec
    arrays: Callable[[pd.DataFrame, "FeatureContext"], dict[str, Any]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.lookback < 0:
            raise ValueError(f"{self.name}: lookback must be >= 0")
        if not self.columns:
            raise ValueError(f"{self.name}: a spec yields at least one column")


def single(name: str, family: str, lookback: int, fn: Callable[[pd.DataFrame, FeatureContext], pd.Series],
           needs: tuple[str, ...] = (), description: str = "") -> FeatureSpec:
    """A spec for a function returning one Series."""
    def wrapped(bars: pd.DataFrame, ctx: FeatureContext) -> pd.DataFrame:
        return pd.DataFrame({name: fn(bars, ctx)}, index=bars.index)
    return FeatureSpec(name, family, wrapped, (name,), lookback, needs, description)
