"""Yahoo Finance history (stocks, indices, forex) through Yahoo's chart API.

yfinance hard-codes Yahoo's hosts and fetches a cookie and crumb from them before any call, so
it cannot be pointed at another base URL; this client speaks the same endpoint yfinance uses,
``GET {base}/v8/finance/chart/{symbol}?period1=&period2=&interval=``, through the shared
rate-limited HTTP client. Intraday history is requested in windows within Yahoo's limits
(1m: 7 days per request and the last 30 days only; 2m-30m: the last 60 days; 1h: the last 730
days); a backfill asking for older intraday bars starts at the oldest Yahoo serves.

Daily and longer bars carry the trading date at 00:00 UTC (the bar is known one period later);
intraday bars keep Yahoo's UTC timestamps."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import DataError, SourceError
from pipelines.sources.base import BarPage, require
from pipelines.times import as_utc
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient
from pipelines.validation import validate_bars

log = logging.getLogger(__name__)

INTERVALS = {"1m": "1m", "2m": "2m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "60m",
             "1d": "1d", "1w": "1wk", "1M": "1mo"}
WINDOW_DAYS = {"1m": 7, "2m": 59, "5m": 59, "15m": 59, "30m": 59, "1h": 729, "1d": 3650,
               "1w": 3650 * 3, "1M": 3650 * 3}
# how far back Yahoo serves intraday bars at all
LOOKBACK_DAYS = {"1m": 29, "2m": 59, "5m": 59, "15m": 59, "30m": 59, "1h": 729}
ASSET_CLASS = {"EQUITY": "stock", "ETF": "stock", "MUTUALFUND": "stock", "INDEX": "index",
               "CURRENCY": "forex", "CRYPTOCURRENCY": "crypto", "FUTURE": "commodity"}


def parse_chart(payload: Any, symbol: str, timeframe: str) -> tuple[pd.DataFrame, Any]:
    """A chart response -> canonical bars and the validation report."""
    require(isinstance(payload, dict) and isinstance(payload.get("chart"), dict), "Yahoo",
            "missing 'chart' object")
    chart = payload["chart"]
    if chart.get("error"):
        err = chart["error"]
        raise SourceError(f"Yahoo chart error for {symbol}: {err.get('code')}: {err.get('description')}")
    results = chart.get("result")
    require(isinstance(results, list) and len(results) == 1, "Yahoo", "chart.result must hold one series")
    res = results[0]
    meta = res.get("meta") or {}
    ts = res.get("timestamp") or []
    if not ts:
        from pipelines.schema import BARS, empty_frame
        from pipelines.validation import ValidationReport
        return empty_frame(BARS), ValidationReport()
    quotes = (res.get("indicators") or {}).get("quote") or [{}]
    q = quotes[0]
    for field in ("open", "high", "low", "close"):
        require(isinstance(q.get(field), list) and len(q[field]) == len(ts), "Yahoo",
                f"indicators.quote[0].{field} missing or of the wrong length")
    def col(name: str) -> np.ndarray:
        vals = q.get(name)
        if not isinstance(vals, list):
            return np.full(len(ts), np.nan)
        try:
            return np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"Yahoo: malformed payload: {name} holds a non-number") from None
    stamps = pd.to_datetime(np.asarray(ts, dtype="int64"), unit="s", utc=True)
    if timeframe in ("1d", "1w", "1M"):
        tzname = meta.get("exchangeTimezoneName") or "UTC"
        stamps = stamps.tz_convert(tzname).normalize().tz_localize(None).tz_localize("UTC")
    raw = pd.DataFrame({"ts": stamps, "open": col("open"), "high": col("high"), "low": col("low"),
                        "close": col("close"), "volume": col("volume")})
    asset = ASSET_CLASS.get(str(meta.get("instrumentType", "EQUITY")).upper(), "stock")
    return validate_bars(raw, symbol=symbol, asset_class=asset, timeframe=timeframe,
                         venue=str(meta.get("exchangeName") or "yahoo"), tz="UTC",
                         what=f"yahoo {symbol} {timeframe}")


class YahooSource:
    """Stocks, indices (``^GSPC``) and forex (``EURUSD=X``) bars from Yahoo's chart API."""

    name = "yahoo"

    def __init__(self, cfg: ProviderConfig, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient("Yahoo Finance", cfg)

    def close(self) -> None:
        self.http.close()

    def bar_page(self, symbol: str, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp | None = None) -> BarPage:
        if timeframe not in INTERVALS:
            raise DataError(f"Yahoo has no {timeframe!r} bars: one of {sorted(INTERVALS)}")
        start = as_utc(start)
        now = pd.Timestamp.now(tz="UTC")
        end = as_utc(end) if end is not None else now
        if timeframe in LOOKBACK_DAYS and start < now - pd.Timedelta(days=LOOKBACK_DAYS[timeframe]):
            oldest = (now - pd.Timedelta(days=LOOKBACK_DAYS[timeframe])).floor("D")
            log.warning("Yahoo serves %s bars for the last %d days only; starting at %s instead of %s",
                        timeframe, LOOKBACK_DAYS[timeframe], oldest.date(), start.date())
            start = oldest
        if start >= end:
            return BarPage.empty()
        stop = min(end, start + pd.Timedelta(days=WINDOW_DAYS[timeframe]))
        payload = self.http.get_json(f"/v8/finance/chart/{symbol}", {
            "period1": int(start.timestamp()), "period2": int(stop.timestamp()),
            "interval": INTERVALS[timeframe], "includePrePost": "false", "events": ""})
        bars, rep = parse_chart(payload, symbol, timeframe)
        bars = bars[(bars["ts"] >= start) & (bars["ts"] < stop)].reset_index(drop=True)
        return BarPage(bars, rep, stop if stop < end else None)
