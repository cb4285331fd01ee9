"""Every provider's client through real HTTP against the replay server, canonical records out."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines.errors import ConfigError, DataError, RateLimitError, SourceError
from pipelines.ingest.backfill import backfill_bars
from pipelines.schema import BARS, MACRO, NEWS
from pipelines.sources.finnhub import FinnhubSource
from pipelines.sources.blockchain import BlockchainSource
from pipelines.sources.coingecko import CoinGeckoSource
from pipelines.sources.fred import FredSource
from pipelines.sources.bar_sources import bar_source
from pipelines.sources.twelvedata import TwelveDataSource
from pipelines.sources.yahoo import YahooSource

UTC = "UTC"


def test_yahoo_daily_bars_carry_the_trading_date(replay, sources_cfg):
    page = YahooSource(sources_cfg.yahoo).bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC),
                                                   pd.Timestamp("2024-02-01", tz=UTC))
    b = page.bars
    assert b["ts"].iloc[0] == pd.Timestamp("2024-01-02", tz=UTC)
    assert (b["ts"] == b["ts"].dt.normalize()).all()
    assert page.report.rejected == {"nan_price": 1}  # Yahoo's null close on 2024-01-10
    assert pd.Timestamp("2024-01-10", tz=UTC) not in set(b["ts"]) and len(b) == 8
    assert set(b["asset_class"]) == {"stock"} and set(b["venue"]) == {"NMS"}
    path, params = replay.requests[-1]
    assert path == "/yahoo/v8/finance/chart/AAPL" and params["interval"] == "1d"


def test_yahoo_intraday_windows_follow_yahoos_limits(replay, sources_cfg):
    src = YahooSource(sources_cfg.yahoo)
    start = (pd.Timestamp.now(tz=UTC) - pd.Timedelta(days=20)).floor("D")
    page = src.bar_page("AAPL", "1m", start, start + pd.Timedelta(days=19))
    assert page.next_start == start + pd.Timedelta(days=7)
    _, params = replay.requests[-1]
    assert int(params["period2"]) - int(params["period1"]) == 7 * 86400
    # older than Yahoo keeps 1m bars: starts at the oldest day it serves
    src.bar_page("AAPL", "1m", pd.Timestamp("2024-01-01", tz=UTC))
    _, params = replay.requests[-1]
    oldest = pd.Timestamp(int(params["period1"]), unit="s", tz=UTC)
    assert pd.Timestamp.now(tz=UTC) - oldest <= pd.Timedelta(days=30)


def test_yfinance_calls_keep_the_projects_retries(replay, sources_cfg):
    """yfinance fetches (its crumb first, then the chart), through the shared HTTP client: a 503
    and a maintenance page on the chart are retried and the bars still come."""
    src = YahooSource(sources_cfg.yahoo)
    replay.fail("/yahoo/v8/finance/chart/AAPL", 503, "<html>busy</html>")
    replay.fail("/yahoo/v8/finance/chart/AAPL", 200, "<!DOCTYPE html><html><title>Maintenance</title></html>")
    # a range no other test asks for: yfinance keeps past ranges in an in-process cache
    page = src.bar_page("AAPL", "1d", pd.Timestamp("2023-12-31", tz=UTC), pd.Timestamp("2024-02-02", tz=UTC))
    assert len(page.bars) == 8 and src.http.retries == 2
    path, params = replay.requests[-1]
    assert path == "/yahoo/v8/finance/chart/AAPL" and params["crumb"] == "replay-crumb"  # yfinance's own crumb
    replay.override("/yahoo/v8/finance/chart/AAPL", "<html>down</html>")
    with pytest.raises(SourceError, match=r"Yahoo Finance /v8/finance/chart/AAPL failed after 4 tries"):
        src.bar_page("AAPL", "1d", pd.Timestamp("2023-01-03", tz=UTC), pd.Timestamp("2023-02-03", tz=UTC))


def test_yahoo_sources_with_different_settings_share_no_yfinance_session(replay, sources_cfg):
    """Two Yahoo sources in one process, with different limits: each fetch goes through its own
    session (yfinance's in-process cache of past ranges and its crumb are per source), the
    yfinance singleton never holds a Meridian session, and the on-disk caches are under the home."""
    import yfinance as yf
    from yfinance import cache as yf_cache
    from yfinance.data import YfData

    from pipelines.config import meridian_home
    a = YahooSource(sources_cfg.yahoo)
    b = YahooSource(sources_cfg.yahoo.model_copy(update={"per_minute": 999}))
    assert a.data is not b.data and a.data._session is a.session and b.data._session is b.session
    # a past range no other test asks for: yfinance would serve it from a cache after one fetch
    span = (pd.Timestamp("2023-12-30", tz=UTC), pd.Timestamp("2024-02-03", tz=UTC))
    assert len(a.bar_page("AAPL", "1d", *span).bars) == 8
    seen = len(replay.requests)
    assert len(b.bar_page("AAPL", "1d", *span).bars) == 8
    charts = [p for p, _ in replay.requests[seen:] if p == "/yahoo/v8/finance/chart/AAPL"]
    assert len(charts) == 1, replay.requests[seen:]   # b asked its own server, not a's cache
    assert YfData()._session not in (a.session, b.session)
    yf.Ticker("MSFT")   # what yfinance's singleton holds stays as it is
    assert YfData()._session not in (a.session, b.session)
    home_cache = meridian_home() / "cache" / "yfinance"
    assert a.cache_dir == home_cache and yf_cache._TzDBManager.get_location() == str(home_cache)
    assert (home_cache / "tkr-tz.db").exists()


def test_yahoo_chart_error_is_readable(replay, sources_cfg):
    with pytest.raises(SourceError, match="No data found, symbol may be delisted"):
        YahooSource(sources_cfg.yahoo).bar_page("NOPE", "1d", pd.Timestamp("2024-01-01", tz=UTC))


def test_finnhub_through_finnhub_python(replay, sources_cfg):
    src = FinnhubSource(sources_cfg.finnhub)
    q = src.quote("AAPL")
    assert q["price"] == 185.92 and q["ts"] == pd.Timestamp(1705093200, unit="s", tz=UTC)
    path, params = replay.requests[-1]
    assert path == "/finnhub/api/v1/quote" and params["token"] == "test-secret-key"
    page = src.bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC), pd.Timestamp("2024-02-01", tz=UTC))
    assert len(page.bars) == 5 and page.bars["ts"].iloc[0] == pd.Timestamp("2024-01-02", tz=UTC)
    news = src.company_news("AAPL", pd.Timestamp("2024-01-10", tz=UTC), pd.Timestamp("2024-01-12", tz=UTC))
    assert list(news.columns) == NEWS.columns and len(news) == 3
    assert "finnhub:125734001" in set(news["item_id"])
    no_id = news[news["headline"].str.startswith("Apple Vision")]["item_id"].iloc[0]
    assert no_id.startswith("finnhub:") and len(no_id) == len("finnhub:") + 24  # hash of url + headline
    assert (news["known_at"] >= news["published_at"]).all()
    social = src.social_sentiment("AAPL", pd.Timestamp("2024-01-12", tz=UTC), pd.Timestamp("2024-01-13", tz=UTC))
    assert list(social.columns) == MACRO.columns
    score = social[social["series_id"] == "finnhub/social/AAPL/score"]
    assert list(score["value"]) == [0.35, 0.05]
    assert (score["known_at"] - score["ts"] == pd.Timedelta(hours=1)).all()
    before = pd.Timestamp.now(tz=UTC)
    ns = src.news_sentiment("AAPL").set_index("series_id")
    assert ns.loc["finnhub/news/AAPL/companyNewsScore", "value"] == 0.9166
    assert ns.loc["finnhub/news/AAPL/bullishPercent", "value"] == 1.0
    assert ns.loc["finnhub/news/AAPL/bearishPercent", "value"] == 0.0
    assert ns.loc["finnhub/news/AAPL/articlesInLastWeek", "value"] == 20.0
    assert (ns["known_at"] >= before).all() and (ns["known_at"] == ns["ts"]).all()


def test_recorded_finnhub_payloads_parse(replay, sources_cfg, shared_data):
    rec = json.loads((shared_data / "api_fixtures/finnhub/NVDA_quote_and_company_news.json").read_text())
    replay.override("/finnhub/api/v1/quote", rec["quote"])
    replay.override("/finnhub/api/v1/company-news", rec["news"])
    src = FinnhubSource(sources_cfg.finnhub)
    assert src.quote("NVDA")["price"] == rec["quote"]["c"]
    news = src.company_news("NVDA", pd.Timestamp("2026-05-30", tz=UTC), pd.Timestamp("2026-06-02", tz=UTC))
    assert len(news) == len({n["id"] for n in rec["news"]}) and news["item_id"].is_unique


def test_missing_key_is_a_config_error(sources_cfg, monkeypatch):
    monkeypatch.delenv("MERIDIAN_TEST_FINNHUB_KEY")
    with pytest.raises(ConfigError, match="export MERIDIAN_TEST_FINNHUB_KEY"):
        FinnhubSource(sources_cfg.finnhub)


def test_twelvedata_windows_and_errors(replay, sources_cfg):
    src = TwelveDataSource(sources_cfg.twelvedata.model_copy(update={"page_limit": 24}))
    start = pd.Timestamp("2024-01-12", tz=UTC)
    page = src.bar_page("BTC/USD", "1h", start, pd.Timestamp("2024-01-20", tz=UTC))
    assert len(page.bars) == 10 and page.bars["ts"].is_monotonic_increasing
    assert set(page.bars["asset_class"]) == {"crypto"}
    assert page.next_start == start + pd.Timedelta(hours=24)
    replay.override("/twelvedata/time_series", {"code": 429, "status": "error",
                    "message": "You have run out of API credits for the current minute."})
    with pytest.raises(RateLimitError, match="run out of API credits"):
        src.bar_page("BTC/USD", "1h", start)
    replay.override("/twelvedata/time_series", {"code": 400, "status": "error", "message": "**symbol** not found"})
    with pytest.raises(SourceError, match="error 400"):
        src.bar_page("NOPE", "1h", start)


def test_fred_observations_known_after_publication(replay, sources_cfg):
    obs = FredSource(sources_cfg.fred).observations("CPIAUCSL", since="2023-10-01")
    assert list(obs["ts"]) == [pd.Timestamp(d, tz=UTC) for d in ("2023-10-01", "2023-11-01", "2023-12-01")]
    assert obs["known_at"].iloc[0] == pd.Timestamp("2023-11-15", tz=UTC)  # published 2023-11-14
    assert replay.requests[-1][1]["api_key"] == "test-secret-key"


def test_coingecko_and_blockchain_become_macro_series(replay, sources_cfg):
    m = CoinGeckoSource(sources_cfg.coingecko).markets(["bitcoin", "ethereum"])
    assert set(m["series_id"]) == {f"coingecko/{c}/{f}" for c in ("bitcoin", "ethereum")
                                   for f in ("current_price", "market_cap", "total_volume")}
    assert m.loc[m["series_id"] == "coingecko/bitcoin/current_price", "value"].iloc[0] == 42780.0
    bc = BlockchainSource(sources_cfg.blockchain)
    st = bc.stats()
    assert st.loc[st["series_id"] == "blockchain/hash_rate", "value"].iloc[0] == 5.2e11
    ch = bc.chart("hash-rate")
    assert len(ch) == 3 and (ch["known_at"] - ch["ts"] == pd.Timedelta(days=1)).all()


@pytest.mark.parametrize("payload,reason", [
    ({"chart": {"result": [{"timestamp": [1], "indicators": {"quote": [{"open": [1]}]}}], "error": None}},
     "high missing or of the wrong length"),
    ({"chart": {"result": [{"timestamp": [1704205800], "indicators": {"quote": [
        {"open": ["x"], "high": [1], "low": [1], "close": [1]}]}}], "error": None}}, "non-number"),
    ({"foo": 1}, "missing 'chart'"),
])
def test_malformed_yahoo_payloads_are_rejected(replay, sources_cfg, payload, reason):
    replay.override("/yahoo/v8/finance/chart/AAPL", payload)
    with pytest.raises(DataError, match=reason):
        YahooSource(sources_cfg.yahoo).bar_page("AAPL", "1d", pd.Timestamp("2024-01-01", tz=UTC))


@pytest.mark.parametrize("name,symbol,tf,rows", [
    ("yahoo", "AAPL", "1d", 8), ("finnhub", "AAPL", "1d", 5), ("alphavantage", "AAPL", "1d", 5),
    ("twelvedata", "BTC/USD", "1h", 10), ("sample", "SPX", "1d", 8),
])
def test_each_bar_source_backfills_through_the_same_interface(replay, sources_cfg, store, name, symbol, tf, rows):
    src = bar_source(name, sources_cfg)
    since, until = ("2018-01-02", "2018-01-12") if name == "sample" else ("2024-01-01", "2024-01-13")
    res = backfill_bars(src, store, symbol, tf, since, until, progress=False)
    bars = store.read_bars(symbol, tf)
    assert res.rows == len(bars) == rows and list(bars.columns) == BARS.columns
    assert bars["ts"].is_unique and (bars["known_at"] > bars["ts"]).all()
    again = backfill_bars(bar_source(name, sources_cfg), store, symbol, tf, since, until, progress=False)
    assert again.rows == 0 and len(store.read_bars(symbol, tf)) == rows
