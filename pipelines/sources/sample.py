"""The offline sample set: market data that Python packages ship, so the demo needs no network.

- ``arch.data`` (arch, NCSA licence): S&P 500 (SPX) and Nasdaq Composite (NDX) daily OHLCV
  1999-2018 from Yahoo Finance; VIX (2014-2019), WTI crude (DCOILWTICO, 1986-2019) and US core CPI
  (CPILFESL, monthly 1957-2018) from FRED, stored as macro series.
- ``backtesting.test`` (backtesting.py, AGPL-3.0, the optional ``sample`` extra): EURUSD hourly
  (2017-04 .. 2018-02, 5,000 bars), GOOG daily (2004-2013) and BTCUSD monthly (2012-2024).

Daily bars carry the trading date at 00:00 UTC and become known one day later (after the
close); monthly bars open on the first of the month. EURUSD hourly timestamps are taken as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from pipelines.errors import DataError
from pipelines.schema import MACRO
from pipelines.validation import ValidationReport, validate_bars


@dataclass(frozen=True)
class SampleSeries:
    symbol: str
    asset_class: str
    timeframe: str
    origin: str
    loader: Callable[[], pd.DataFrame]


def _arch(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import importlib
        return importlib.import_module(f"arch.data.{name}").load()
    return load


def _bt(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        try:
            import backtesting.test as bt
        except ImportError as exc:
            raise DataError(f"sample series {name} needs the optional 'sample' extra: "
                            "pip install 'meridian[sample]' (backtesting.py, AGPL-3.0)") from exc
        return getattr(bt, name).copy()
    return load


SERIES: dict[str, SampleSeries] = {s.symbol: s for s in (
    SampleSeries("SPX", "index", "1d", "arch.data.sp500 (Yahoo Finance ^GSPC)", _arch("sp500")),
    SampleSeries("NDX", "index", "1d", "arch.data.nasdaq (Yahoo Finance ^IXIC)", _arch("nasdaq")),
    SampleSeries("EURUSD", "forex", "1h", "backtesting.test.EURUSD", _bt("EURUSD")),
    SampleSeries("GOOG", "stock", "1d", "backtesting.test.GOOG", _bt("GOOG")),
    SampleSeries("BTCUSD", "crypto", "1M", "backtesting.test.BTCUSD", _bt("BTCUSD")),
)}

# FRED series shipped by arch.data: (loader, column, release lag after the observation date)
MACRO_SERIES: dict[str, tuple[Callable[[], pd.DataFrame], str, pd.Timedelta]] = {
    "VIXCLS": (_arch("vix"), "vix", pd.Timedelta(days=1)),
    "DCOILWTICO": (_arch("wti"), "DCOILWTICO", pd.Timedelta(days=1)),
    # CPI for month M is published around the middle of month M+1.
    "CPILFESL": (_arch("core_cpi"), "CPILFESL", pd.Timedelta(days=45)),
}


def sample_bars(symbol: str, max_bars: int | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Canonical bars of one sample series."""
    try:
        spec = SERIES[symbol]
    except KeyError:
        raise DataError(f"no sample series {symbol!r}: one of {', '.join(SERIES)}") from None
    raw = spec.loader()
    idx = pd.DatetimeIndex(raw.index)
    if spec.timeframe == "1M":  # stamped at month end; the bar opens on the first
        idx = idx.to_period("M").start_time
    df = pd.DataFrame({
        "ts": idx, "open": raw["Open"].to_numpy(), "high": raw["High"].to_numpy(),
        "low": raw["Low"].to_numpy(), "close": raw["Close"].to_numpy(),
        "volume": raw["Volume"].to_numpy() if "Volume" in raw else float("nan"),
    })
    if max_bars:
        df = df.iloc[-max_bars:]
    return validate_bars(df, symbol=symbol, asset_class=spec.asset_class, timeframe=spec.timeframe,
                         venue="sample", tz="UTC", what=f"sample {symbol}")


def sample_macro() -> pd.DataFrame:
    """The macro series as canonical macro observations (known at release, not observation)."""
    frames = []
    for series_id, (loader, column, lag) in MACRO_SERIES.items():
        raw = loader()[column]
        raw = pd.to_numeric(raw, errors="coerce").dropna()
        ts = pd.DatetimeIndex(raw.index).tz_localize("UTC")
        frames.append(pd.DataFrame({"series_id": series_id, "source": "arch.data", "ts": ts,
                                    "known_at": ts + lag, "value": raw.to_numpy()}))
    out = pd.concat(frames, ignore_index=True)
    return out[MACRO.columns]
