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
    assert info["active"] == "vader" and "Scoring with vader" in info["notice"]
    assert remote["score"].tolist() == pytest.approx(local["score"].tolist())


def test_scores_are_computed_once_per_item_and_scorer_version(store, trained_models):
    rows = news_rows()
    write_new_items(store, rows.iloc[:30])
    first, info = scored_news(store, SentimentConfig(model="vader"))
    assert info["scored_now"] == 30 and info["from_store"] == 0
    stored = store.read("sentiment_scores")
    assert len(stored) == 30 and stored["scorer"].unique().tolist() == ["vader:3"]
    write_new_items(store, rows)  # ten more items arrive
    again, info = scored_news(store, SentimentConfig(model="vader"))
    assert info["scored_now"] == 10 and info["from_store"] == 30 and len(store.read("sentiment_scores")) == 40
    assert again.set_index("item_id").loc[first["item_id"], "score"].tolist() == pytest.approx(first["score"].tolist())
    assert again.columns.tolist() == first.columns.tolist()
    # what is read from the store equals what is computed afresh
    from pipelines.sentiment.scorer import SentimentScorer, score_news
    fresh = score_news(store.read("news"), SentimentScorer(SentimentConfig(model="vader")))
    assert fresh["score"].tolist() == pytest.approx(again["score"].tolist())
    assert fresh["label"].tolist() == again["label"].tolist()
    # another scorer version (the trained finance model) scores every item once more, kept apart
    from pipelines.sentiment.pipeline import scorer_id
    fin, info = scored_news(store, SentimentConfig(model="finance"), models_dir=trained_models)
    assert info["scored_now"] == 40 and info["parts"] == ["finance"]
    ids = store.read("sentiment_scores")["scorer_id"].value_counts().to_dict()
    assert ids == {scorer_id("vader:3"): 40, scorer_id(info["version"]): 40}
    assert scored_news(store, SentimentConfig(model="finance"), models_dir=trained_models)[1]["scored_now"] == 0


def test_provider_sentiment_is_kept_and_reaches_the_scored_frame(store):
    import json
    from pathlib import Path

    from pipelines.sources.alphavantage import parse_news

    body = json.loads((Path(__file__).resolve().parents[1] / "replay" / "payloads" / "alphavantage" /
                       "query__NEWS_SENTIMENT.json").read_text())
    news = parse_news(body, pd.Timestamp("2024-01-13", tz="UTC"))
    assert news["provider_score"].tolist() == [-0.12, 0.2]
    assert news["provider_label"].tolist() == ["Neutral", "Somewhat-Bullish"]
    per = json.loads(news["provider_tickers"].iloc[1])
    assert per == [{"ticker": "MSFT", "score": 0.3, "label": "Somewhat-Bullish", "relevance": 0.8},
                   {"ticker": "AAPL", "score": 0.0, "label": "Neutral", "relevance": 0.6}]
    write_new_items(store, news)
    back = store.read("news")
    assert sorted(back["provider_score"].tolist()) == [-0.12, 0.2]
    scored, _ = scored_news(store, SentimentConfig(model="vader"))
    assert sorted(scored["provider_score"].tolist()) == [-0.12, 0.2]
    assert set(scored["provider_label"]) == {"Neutral", "Somewhat-Bullish"}


def test_a_news_file_from_before_the_provider_columns_reads_with_nulls(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.schema import NEWS
    from pipelines.store import ParquetStore

    store = ParquetStore(tmp_path / "lake")
    write_new_items(store, news_rows().iloc[:3])
    (path,) = list((tmp_path / "lake" / "news").rglob("*.parquet"))
    old = pq.read_table(path)
    pq.write_table(old.drop_columns(["provider_score", "provider_label", "provider_tickers", "topics"]), path)
    back = store.read("news")
    assert len(back) == 3 and back["provider_score"].isna().all() and back.columns.tolist() == NEWS.schema.names
    assert write_new_items(store, news_rows().iloc[:5]) == 2 and len(store.read("news")) == 5
    assert pa.types.is_float64(pq.read_table(path).schema.field("provider_score").type)
