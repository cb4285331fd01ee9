"""From the store to features: NEWS rows stored once, scored (in process and as a Ray task placed
by the cluster helpers), then aligned to bars by first-seen time."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.features.engine import compute_features
from pipelines.features.spec import FeatureContext
from tests.synthetic.bars import synthetic_bars
from pipelines.config.sentiment import SentimentConfig
from pipelines.sentiment.features import FEATURES
from pipelines.ingest.collectors import write_new_items
from pipelines.sources.news import news_frame, news_id
from pipelines.sentiment.pipeline import scored_news

START = pd.Timestamp("2024-02-01", tz="UTC")


def news_rows() -> pd.DataFrame:
    heads = ["Bitcoin surges as investors celebrate a great win", "Crypto exchange hacked, funds stolen",
             "Bitcoin miners report strong profits", "Regulators sue exchange over fraud"]
    rows = []
    for i in range(40):
        pub = START + pd.Timedelta(hours=2 * i)
        h = heads[i % 4]
        rows.append({"item_id": news_id("finnhub", None, f"https://news.example/{i}", h), "provider": "finnhub",
                     "published_at": pub, "known_at": pub + pd.Timedelta(minutes=5 + 60 * (i % 3)), "headline": h,
                     "summary": "", "url": f"https://news.example/{i}", "source": "example", "tickers": ["BTC"],
                     "kind": "company"})
    return news_frame(rows)


def test_store_score_and_align(store):
    rows = news_rows()
    assert write_new_items(store, rows) == 40
    assert write_new_items(store, rows) == 0  # replay: nothing new
    scored, info = scored_news(store, SentimentConfig(model="vader"))
    assert len(scored) == 40 and info["active"] == "vader" and scored["known_at"].is_monotonic_increasing
    assert (scored["score"] > 0).sum() == 20 and (scored["score"] < 0).sum() == 20
    bars = synthetic_bars(24 * 4, seed=2, symbol="BTCUSDT", start="2024-02-01")
    f = compute_features(bars, tuple(s for s in FEATURES if s.name == "news_sentiment"),
                         FeatureContext(symbol="BTCUSDT", news=scored))
    # the first item is first seen at 00:05: the 00:00-01:00 bar (known 01:00) sees it, nothing earlier exists
    assert f["news_count_1h"].iloc[0] == 1 and f["news_sent_1h"].iloc[0] > 0
    window, _ = scored_news(store, SentimentConfig(model="vader"), start=START, end=START + pd.Timedelta(hours=10))
    assert len(window) == 5


def test_scoring_as_a_ray_task(ray_session, tmp_path):
    from pipelines.store import ParquetStore
    store = ParquetStore(tmp_path / "lake")
    write_new_items(store, news_rows())
    local, _ = scored_news(store, SentimentConfig(model="vader"))
    remote, info = scored_news(store, SentimentConfig(model="composite", finbert_repo="meridian-absent/x"),
                               use_ray=True, timeout=120)
    assert info["active"] == "vader" and "Falling back" in info["notice"]
    assert remote["score"].tolist() == pytest.approx(local["score"].tolist())
