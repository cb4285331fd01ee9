"""Sentiment features: causal by first-seen time (the prefix test), exact window arithmetic on a
hand-made case, ticker scoping, the Fear & Greed index as released, and the engine's skip rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.features.causality import prefix_check
from pipelines.features.engine import compute_features
from pipelines.features.catalog import FAMILY_MODULES, all_specs
from pipelines.features.spec import FeatureContext
from tests.synthetic.bars import synthetic_bars
from pipelines.sentiment.features import FEATURES, news_sentiment, news_sentiment_trend
from pipelines.tickers import symbol_aliases
from sentiment_fixtures import fear_greed_series, generated_news

START = "2022-03-01"


@pytest.fixture(scope="module")
def market():
    bars = synthetic_bars(400, seed=4, symbol="BTCUSDT", start=START)
    news = generated_news("2022-02-26", 24 * 24, seed=4)
    fg = fear_greed_series("2022-02-10", 40, seed=4)
    return bars, FeatureContext(symbol="BTCUSDT", asset_class="crypto", timeframe="1h", news=news, macro=fg)


def test_registered_in_the_feature_engine():
    assert "pipelines.sentiment.features" in FAMILY_MODULES
    names = {s.name for s in all_specs()}
    assert {s.name for s in FEATURES} <= names


@pytest.mark.parametrize("timeframe", ["1h", "4h"])
def test_prefix_test_passes(timeframe, market):
    bars, ctx = market
    if timeframe == "4h":
        bars = synthetic_bars(100, seed=5, symbol="BTCUSDT", timeframe="4h", start=START)
    rep = prefix_check(bars, FEATURES, ctx, k=12, seed=3)
    assert rep.specs_checked == [s.name for s in FEATURES], rep.skipped
    assert rep.ok, "\n".join(map(str, rep.violations))
    feats = compute_features(bars, FEATURES, ctx)
    assert feats["news_count_24h"].gt(0).mean() > 0.9 and feats["social_count_24h"].gt(0).mean() > 0.5
    assert feats["news_sent_24h"].std() > 0 and feats["fear_greed"].notna().all()


def test_a_publish_time_join_is_caught(market):
    """The same window means joined on published_at instead of known_at fail the prefix test."""
    bars, ctx = market
    from pipelines.features.kernels import spec

    assert (ctx.news["known_at"] > ctx.news["published_at"]).all()

    def leaky(b, c):
        n = c.news.assign(known_at=c.news["published_at"])
        return {"leak": news_sentiment(b, FeatureContext(symbol=c.symbol, news=n))["news_sent_24h"]}

    rep = prefix_check(bars, (spec("leak", "test", ("leak",), 0, leaky, needs=("news",)),), ctx, k=12, seed=1)
    assert not rep.ok and rep.violations[0].kind == "lookahead"


def _bars(closes: list[str]) -> pd.DataFrame:
    ka = pd.to_datetime(closes, utc=True)
    return pd.DataFrame({"ts": ka - pd.Timedelta(hours=1), "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                         "volume": 1.0, "known_at": ka})


def test_window_arithmetic_by_first_seen_time():
    news = pd.DataFrame({
        "known_at": pd.to_datetime(["2024-01-01 09:30", "2024-01-01 10:00", "2024-01-01 11:59",
                                    "2024-01-01 12:30", "2023-12-31 11:00"], utc=True),
        "published_at": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-01 08:00",
                                        "2024-01-01 12:00", "2023-12-31 10:00"], utc=True),
        "score": [0.5, -0.3, 0.8, 0.9, -0.6], "channel": "news", "tickers": ['["AAPL"]'] * 5,
        "label": ["positive", "negative", "positive", "positive", "negative"]})
    bars = _bars(["2024-01-01 10:00", "2024-01-01 12:00"])
    ctx = FeatureContext(symbol="AAPL", news=news)
    f = news_sentiment(bars, ctx)
    # at 10:00: items known 09:30 and 10:00 (an item known exactly at the close counts)
    assert f["news_count_1h"].tolist() == [2.0, 1.0]  # at 12:00 only the one first seen at 11:59
    assert f["news_sent_1h"] == pytest.approx([0.1, 0.8])
    assert f["news_count_24h"].tolist() == [3.0, 3.0]  # the 2023-12-31 11:00 item is in (T-24h, T]
    assert f["news_sent_24h"][1] == pytest.approx((0.5 - 0.3 + 0.8) / 3)
    assert f["news_sent_24h"][0] == pytest.approx((0.5 - 0.3 - 0.6) / 3)
    assert f["news_sent_disp_24h"][1] == pytest.approx(np.std([0.5, -0.3, 0.8]))
    assert f["news_controversy_24h"][1] == pytest.approx(2 * 1 / 3)
    t = news_sentiment_trend(bars, ctx)
    # at 12:00 the item first seen 2023-12-31 11:00 is in the previous day's window
    assert t["news_sent_mom_24h"][1] == pytest.approx((0.5 - 0.3 + 0.8) / 3 - (-0.6))
    assert t["news_sent_mom_24h"][0] == pytest.approx((0.5 - 0.3 - 0.6) / 3 - 0.0)
    assert t["news_sent_accel_24h"][1] == pytest.approx((0.5 - 0.3 + 0.8) / 3 - 2 * (-0.6))


def test_items_for_other_tickers_are_left_out():
    known = pd.to_datetime(["2024-01-01 09:10", "2024-01-01 09:20", "2024-01-01 09:30"], utc=True)
    news = pd.DataFrame({"known_at": known, "score": [0.9, -0.9, 0.3], "channel": "news",
                         "tickers": [json.dumps(["BINANCE:BTCUSDT"]), json.dumps(["ETH"]), "[]"]})
    f = news_sentiment(_bars(["2024-01-01 10:00"]), FeatureContext(symbol="BTCUSDT", news=news))
    assert f["news_count_1h"][0] == 2.0 and f["news_sent_1h"][0] == pytest.approx(0.6)
    assert symbol_aliases("ETH-USD") >= {"ETH", "ETHUSD"}
    # the same items with tickers as Python lists, a comma list and missing values
    listed = news.assign(tickers=pd.Series([["BINANCE:BTCUSDT"], "ETH,SOL", None], dtype="object"))
    g = news_sentiment(_bars(["2024-01-01 10:00"]), FeatureContext(symbol="BTCUSDT", news=listed))
    assert g["news_count_1h"][0] == 2.0 and g["news_sent_1h"][0] == pytest.approx(0.6)
    # no item names a ticker: all of them are market-wide
    unnamed = news.assign(tickers=pd.Series([None] * 3, dtype="object"))
    u = news_sentiment(_bars(["2024-01-01 10:00"]), FeatureContext(symbol="BTCUSDT", news=unnamed))
    assert u["news_count_1h"][0] == 3.0 and u["news_sent_1h"][0] == pytest.approx(0.1)


def test_fear_greed_as_released(market):
    bars, ctx = market
    fg = ctx.macro
    out = compute_features(bars, tuple(s for s in FEATURES if s.name == "fear_greed"), ctx)
    first = bars["known_at"].iloc[0]  # 2022-03-01 01:00: the 2022-03-01 value is out since 00:07
    val = fg.loc[fg["ts"] == first.normalize(), "value"].iloc[0]
    prev = fg.loc[fg["ts"] == first.normalize() - pd.Timedelta(days=1), "value"].iloc[0]
    assert out["fear_greed"].iloc[0] == val and out["fear_greed_chg_1"].iloc[0] == val - prev
    # a bar closing before the day's release still sees yesterday's value
    early = _bars(["2022-03-02 00:05"])
    e = compute_features(early, tuple(s for s in FEATURES if s.name == "fear_greed"), ctx)
    assert e["fear_greed"].iloc[0] == fg.loc[fg["ts"] == "2022-03-01", "value"].iloc[0]


def test_engine_skips_without_news_and_rejects_an_unscored_frame(market):
    bars, _ = market
    out = compute_features(bars, FEATURES, FeatureContext(symbol="BTCUSDT"))
    assert out.shape[1] == 0
    bad = FeatureContext(symbol="BTCUSDT", news=pd.DataFrame({"known_at": bars["known_at"], "headline": "x"}))
    with pytest.raises(ValueError, match="score"):
        compute_features(bars, FEATURES, bad)


def test_provider_sentiment_uses_the_per_ticker_score_then_the_overall_one():
    from pipelines.sentiment.features import provider_sentiment

    bars = synthetic_bars(6, seed=1, symbol="AAPL", timeframe="1h", start="2024-05-01")
    t0 = pd.Timestamp("2024-05-01", tz="UTC")
    news = pd.DataFrame({
        "known_at": [t0 + pd.Timedelta(minutes=m) for m in (10, 70, 80, 90)],
        "tickers": ['["AAPL", "MSFT"]', '["AAPL"]', '["MSFT"]', "[]"],
        "score": [0.0, 0.0, 0.0, 0.0],
        "provider_score": [0.1, -0.3, 0.9, np.nan],
        "provider_tickers": ['[{"ticker": "MSFT", "score": 0.9, "relevance": 0.9}, '
                             '{"ticker": "AAPL", "score": 0.5, "relevance": 0.4}]', None,
                             '[{"ticker": "MSFT", "score": 0.9, "relevance": 1}]', None]})
    out = provider_sentiment(bars, FeatureContext(symbol="AAPL", news=news))
    # bar 0 closes 01:00: the first item, AAPL's own 0.5; bar 1 closes 02:00: adds -0.3 (MSFT's item and
    # the item without a provider score do not count)
    assert out["news_provider_count_24h"][:3].tolist() == [1, 2, 2]
    assert out["news_provider_sent_24h"][:2].tolist() == pytest.approx([0.5, 0.1])
    none = provider_sentiment(bars, FeatureContext(symbol="AAPL", news=news.drop(columns=["provider_score",
                                                                                          "provider_tickers"])))
    assert (none["news_provider_count_24h"] == 0).all() and (none["news_provider_sent_24h"] == 0).all()
