"""Twelve Data time series (free tier: 8 calls/min, 800/day).

``GET /time_series?symbol=&interval=&start_date=&end_date=&outputsize=5000&timezone=UTC``
answers ``{"meta": {...}, "values": [{"datetime", "open", ...}], "status": "ok"}`` newest first,
at most ``outputsize`` rows of the range; pages are therefore windows no longer than
``outputsize`` bars. Errors come as ``{"code": 429|400|..., "message": ..., "status": "error"}``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.errors import DataError, RateLimitError, SourceError
from pipelines.times import timeframe_offset
from pipelines.sources.base import BarPage, require
from pipelines.times import as_utc, utc_now
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient
from pipelines.validation import validate_bars

INTERVALS = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h", "2h": "2h",
             "4h": "4h", "1d": "1day", "1w": "1week", "1M": "1month"}
ASSET = {"common stock": "stock", "etf": "stock", "physical currency": "forex",
         "digital currency": "crypto", "index": "index"}
OUTPUTSIZE = 5000


def check_body(body: Any) -> None:
    if isinstance(body, dict) and body.get("status") == "error":
        code, msg = body.get("code"), body.get("message", "")
        if code == 429:
            raise RateLimitError(f"Twelve Data rate limit reached: {msg}")
        raise SourceError(f"Twelve Data error {code}: {msg}")


def parse_time_series(body: Any, symbol: str, timeframe: str):
    check_body(body)
    require(isinstance(body, dict) and isinstance(body.get("values"), list), "Twelve Data",
            "time_series needs a 'values' array")
    meta = body.get("meta") or {}
    rows = []
    for i, v in enumerate(body["values"]):
        require(isinstance(v, dict) and all(k in v for k in ("datetime", "open", "high", "low", "close")),
                "Twelve Data", f"value {i} lacks datetime/open/high/low/close")
        rows.append(v)
    raw = pd.DataFrame(rows, columns=["datetime", "open", "high", "low", "close", "volume"]).rename(
        columns={"datetime": "ts"})
    raw["ts"] = pd.to_datetime(raw["ts"], errors="coerce")
    asset = ASSET.get(str(meta.get("type", "")).lower(), "stock")
    return validate_bars(raw, symbol=symbol, asset_class=asset, timeframe=timeframe,
                         venue=str(meta.get("exchange") or "twelvedata"), tz="UTC",
                         what=f"twelvedata {symbol} {timeframe}")


class TwelveDataSource:
    name = "twelvedata"

    def __init__(self, cfg: ProviderConfig, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient("Twelve Data", cfg)
        self._key = cfg.api_key("Twelve Data")
        self.outputsize = cfg.page_limit or OUTPUTSIZE

    def close(self) -> None:
        self.http.close()

    def bar_page(self, symbol: str, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp | None = None) -> BarPage:
        if timeframe not in INTERVALS:
            raise DataError(f"Twelve Data has no {timeframe!r} series: one of {sorted(INTERVALS)}")
        start = as_utc(start)
        end = as_utc(end) if end is not None else utc_now()
        stop = min(end, start + timeframe_offset(timeframe) * self.outputsize)
        fmt = "%Y-%m-%d %H:%M:%S"
        body = self.http.get_json("/time_series", {
            "symbol": symbol, "interval": INTERVALS[timeframe], "start_date": start.strftime(fmt),
            "end_date": stop.strftime(fmt), "outputsize": self.outputsize, "timezone": "UTC",
            "order": "ASC", "apikey": self._key}, check=check_body)
        bars, rep = parse_time_series(body, symbol, timeframe)
        bars = bars[(bars["ts"] >= start) & (bars["ts"] < stop)].reset_index(drop=True)
        return BarPage(bars, rep, stop if stop < end else None)
