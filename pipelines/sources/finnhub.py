"""Finnhub: quotes, candles, company news and social sentiment (free tier: 60 calls/min).

Uses finnhub-python's ``Client`` for the endpoint surface; its requests go through the shared
rate-limited, retrying HTTP client against the configured base URL, with the key from the
environment (``FINNHUB_API_KEY``)."""

from __future__ import annotations

from typing import Any

import finnhub
import numpy as np
import pandas as pd

from pipelines.errors import DataError, SourceError
from pipelines.schema import BARS, MACRO, conform, empty_frame
from pipelines.sources.base import BarPage, require
from pipelines.times import as_utc, utc_now
from pipelines.config.sources import ProviderConfig
from pipelines.sources.http import HttpClient
from pipelines.sources.news import news_frame, news_id
from pipelines.validation import ValidationReport, validate_bars

RESOLUTIONS = {"1m": "1", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "1d": "D", "1w": "W", "1M": "M"}
PAGE_DAYS = {"1m": 30, "5m": 60, "15m": 120, "30m": 240, "1h": 365, "1d": 3650, "1w": 3650, "1M": 3650}


class _Client(finnhub.Client):
    """finnhub-python's client with its transport replaced by ours."""

    def __init__(self, http: HttpClient, api_key: str | None) -> None:
        super().__init__(api_key=api_key or "")
        self._http = http
        self._key = api_key

    def _request(self, method, path, **kwargs):  # noqa: ANN001 (finnhub's signature)
        params = self._format_params(kwargs.get("params", {}))
        params = {k: v for k, v in params.items() if v is not None}
        if self._key:
            params["token"] = self._key
        return self._http.get_json(path, params)


def _check(body: Any, what: str) -> None:
    if isinstance(body, dict) and "error" in body:
        raise SourceError(f"Finnhub {what}: {body['error']}")


def parse_candles(payload: Any, symbol: str, timeframe: str, asset_class: str = "stock"):
    _check(payload, "candles")
    require(isinstance(payload, dict) and "s" in payload, "Finnhub", "candles need a status field 's'")
    if payload["s"] == "no_data":
        return empty_frame(BARS), ValidationReport()
    require(payload["s"] == "ok", "Finnhub", f"candles status {payload['s']!r}")
    n = len(payload.get("t") or [])
    for f in ("o", "h", "l", "c", "t"):
        require(isinstance(payload.get(f), list) and len(payload[f]) == n, "Finnhub",
                f"candles field {f!r} missing or of the wrong length")
    try:
        raw = pd.DataFrame({"ts": pd.to_datetime(np.asarray(payload["t"], dtype="int64"), unit="s", utc=True),
                            **{k: np.asarray(payload[s], dtype=float) for k, s in
                               (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"))},
                            "volume": np.asarray(payload.get("v") or [np.nan] * n, dtype=float)})
    except (TypeError, ValueError):
        raise DataError("Finnhub: malformed payload: candles hold non-numbers") from None
    if timeframe in ("1d", "1w", "1M"):
        raw["ts"] = raw["ts"].dt.floor("D")
    return validate_bars(raw, symbol=symbol, asset_class=asset_class, timeframe=timeframe,
                         venue="finnhub", tz="UTC", what=f"finnhub {symbol} {timeframe}")


def parse_company_news(payload: Any, symbol: str, seen_at: pd.Timestamp) -> pd.DataFrame:
    _check(payload, "company news")
    require(isinstance(payload, list), "Finnhub", "company news must be a JSON array")
    rows = []
    for i, it in enumerate(payload):
        require(isinstance(it, dict) and "headline" in it and "datetime" in it, "Finnhub",
                f"news item {i} lacks headline/datetime")
        require(isinstance(it["datetime"], (int, float)), "Finnhub", f"news item {i} datetime is not unix seconds")
        published = pd.Timestamp(int(it["datetime"]), unit="s", tz="UTC")
        related = [t for t in str(it.get("related") or symbol).split(",") if t]
        rows.append({"item_id": news_id("finnhub", it.get("id"), it.get("url"), it["headline"]),
                     "provider": "finnhub", "published_at": published,
                     "known_at": max(seen_at, published), "headline": it["headline"],
                     "summary": it.get("summary") or "", "url": it.get("url"),
                     "source": it.get("source"), "tickers": related, "kind": it.get("category") or "company"})
    return news_frame(rows)


def parse_social_sentiment(payload: Any, symbol: str) -> pd.DataFrame:
    """Hourly social-sentiment rows -> macro series ``finnhub/social/<SYMBOL>/<field>``,
    each known at the end of its hour."""
    _check(payload, "social sentiment")
    require(isinstance(payload, dict) and isinstance(payload.get("data"), list), "Finnhub",
            "social sentiment needs a 'data' array")
    rows = []
    for it in payload["data"]:
        require(isinstance(it, dict) and "atTime" in it, "Finnhub", "social sentiment row lacks atTime")
        ts = as_utc(it["atTime"])
        for field in ("score", "mention", "positiveScore", "negativeScore"):
            if isinstance(it.get(field), (int, float)):
                rows.append({"series_id": f"finnhub/social/{symbol}/{field}", "source": "finnhub",
                             "ts": ts, "known_at": ts + pd.Timedelta(hours=1), "value": float(it[field])})
    return conform(pd.DataFrame(rows, columns=MACRO.columns), MACRO)


NEWS_SENTIMENT_FIELDS = {"companyNewsScore": ("companyNewsScore",), "bullishPercent": ("sentiment", "bullishPercent"),
                         "bearishPercent": ("sentiment", "bearishPercent"),
                         "sectorAverageNewsScore": ("sectorAverageNewsScore",),
                         "sectorAverageBullishPercent": ("sectorAverageBullishPercent",),
                         "buzz": ("buzz", "buzz"), "articlesInLastWeek": ("buzz", "articlesInLastWeek")}


def parse_news_sentiment(payload: Any, symbol: str, seen_at: pd.Timestamp) -> pd.DataFrame:
    """Finnhub's news-sentiment snapshot (it carries no time of its own) -> macro series
    ``finnhub/news/<SYMBOL>/<field>``, stamped and known at the time it was fetched."""
    _check(payload, "news sentiment")
    require(isinstance(payload, dict), "Finnhub", "news sentiment is not an object")
    seen_at = as_utc(seen_at)
    rows = []
    for name, path in NEWS_SENTIMENT_FIELDS.items():
        v: Any = payload
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            rows.append({"series_id": f"finnhub/news/{symbol}/{name}", "source": "finnhub",
                         "ts": seen_at, "known_at": seen_at, "value": float(v)})
    return conform(pd.DataFrame(rows, columns=MACRO.columns), MACRO)


class FinnhubSource:
    name = "finnhub"

    def __init__(self, cfg: ProviderConfig, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient("Finnhub", cfg)
        self.client = _Client(self.http, cfg.api_key("Finnhub"))

    def close(self) -> None:
        self.http.close()

    def quote(self, symbol: str) -> dict:
        q = self.client.quote(symbol)
        _check(q, "quote")
        require(isinstance(q, dict) and all(k in q for k in ("c", "t")), "Finnhub", "quote lacks c/t")
        return {"symbol": symbol, "price": float(q["c"]), "ts": pd.Timestamp(int(q["t"]), unit="s", tz="UTC"),
                "open": q.get("o"), "high": q.get("h"), "low": q.get("l"), "prev_close": q.get("pc")}

    def bar_page(self, symbol: str, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp | None = None) -> BarPage:
        if timeframe not in RESOLUTIONS:
            raise DataError(f"Finnhub has no {timeframe!r} candles: one of {sorted(RESOLUTIONS)}")
        start = as_utc(start)
        end = as_utc(end) if end is not None else utc_now()
        stop = min(end, start + pd.Timedelta(days=PAGE_DAYS[timeframe]))
        payload = self.client.stock_candles(symbol, RESOLUTIONS[timeframe], int(start.timestamp()),
                                            int(stop.timestamp()) - 1)
        bars, rep = parse_candles(payload, symbol, timeframe)
        bars = bars[(bars["ts"] >= start) & (bars["ts"] < stop)].reset_index(drop=True)
        return BarPage(bars, rep, stop if stop < end else None)

    def company_news(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        payload = self.client.company_news(symbol, _from=as_utc(start).strftime("%Y-%m-%d"),
                                           to=as_utc(end).strftime("%Y-%m-%d"))
        return parse_company_news(payload, symbol, utc_now())

    def social_sentiment(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        payload = self.client.stock_social_sentiment(symbol, _from=as_utc(start).strftime("%Y-%m-%d"),
                                                     to=as_utc(end).strftime("%Y-%m-%d"))
        return parse_social_sentiment(payload, symbol)

    def news_sentiment(self, symbol: str) -> pd.DataFrame:
        """Finnhub's news sentiment and buzz for the symbol now (a premium endpoint on Finnhub)."""
        return parse_news_sentiment(self.client.news_sentiment(symbol), symbol, utc_now())


