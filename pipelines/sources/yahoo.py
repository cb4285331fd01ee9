"""Yahoo Finance history (stocks, indices, forex) through yfinance.

yfinance hard-codes Yahoo's hosts but takes a ``session=``: the session given here maps those
hosts to the configured base URL and sends the chart calls
(``GET {base}/v8/finance/chart/{symbol}?period1=&period2=&interval=``) through the shared
rate-limited, retrying HTTP client, which also rejects a malformed chart before yfinance reads
it. yfinance's own cookie and crumb requests go to the same base URL as they are. yfinance keeps
one session per process (its ``YfData`` singleton, with the crumb, the cookie and an in-process
cache of past ranges); each source here has a ``YfData`` of its own instead, so two sources with
different settings in one process (another base URL, other limits) never use each other's
session, crumb or cached responses, and the singleton never holds a Meridian session.
yfinance's on-disk caches (tickers' time zones, Yahoo's cookie) live under the Meridian home,
``<home>/cache/yfinance``, not the user's cache folder; yfinance reads that location once per
process, when it first uses the cache.
Intraday history is requested in windows within Yahoo's limits
(1m: 7 days per request and the last 30 days only; 2m-30m: the last 60 days; 1h: the last 730
days); a backfill asking for older intraday bars starts at the oldest Yahoo serves.

Daily and longer bars carry the trading date at 00:00 UTC (the bar is known one period later);
intraday bars keep Yahoo's UTC timestamps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import yfinance as yf
from yfinance import cache as yf_cache
from yfinance.data import YfData

from pipelines.errors import DataError, SourceError
from pipelines.sources.base import BarPage, require
from pipelines.config import meridian_home
from pipelines.times import as_utc
from pipelines.config.sources import ProviderConfig
from pipelines.schema import BARS, empty_frame
from pipelines.sources.http import HttpClient
from pipelines.sources.library_session import LibrarySession
from pipelines.validation import ValidationReport, validate_bars

log = logging.getLogger(__name__)

INTERVALS = {"1m": "1m", "2m": "2m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "60m",
             "1d": "1d", "1w": "1wk", "1M": "1mo"}
WINDOW_DAYS = {"1m": 7, "2m": 59, "5m": 59, "15m": 59, "30m": 59, "1h": 729, "1d": 3650,
               "1w": 3650 * 3, "1M": 3650 * 3}
# how far back Yahoo serves intraday bars at all
LOOKBACK_DAYS = {"1m": 29, "2m": 59, "5m": 59, "15m": 59, "30m": 59, "1h": 729}
YAHOO_HOSTS = ("https://query1.finance.yahoo.com", "https://query2.finance.yahoo.com",
               "https://fc.yahoo.com", "https://finance.yahoo.com")
ASSET_CLASS = {"EQUITY": "stock", "ETF": "stock", "MUTUALFUND": "stock", "INDEX": "index",
               "CURRENCY": "forex", "CRYPTOCURRENCY": "crypto", "FUTURE": "commodity"}


def check_chart(payload: Any, symbol: str) -> None:
    """Reject a chart response yfinance would read past: Yahoo's own error, a missing series, a
    price column of the wrong length or holding a non-number."""
    require(isinstance(payload, dict) and isinstance(payload.get("chart"), dict), "Yahoo",
            "missing 'chart' object")
    chart = payload["chart"]
    if chart.get("error"):
        err = chart["error"]
        raise SourceError(f"Yahoo chart error for {symbol}: {err.get('code')}: {err.get('description')}")
    results = chart.get("result")
    require(isinstance(results, list) and len(results) == 1, "Yahoo", "chart.result must hold one series")
    res = results[0]
    ts = res.get("timestamp") or []
    if not ts:
        return
    q = ((res.get("indicators") or {}).get("quote") or [{}])[0]
    for field in ("open", "high", "low", "close", "volume"):
        vals = q.get(field)
        if field == "volume" and vals is None:
            continue
        require(isinstance(vals, list) and len(vals) == len(ts), "Yahoo",
                f"indicators.quote[0].{field} missing or of the wrong length")
        require(all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals),
                "Yahoo", f"{field} holds a non-number")


def bars_from_history(frame: pd.DataFrame, meta: dict, symbol: str, timeframe: str) -> tuple[pd.DataFrame, Any]:
    """yfinance's history frame (exchange-local index, Open/High/Low/Close/Volume) -> canonical
    bars and the validation report. Daily and longer bars keep the exchange's trading date."""
    if frame.empty:
        return empty_frame(BARS), ValidationReport()
    idx = pd.DatetimeIndex(frame.index)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    stamps = (idx.tz_localize(None).normalize().tz_localize("UTC") if timeframe in ("1d", "1w", "1M")
              else idx.tz_convert("UTC"))
    raw = pd.DataFrame({"ts": stamps, **{c.lower(): frame[c].to_numpy(dtype=float)
                                         for c in ("Open", "High", "Low", "Close", "Volume")}})
    asset = ASSET_CLASS.get(str(meta.get("instrumentType", "EQUITY")).upper(), "stock")
    return validate_bars(raw, symbol=symbol, asset_class=asset, timeframe=timeframe,
                         venue=str(meta.get("exchangeName") or "yahoo"), tz="UTC",
                         what=f"yahoo {symbol} {timeframe}")


def use_cache_dir(path: Path) -> Path:
    """Point yfinance's on-disk caches at ``path`` (made when missing); returns it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if Path(yf_cache._TzDBManager.get_location()) != path:
        yf.set_tz_cache_location(str(path))   # all of its caches: time zones, cookie, ISINs
    return path


def _own_data(session: LibrarySession) -> YfData:
    """A ``YfData`` for one source alone (yfinance's metaclass would hand back its singleton)."""
    data = YfData.__new__(YfData)
    data.__init__(session=session)
    return data


def _bootstrap(url: str) -> bool:
    """yfinance's cookie and crumb requests: sent as they are, yfinance handles their failures."""
    return "/v8/finance/chart/" not in url


class YahooSource:
    """Stocks, indices (``^GSPC``) and forex (``EURUSD=X``) bars from Yahoo's chart API."""

    name = "yahoo"

    def __init__(self, cfg: ProviderConfig, http: HttpClient | None = None, cache_dir: Path | None = None) -> None:
        self.http = http or HttpClient("Yahoo Finance", cfg)
        self.session = LibrarySession(self.http, hosts=YAHOO_HOSTS, passthrough=_bootstrap,
                                      check=self._check)
        self.data = _own_data(self.session)
        self.cache_dir = use_cache_dir(cache_dir or meridian_home() / "cache" / "yfinance")
        yf.config.debug.hide_exceptions = False  # a failed call raises here, it is not just logged

    def _check(self, url: str, body: Any) -> None:
        if "/v8/finance/chart/" in url:
            check_chart(body, url.rsplit("/", 1)[-1])

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
        ticker = yf.Ticker(symbol)
        ticker._data = self.data   # before the history loads, which reads it
        frame = ticker.history(start=start, end=stop, interval=INTERVALS[timeframe], auto_adjust=False,
                               actions=False, repair=False, prepost=False, keepna=True)
        bars, rep = bars_from_history(frame, ticker.history_metadata or {}, symbol, timeframe)
        bars = bars[(bars["ts"] >= start) & (bars["ts"] < stop)].reset_index(drop=True)
        return BarPage(bars, rep, stop if stop < end else None)
