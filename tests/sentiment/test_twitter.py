"""The X/Twitter collector: tweepy against a loopback server speaking the v2 recent-search format;
stored once, since_id polls, no token = skipped with a message, 429 = a readable error."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from loopback import Loopback, serve_x, x_post
from pipelines.errors import ConfigError, RateLimitError
from pipelines.ingest.collectors import collect_twitter
from pipelines.sources.twitter import TwitterConfig, TwitterSource


@pytest.fixture
def x_api(monkeypatch):
    monkeypatch.setenv("MERIDIAN_TEST_X_TOKEN", "x-token")
    t0 = pd.Timestamp("2024-05-01 12:59", tz="UTC")
    posts = [x_post(1149 - i, (t0 - pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    f"$BTC breaking out, $ETH next {i}") for i in range(150)]  # newest first
    with Loopback() as lb:
        serve_x(lb, posts, "x-token")
        cfg = TwitterConfig(queries={"BTC": "($BTC OR bitcoin) lang:en"}, token_env="MERIDIAN_TEST_X_TOKEN",
                            base_url=lb.url)
        yield lb, posts, cfg


def test_collects_once_then_since_id(x_api, tmp_path):
    from pipelines.store import ParquetStore
    lb, posts, cfg = x_api
    store = ParquetStore(tmp_path / "lake")
    src = TwitterSource(cfg)
    now = pd.Timestamp("2024-05-01 13:00", tz="UTC")
    r1 = collect_twitter(src, store, now=now)
    assert r1.streams["BTC"] == {"fetched": 150, "written": 150}
    calls = [q for m, p, q, _ in lb.requests if p == "/2/tweets/search/recent"]
    assert len(calls) == 2 and calls[0]["query"] == "($BTC OR bitcoin) lang:en" and calls[1]["next_token"] == "100"
    news = store.read("news")
    row = news.set_index("item_id").loc["twitter:1149"]
    assert json.loads(row["tickers"]) == ["BTC", "ETH"] and row["published_at"] == pd.Timestamp("2024-05-01 12:59", tz="UTC")
    posts.insert(0, x_post(2000, "2024-05-01T13:01:00.000Z", "bitcoin dumping hard"))
    r2 = collect_twitter(src, store, now=now + pd.Timedelta(minutes=5))
    assert r2.streams["BTC"] == {"fetched": 1, "written": 1}
    assert lb.requests[-1][2]["since_id"] == "1149"
    assert len(store.read("news")) == 151


def test_without_a_token_it_is_skipped_and_429_is_readable(x_api, monkeypatch, tmp_path):
    from pipelines.store import ParquetStore
    lb, _, cfg = x_api
    lb.faults["/2/tweets/search/recent"] = [429]
    with pytest.raises(RateLimitError, match="rate limit"):
        collect_twitter(TwitterSource(cfg), ParquetStore(tmp_path / "lake"))
    monkeypatch.delenv("MERIDIAN_TEST_X_TOKEN")
    with pytest.raises(ConfigError, match="skipped: no bearer token"):
        TwitterSource(cfg)
