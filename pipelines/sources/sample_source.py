"""The offline sample set behind the same bar-source interface as the live providers."""

from __future__ import annotations

import pandas as pd

from pipelines.sources.base import BarPage
from pipelines.sources.sample import SERIES, sample_bars
from pipelines.errors import DataError


class SampleSource:
    """Pages over the sample series shipped by Python packages (no network)."""

    name = "sample"

    def __init__(self, page_limit: int = 5000) -> None:
        self.page_limit = page_limit
        self._cache: dict[str, pd.DataFrame] = {}

    def close(self) -> None:
        self._cache.clear()

    def _series(self, symbol: str) -> pd.DataFrame:
        if symbol not in self._cache:
            self._cache[symbol] = sample_bars(symbol)[0]
        return self._cache[symbol]

    def bar_page(self, symbol: str, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp | None = None) -> BarPage:
        spec = SERIES.get(symbol)
        if spec is None:
            raise DataError(f"no sample series {symbol!r}: one of {', '.join(SERIES)}")
        if timeframe != spec.timeframe:
            raise DataError(f"sample {symbol} has {spec.timeframe} bars, not {timeframe}")
        bars = self._series(symbol)
        sel = bars[bars["ts"] >= start]
        if end is not None:
            sel = sel[sel["ts"] < end]
        page = sel.iloc[: self.page_limit].reset_index(drop=True)
        nxt = None
        if len(sel) > self.page_limit:
            nxt = sel["ts"].iloc[self.page_limit]
        return BarPage(page, next_start=nxt)
