"""Alpha Vantage: series and news through real HTTP, and the limits it reports in 200 bodies."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines.errors import DataError, RateLimitError, SourceError
from pipelines.sources.alphavantage import AlphaVantageSource, parse_news, parse_series

UTC = "UTC"
MINUTE_NOTE = {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls "
                       "per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ "
                       "if you would like to target a higher API call frequency."}
DAILY_NOTE = {"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 500 "
                             "requests per day. Please subscribe to any of the premium plans."}


def test_daily_intraday_fx_and_news(replay, sources_cfg):
    av = AlphaVantageSource(sources_cfg.alphavantage)
    daily = av.bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC)).bars
    assert list(daily["ts"].dt.day) == [8, 9, 10, 11, 12] and daily["close"].iloc[-1] == 185.92
    intr = av.bar_page("AAPL", "1m", pd.Timestamp("2024-01-12", tz=UTC), pd.Timestamp("2024-03-01", tz=UTC))
    # 10:30 US/Eastern is 15:30 UTC
    assert intr.bars["ts"].iloc[0] == pd.Timestamp("2024-01-12 15:30", tz=UTC) and len(intr.bars) == 6
    assert intr.next_start == pd.Timestamp("2024-02-01", tz=UTC)
    assert replay.requests[-1][1]["month"] == "2024-01"
    fx = av.bar_page("EUR/USD", "1d", pd.Timestamp("2024-01-01", tz=UTC)).bars
    assert set(fx["asset_class"]) == {"forex"} and len(fx) == 2
    news = av.news(["AAPL"], pd.Timestamp("2024-01-10", tz=UTC))
    assert len(news) == 2 and news["item_id"].str.startswith("alphavantage:").all()
    assert json.loads(news["tickers"].iloc[1]) == ["AAPL", "MSFT"]
    assert replay.requests[-1][1]["apikey"] == "test-secret-key"


def test_minute_note_backs_off_and_retries(replay, sources_cfg):
    replay.fail("/alphavantage/query", 200, MINUTE_NOTE, times=2)
    av = AlphaVantageSource(sources_cfg.alphavantage)
    bars = av.bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC)).bars
    assert len(bars) == 5 and replay.hits["/alphavantage/query"] == 3


def test_daily_note_is_a_readable_quota_error(replay, sources_cfg):
    replay.fail("/alphavantage/query", 200, DAILY_NOTE)
    av = AlphaVantageSource(sources_cfg.alphavantage)
    with pytest.raises(RateLimitError, match=r"Alpha Vantage daily quota of 500 reached; next window at \d{4}-"):
        av.bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC))
    hits = replay.hits["/alphavantage/query"]
    with pytest.raises(RateLimitError, match="daily quota of 500"):  # no further call is made
        av.bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC))
    assert replay.hits["/alphavantage/query"] == hits


def test_our_own_daily_budget_stops_before_the_provider_does(replay, sources_cfg):
    cfg = sources_cfg.alphavantage.model_copy(update={"per_day": 2})
    av = AlphaVantageSource(cfg)
    for _ in range(2):
        av.bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC))
    with pytest.raises(RateLimitError, match="Alpha Vantage daily quota of 2 reached; next window at"):
        av.bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC))
    assert replay.hits["/alphavantage/query"] == 2


def test_error_message_and_malformed_series(replay, sources_cfg):
    av = AlphaVantageSource(sources_cfg.alphavantage)
    replay.fail("/alphavantage/query", 200, {"Error Message": "Invalid API call. Please retry or visit the documentation"})
    with pytest.raises(SourceError, match="Invalid API call"):
        av.bar_page("NOPE", "1d", pd.Timestamp("2024-01-01", tz=UTC))
    bad = {"Meta Data": {}, "Time Series (Daily)": {"2024-01-12": {"1. open": "1", "2. high": "2"}}}
    with pytest.raises(DataError, match="lacks low"):
        parse_series(bad, "AAPL", "1d", "stock")
    strings = {"Meta Data": {}, "Time Series (Daily)": {
        "2024-01-12": {"1. open": "n/a", "2. high": "2", "3. low": "1", "4. close": "1.5", "5. volume": "1"},
        "2024-01-11": {"1. open": "1.2", "2. high": "2", "3. low": "1", "4. close": "1.5", "5. volume": "1"}}}
    bars, rep = parse_series(strings, "AAPL", "1d", "stock")
    assert len(bars) == 1 and rep.rejected == {"nan_price": 1}


def test_recorded_alpha_vantage_payloads(shared_data):
    root = shared_data / "api_fixtures/alpha_vantage"
    daily, rep = parse_series(json.loads((root / "TIME_SERIES_DAILY_AAPL_compact.json").read_text()),
                              "AAPL", "1d", "stock")
    assert len(daily) == 100 and daily["ts"].iloc[-1] == pd.Timestamp("2024-12-23", tz=UTC)
    assert daily["close"].iloc[-1] == 255.27 and not rep.rejected
    intraday, _ = parse_series(json.loads((root / "mock_time_series.json").read_text()), "MSFT", "1m", "stock")
    assert intraday["ts"].iloc[-1] == pd.Timestamp("2017-12-18 19:56", tz=UTC)  # 14:56 US/Eastern
    # the old DIGITAL_CURRENCY_INTRADAY answer holds prices only, no OHLC: not bars
    with pytest.raises(DataError, match="lacks open"):
        parse_series(json.loads((root / "mock_crypto_currencies.json").read_text()), "BTC/CNY", "5m", "crypto")
    news = parse_news(json.loads((root / "NEWS_SENTIMENT_AAPL.json").read_text()), pd.Timestamp.now(tz=UTC))
    assert len(news) == 50 and news["item_id"].is_unique
    assert news["published_at"].max() == pd.Timestamp("2024-12-23 20:32:22", tz=UTC)
    # the provider's own sentiment is kept: overall score and label, per ticker, topics
    raw = json.loads((root / "NEWS_SENTIMENT_AAPL.json").read_text())["feed"]
    assert sorted(news["provider_score"]) == sorted(float(it["overall_sentiment_score"]) for it in raw)
    assert news["provider_label"].notna().all() and news["provider_score"].between(-1, 1).all()
    per = [json.loads(p) for p in news["provider_tickers"]]
    assert sum(any(t["ticker"] == "AAPL" for t in p) for p in per) > 40
    assert all(0 <= t["relevance"] <= 1 and -1 <= t["score"] <= 1 for p in per for t in p)
    assert any(json.loads(t) for t in news["topics"])
