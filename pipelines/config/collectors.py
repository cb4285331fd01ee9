"""Configuration of the sentiment collectors (Fear & Greed, Reddit, X/Twitter). Secrets are never
here: each names the environment variable that holds its credential."""

from __future__ import annotations

from pydantic import Field

from pipelines.config.base import Frozen

from pipelines.config.sources import ProviderConfig

API_HOST = "https://api.twitter.com"
WATCH = ("BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "SPY", "QQQ", "AAPL", "MSFT", "NVDA", "TSLA", "AMZN",
         "GOOGL", "META", "EURUSD", "GBPUSD", "USDJPY")
QUERIES = {"BTC": "($BTC OR bitcoin) lang:en -is:retweet",
           "ETH": "($ETH OR ethereum) lang:en -is:retweet",
           "SPY": "($SPY OR \"S&P 500\") lang:en -is:retweet"}


class FearGreedConfig(Frozen):
    """Where the index is and how late a day's value is taken to be known."""

    provider: ProviderConfig = ProviderConfig(base_url="https://api.alternative.me", per_minute=60)
    publication_lag_minutes: float = Field(
        60.0, ge=0, description="a day's value counts as known this long after 00:00 UTC of that day")


class RedditConfig(Frozen):
    """Which subreddits are read and how to reach Reddit."""

    subreddits: tuple[str, ...] = ("wallstreetbets", "cryptocurrency", "forex", "stocks")
    limit: int = Field(100, gt=0, le=1000, description="newest posts read per subreddit per poll")
    client_id_env: str = "REDDIT_CLIENT_ID"
    client_secret_env: str = "REDDIT_CLIENT_SECRET"
    user_agent: str = "meridian/0.1 (market sentiment; read-only)"
    oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"
    per_minute: int = Field(100, gt=0, description="listing requests per minute")
    watch: tuple[str, ...] = Field(WATCH, description="symbols recognised as upper-case words in posts")
    summary_chars: int = Field(2000, gt=0, description="self-text kept per post")


class TwitterConfig(Frozen):
    """Search queries per symbol and how to reach the X API."""

    queries: dict[str, str] = Field(default_factory=lambda: dict(QUERIES))
    token_env: str = "TWITTER_BEARER_TOKEN"
    base_url: str = Field(API_HOST, description="API host (a proxy or a test server may stand in)")
    max_pages: int = Field(3, gt=0, description="pages of 100 posts per query per poll")
    searches_per_15min: int = Field(60, gt=0)
    max_wait: float = Field(120.0, ge=0, description="longest wait for a search slot before erroring")


class SentimentSourcesConfig(Frozen):
    """The three collectors together."""

    feargreed: FearGreedConfig = FearGreedConfig()
    reddit: RedditConfig = RedditConfig()
    twitter: TwitterConfig = TwitterConfig()
