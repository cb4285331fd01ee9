"""Alpha Vantage: intraday/daily stock series, FX, crypto and NEWS_SENTIMENT (free tier: 5 calls
per minute, 500 per day).

Alpha Vantage reports limits inside a 200 response: a body whose only content is a "Note" or
"Information" message. A note that names the per-minute frequency backs off and retries (after
``retry.backoff_max`` seconds); one that names only a daily limit exhausts the
limiter's daily window and raises RateLimitError("Alpha Vantage daily quota of 500 reached;
next window at ...")."""

from __future__ import annotations

import json
import math

from typing import Any

import pandas as pd

from pipelines.errors import DataError, RateLimitError, SourceError
from pipelines.sources.base import BarPage, require
from pipelines.times import as_utc, utc_now
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient
from pipelines.sources.news import news_frame, news_id
from pipelines.validation import validate_bars

INTRADAY = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "60min"}
CRYPTO = {"BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "LTC", "DOT", "AVAX"}
_FIELDS = {"open": ("1. open", "1a. open (USD)"), "high": ("2. high", "2a. high (USD)"),
           "low": ("3. low", "3a. low (USD)"), "close": ("4. close", "4a. close (USD)"),
           "volume": ("5. volume", "5. volume")}


class _MinuteLimit(Exception):
    pass


class _DailyLimit(Exception):
    pass


def check_body(body: Any) -> None:
    """Raise on Alpha Vantage's in-band errors and limit notes."""
    if not isinstance(body, dict):
        return
    if "Error Message" in body:
        raise SourceError(f"Alpha Vantage: {body['Error Message']}")
    note = body.get("Note") or body.get("Information")
    data_keys = [k for k in body if k not in ("Note", "Information", "Meta Data")]
    if note and not data_keys:
        text = str(note).lower()
        if ("per day" in text or "daily" in text) and "per minute" not in text:
            raise _DailyLimit(str(note))
        if "premium" in text and "per minute" not in text and "frequency" not in text:
            raise SourceError(f"Alpha Vantage: {note}")
        raise _MinuteLimit(str(note))


def _series_key(body: dict) -> str:
    keys = [k for k in body if k.startswith("Time Series")]
    require(len(keys) == 1, "Alpha Vantage", f"expected one 'Time Series' object, got keys {list(body)[:5]}")
    return keys[0]


def parse_series(body: Any, symbol: str, timeframe: str, asset_class: str):
    """A TIME_SERIES_* / FX_* / DIGITAL_CURRENCY_* body -> canonical bars and the report."""
    check_body(body)
    require(isinstance(body, dict), "Alpha Vantage", "body must be a JSON object")
    series = body[_series_key(body)]
    require(isinstance(series, dict), "Alpha Vantage", "time series must be an object of timestamps")
    meta = body.get("Meta Data") or {}
    tz = next((v for k, v in meta.items() if "Time Zone" in k), "UTC")
    rows = []
    for stamp, vals in series.items():
        require(isinstance(vals, dict), "Alpha Vantage", f"row {stamp} is not an object")
        row: dict[str, Any] = {"ts": stamp}
        for name, keys in _FIELDS.items():
            key = next((k for k in keys if k in vals), None)
            if key is None and name != "volume":
                raise DataError(f"Alpha Vantage: malformed payload: row {stamp} lacks {name}")
            row[name] = vals.get(key) if key else None
        rows.append(row)
    raw = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
    for c in ("open", "high", "low", "close", "volume"):
        raw[c] = pd.to_numeric(raw[c], errors="coerce")
    daily = timeframe in ("1d", "1w", "1M")
    raw["ts"] = pd.to_datetime(raw["ts"], errors="coerce")
    return validate_bars(raw, symbol=symbol, asset_class=asset_class, timeframe=timeframe,
                         venue="alphavantage", tz="UTC" if daily else tz, what=f"alphavantage {symbol}")


def parse_news(body: Any, seen_at: pd.Timestamp) -> pd.DataFrame:
    check_body(body)
    require(isinstance(body, dict) and isinstance(body.get("feed"), list), "Alpha Vantage",
            "NEWS_SENTIMENT needs a 'feed' array")
    rows = []
    for i, it in enumerate(body["feed"]):
        require(isinstance(it, dict) and "title" in it and "time_published" in it, "Alpha Vantage",
                f"feed item {i} lacks title/time_published")
        published = pd.to_datetime(it["time_published"], format="%Y%m%dT%H%M%S", errors="coerce")
        require(not pd.isna(published), "Alpha Vantage", f"feed item {i} time_published {it['time_published']!r}")
        published = published.tz_localize("UTC")  # taken as UTC
        per_ticker = [{"ticker": str(t["ticker"]).upper(), "score": _num(t.get("ticker_sentiment_score")),
                       "label": t.get("ticker_sentiment_label"), "relevance": _num(t.get("relevance_score"))}
                      for t in it.get("ticker_sentiment") or [] if isinstance(t, dict) and t.get("ticker")]
        tickers = [t["ticker"] for t in per_ticker]
        topics = [{"topic": t.get("topic"), "relevance": _num(t.get("relevance_score"))}
                  for t in it.get("topics") or [] if isinstance(t, dict) and t.get("topic")]
        rows.append({"item_id": news_id("alphavantage", None, it.get("url"), it["title"]),
                     "provider": "alphavantage", "published_at": published,
                     "known_at": max(seen_at, published), "headline": it["title"],
                     "summary": it.get("summary") or "", "url": it.get("url"), "source": it.get("source"),
                     "tickers": tickers, "kind": it.get("category_within_source") or "news",
                     "provider_score": _num(it.get("overall_sentiment_score")),
                     "provider_label": it.get("overall_sentiment_label"),
                     "provider_tickers": json.dumps(per_ticker), "topics": json.dumps(topics)})
    return news_frame(rows)


def _num(x: Any) -> float | None:
    """A provider number sent as a number or a string; None when absent or not a finite number."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class AlphaVantageSource:
    name = "alphavantage"

    def __init__(self, cfg: ProviderConfig, http: HttpClient | None = None) -> None:
        self.cfg = cfg
        self.http = http or HttpClient("Alpha Vantage", cfg)
        self._key = cfg.api_key("Alpha Vantage")

    def close(self) -> None:
        self.http.close()

    def query(self, function: str, **params: Any) -> Any:
        """One /query call; limit notes handled as the module docstring says."""
        params = {"function": function, **params, "apikey": self._key}
        last = ""
        for attempt in range(self.cfg.retry.attempts):
            try:
                return self.http.get_json("/query", params, check=check_body)
            except _MinuteLimit as note:
                wait = self.cfg.retry.backoff_max
                self.http.limiter.block_for(wait)
                last = str(note)
            except _DailyLimit as note:
                self.http.limiter.exhaust(86400)
                try:
                    self.http.limiter.acquire()  # raises, naming the next window
                except RateLimitError as exc:
                    raise RateLimitError(f"{exc} (provider said: {note})") from None
                raise RateLimitError(f"Alpha Vantage daily quota reached: {note}") from None
        raise RateLimitError(f"Alpha Vantage per-minute limit persisted after {self.cfg.retry.attempts} "
                             f"tries: {last}")

    def _kind(self, symbol: str) -> tuple[str, str, str]:
        if "/" in symbol:
            base, quote = symbol.split("/", 1)
            return ("crypto" if base.upper() in CRYPTO else "forex"), base.upper(), quote.upper()
        return "stock", symbol.upper(), ""

    def bar_page(self, symbol: str, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp | None = None) -> BarPage:
        start = as_utc(start)
        end = as_utc(end) if end is not None else utc_now()
        kind, base, quote = self._kind(symbol)
        nxt = None
        if timeframe == "1d":
            if kind == "forex":
                body = self.query("FX_DAILY", from_symbol=base, to_symbol=quote, outputsize="full")
            elif kind == "crypto":
                body = self.query("DIGITAL_CURRENCY_DAILY", symbol=base, market=quote)
            else:
                body = self.query("TIME_SERIES_DAILY", symbol=base, outputsize="full")
        elif timeframe in INTRADAY:
            if kind == "forex":
                body = self.query("FX_INTRADAY", from_symbol=base, to_symbol=quote,
                                  interval=INTRADAY[timeframe], outputsize="full")
            elif kind == "crypto":
                body = self.query("CRYPTO_INTRADAY", symbol=base, market=quote,
                                  interval=INTRADAY[timeframe], outputsize="full")
            else:
                month = start.strftime("%Y-%m")
                body = self.query("TIME_SERIES_INTRADAY", symbol=base, interval=INTRADAY[timeframe],
                                  month=month, outputsize="full", extended_hours="false")
                first_next = (start.tz_localize(None).to_period("M") + 1).start_time.tz_localize("UTC")
                nxt = first_next if first_next < end else None
        else:
            raise DataError(f"Alpha Vantage has no {timeframe!r} series: 1d or one of {sorted(INTRADAY)}")
        bars, rep = parse_series(body, symbol, timeframe, kind)
        bars = bars[(bars["ts"] >= start) & (bars["ts"] < end)].reset_index(drop=True)
        return BarPage(bars, rep, nxt)

    def news(self, tickers: list[str], since: pd.Timestamp, limit: int = 200) -> pd.DataFrame:
        body = self.query("NEWS_SENTIMENT", tickers=",".join(tickers),
                          time_from=as_utc(since).strftime("%Y%m%dT%H%M"), limit=limit)
        return parse_news(body, utc_now())
