"""Reddit posts (new submissions of chosen subreddits) through praw, into the NEWS table.

Credentials come from the environment (``REDDIT_CLIENT_ID``, ``REDDIT_CLIENT_SECRET``; a script
app's read-only access). Each listing page is one request, taken from the project's rate limiter
(Reddit allows 100 requests per minute per OAuth client; praw also honours Reddit's own rate-limit
headers). A post is stored once as ``reddit:t3_<id>`` with ``known_at`` = when we first saw it;
a per-subreddit checkpoint (the newest post's time) stops the next poll at what it already has.
"""

from __future__ import annotations

import logging
import os

import pandas as pd
from pipelines.errors import ConfigError, SourceError
from pipelines.tickers import extract_tickers
from pipelines.config.collectors import RedditConfig
from pipelines.sources.news import news_frame, news_id
from pipelines.sources.ratelimit import RateLimiter, Window

log = logging.getLogger(__name__)


def credentials(cfg: RedditConfig) -> tuple[str, str]:
    cid, secret = os.environ.get(cfg.client_id_env), os.environ.get(cfg.client_secret_env)
    if not cid or not secret:
        raise ConfigError(f"Reddit needs a script app's credentials: export {cfg.client_id_env}=... and "
                          f"{cfg.client_secret_env}=... (create one at https://www.reddit.com/prefs/apps)")
    return cid, secret


class RedditSource:
    """Reads new posts with praw as NEWS rows (collected by :mod:`pipelines.ingest.collectors`)."""

    name = "reddit"

    def __init__(self, cfg: RedditConfig | None = None, reddit=None) -> None:
        self.cfg = cfg or RedditConfig()
        self.limiter = RateLimiter("Reddit", [Window(self.cfg.per_minute, 60)])
        if reddit is None:
            import praw
            cid, secret = credentials(self.cfg)
            reddit = praw.Reddit(client_id=cid, client_secret=secret, user_agent=self.cfg.user_agent,
                                 oauth_url=self.cfg.oauth_url, reddit_url=self.cfg.reddit_url,
                                 check_for_updates=False, check_for_async=False)
            reddit.read_only = True
        self.reddit = reddit

    def posts(self, subreddit: str, after: pd.Timestamp | None, now: pd.Timestamp) -> pd.DataFrame:
        """New posts of one subreddit created after ``after``, newest first, as NEWS rows."""
        import prawcore
        rows = []
        page = 100
        try:
            listing = self.reddit.subreddit(subreddit).new(limit=self.cfg.limit)
            for n, post in enumerate(listing):
                if n % page == 0:
                    self.limiter.acquire()
                created = pd.Timestamp(float(post.created_utc), unit="s", tz="UTC")
                if after is not None and created < after:  # same-second posts: the store dedupes
                    break
                title, body = str(post.title or ""), str(getattr(post, "selftext", "") or "")
                rows.append({"item_id": news_id("reddit", post.name, None, None), "provider": "reddit",
                             "published_at": created, "known_at": max(now, created),
                             "headline": title, "summary": body[: self.cfg.summary_chars],
                             "url": f"{self.cfg.reddit_url.rstrip('/')}{post.permalink}",
                             "source": f"r/{subreddit}", "kind": "post",
                             "tickers": extract_tickers(f"{title}\n{body}", self.cfg.watch)})
        except prawcore.exceptions.ResponseException as exc:
            raise SourceError(f"Reddit refused r/{subreddit}: HTTP {exc.response.status_code}") from None
        except prawcore.exceptions.OAuthException as exc:
            raise SourceError(f"Reddit rejected the credentials ({exc}): check {self.cfg.client_id_env} "
                              f"and {self.cfg.client_secret_env}") from None
        except prawcore.exceptions.RequestException as exc:
            raise SourceError(f"Reddit could not be reached for r/{subreddit}: {exc}") from None
        return news_frame(rows)
