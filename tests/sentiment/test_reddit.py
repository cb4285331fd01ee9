"""The Reddit collector: praw against a loopback server speaking Reddit's OAuth and listing
format; posts stored once in both stores, checkpointed polls, tickers, readable errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from loopback import Loopback, reddit_post, serve_reddit
from pipelines.errors import ConfigError, SourceError
from pipelines.ingest.collectors import collect_reddit
from pipelines.sources.reddit import RedditConfig, RedditSource

T0 = pd.Timestamp("2024-05-01 12:00", tz="UTC").timestamp()


@pytest.fixture
def reddit(monkeypatch):
    monkeypatch.setenv("MERIDIAN_TEST_REDDIT_ID", "app-id")
    monkeypatch.setenv("MERIDIAN_TEST_REDDIT_SECRET", "app-secret")
    posts = {"wallstreetbets": [reddit_post(f"w{i}", "wallstreetbets", T0 - 600 * i,
                                            f"$TSLA to the moon {i}" if i % 2 else f"NVDA puts printing, rough day {i}")
                                for i in range(130)],
             "cryptocurrency": [reddit_post(f"c{i}", "cryptocurrency", T0 - 900 * i, f"BTC looks strong {i}", "ETH too")
                                for i in range(5)]}
    with Loopback() as lb:
        serve_reddit(lb, posts, "app-id", "app-secret")
        cfg = RedditConfig(subreddits=("wallstreetbets", "cryptocurrency"), limit=150, oauth_url=lb.url,
                           reddit_url=lb.url, client_id_env="MERIDIAN_TEST_REDDIT_ID",
                           client_secret_env="MERIDIAN_TEST_REDDIT_SECRET")
        yield lb, posts, cfg


def test_collects_posts_once_then_only_new_ones(reddit, store):
    lb, posts, cfg = reddit
    src = RedditSource(cfg)
    now = pd.Timestamp(T0, unit="s", tz="UTC") + pd.Timedelta(minutes=5)
    r1 = collect_reddit(src, store, now=now)
    assert r1.streams["wallstreetbets"]["written"] == 130 and r1.streams["cryptocurrency"]["written"] == 5
    pages = [q for m, p, q, _ in lb.requests if p == "/r/wallstreetbets/new"]
    assert len(pages) == 2 and pages[1]["after"] == "t3_w99"  # paged with after=
    news = store.read("news")
    assert len(news) == 135 and news["item_id"].is_unique
    w1 = news[news["item_id"] == "reddit:t3_w1"].iloc[0]
    assert json.loads(w1["tickers"]) == ["TSLA"] and w1["source"] == "r/wallstreetbets" and w1["kind"] == "post"
    assert w1["published_at"] == pd.Timestamp(T0 - 600, unit="s", tz="UTC") and w1["known_at"] == now
    assert json.loads(news[news["item_id"] == "reddit:t3_c0"].iloc[0]["tickers"]) == ["BTC", "ETH"]
    # a new post arrives: the next poll stores it alone, the old ones keep their first-seen time
    posts["wallstreetbets"].insert(0, reddit_post("new1", "wallstreetbets", T0 + 60, "AAPL earnings beat"))
    later = now + pd.Timedelta(minutes=10)
    r2 = collect_reddit(src, store, now=later)
    assert r2.streams["wallstreetbets"]["written"] == 1 and r2.streams["cryptocurrency"]["written"] == 0
    news2 = store.read("news")
    assert len(news2) == 136
    assert news2.set_index("item_id").loc["reddit:t3_w1", "known_at"] == now
    assert news2.set_index("item_id").loc["reddit:t3_new1", "known_at"] == later


def test_missing_or_wrong_credentials_are_readable(reddit, monkeypatch, tmp_path):
    lb, _, cfg = reddit
    monkeypatch.delenv("MERIDIAN_TEST_REDDIT_SECRET")
    with pytest.raises(ConfigError, match="MERIDIAN_TEST_REDDIT_SECRET"):
        RedditSource(cfg)
    monkeypatch.setenv("MERIDIAN_TEST_REDDIT_SECRET", "wrong")
    from pipelines.store import ParquetStore
    with pytest.raises(SourceError, match="Reddit"):
        collect_reddit(RedditSource(cfg), ParquetStore(tmp_path / "lake"))
