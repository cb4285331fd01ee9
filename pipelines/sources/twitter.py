"""X/Twitter posts through tweepy's v2 recent search, into the NEWS table, where a token exists.

The bearer token comes from the environment (``TWITTER_BEARER_TOKEN``); without one the source
says so and is skipped. Each configured symbol has a search query; a poll asks only for posts
newer than the last one stored (``since_id`` in the checkpoint), at most ``max_pages`` pages of
100, each page a slot of the project's rate limiter (the Basic tier allows 60 searches per 15
minutes). A post is stored once as ``twitter:<id>`` with ``known_at`` = when we first saw it.
"""

from __future__ import annotations

import logging
import os

import pandas as pd
import requests

from pipelines.errors import ConfigError, RateLimitError, SourceError
from pipelines.tickers import extract_tickers
from pipelines.config.collectors import API_HOST, TwitterConfig
from pipelines.sources.news import news_frame, news_id
from pipelines.sources.ratelimit import RateLimiter, Window

log = logging.getLogger(__name__)


class _Rebase(requests.adapters.HTTPAdapter):
    """Sends tweepy's requests for api.twitter.com to the configured host instead."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target.rstrip("/")

    def send(self, request, **kwargs):
        request.url = self.target + request.url[len(API_HOST):]
        return super().send(request, **kwargs)


class TwitterSource:
    name = "twitter"

    def __init__(self, cfg: TwitterConfig | None = None) -> None:
        import tweepy
        self.cfg = cfg or TwitterConfig()
        token = os.environ.get(self.cfg.token_env)
        if not token:
            raise ConfigError(f"X/Twitter is skipped: no bearer token (export {self.cfg.token_env}=... "
                              f"from a developer project with API v2 access)")
        self.client = tweepy.Client(bearer_token=token, wait_on_rate_limit=False)
        if self.cfg.base_url.rstrip("/") != API_HOST:
            self.client.session.mount(API_HOST, _Rebase(self.cfg.base_url))
        self.limiter = RateLimiter("X/Twitter recent search", [Window(self.cfg.searches_per_15min, 900)],
                                   max_wait=self.cfg.max_wait)

    def search(self, symbol: str, query: str, since_id: str | None, now: pd.Timestamp) -> pd.DataFrame:
        import tweepy
        rows, token = [], None
        for _ in range(self.cfg.max_pages):
            self.limiter.acquire()
            try:
                resp = self.client.search_recent_tweets(
                    query, max_results=100, since_id=since_id, next_token=token,
                    tweet_fields=["created_at", "lang", "public_metrics"])
            except tweepy.TooManyRequests as exc:
                reset = getattr(exc, "reset_time", None)
                when = "" if reset is None else f"; the window resets at {pd.Timestamp(reset, unit='s', tz='UTC')}"
                raise RateLimitError(f"X/Twitter search rate limit reached{when}: try again later") from None
            except tweepy.Unauthorized:
                raise SourceError(f"X/Twitter rejected the bearer token in {self.cfg.token_env}") from None
            except tweepy.TweepyException as exc:
                raise SourceError(f"X/Twitter search for {symbol!r} failed: {exc}") from None
            for t in resp.data or []:
                created = pd.Timestamp(t.created_at).tz_convert("UTC")
                rows.append({"item_id": news_id("twitter", str(t.id), None, None), "provider": "twitter",
                             "published_at": created, "known_at": max(now, created), "headline": t.text,
                             "summary": "", "url": f"https://x.com/i/web/status/{t.id}", "source": "x",
                             "kind": "post", "tickers": list(dict.fromkeys([symbol] + extract_tickers(t.text)))})
            token = (resp.meta or {}).get("next_token")
            if not token:
                break
        return news_frame(rows)
