"""Typed configuration of the market-data providers: where they are, how fast we may call them.

Keys are never part of the configuration: each provider names the environment variable that
holds its key (``api_key_env``); the tests point ``base_url`` at a loopback replay server.
"""

from __future__ import annotations

import os

from pydantic import Field

from pipelines.config.base import Frozen

from pipelines.errors import ConfigError



class RetryConfig(Frozen):
    """Retries on 429, 5xx and timeouts: exponential backoff with full jitter."""

    attempts: int = Field(5, ge=1, description="tries per request, the first included")
    backoff_base: float = Field(0.5, ge=0, description="first backoff in seconds; doubles each try")
    backoff_max: float = Field(30.0, ge=0, description="cap of one backoff")
    jitter: float = Field(0.5, ge=0, le=1, description="fraction of each backoff drawn at random")
    retry_after_max: float = Field(120.0, ge=0, description="longest Retry-After honoured by waiting")
    timeout: float = Field(10.0, gt=0, description="seconds per HTTP request")


class ProviderConfig(Frozen):
    """One provider: base URL, key variable, free-tier limits."""

    base_url: str
    ws_url: str | None = Field(None, description="WebSocket base URL, for providers that stream")
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    per_second: int | None = Field(None, gt=0)
    per_minute: int | None = Field(None, gt=0)
    per_day: int | None = Field(None, gt=0)
    max_wait: float = Field(120.0, ge=0, description="longest wait for a slot before erroring")
    page_limit: int | None = Field(None, gt=0, description="rows per page (default: the provider maximum)")
    retry: RetryConfig = RetryConfig()

    def api_key(self, provider: str, required: bool = True) -> str | None:
        """The key from the environment; a readable error when a required one is missing."""
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key and required:
            raise ConfigError(f"{provider} needs an API key: export {self.api_key_env}=<your key> "
                              f"(free tier keys are issued on the provider's site)")
        return key or None


class SourcesConfig(Frozen):
    """Every provider, with its free tier's limits as defaults."""

    binance: ProviderConfig = ProviderConfig(
        base_url="https://api.binance.com", ws_url="wss://stream.binance.com:9443",
        per_minute=1000)
    yahoo: ProviderConfig = ProviderConfig(base_url="https://query2.finance.yahoo.com", per_minute=60)
    finnhub: ProviderConfig = ProviderConfig(
        base_url="https://finnhub.io/api/v1", api_key_env="FINNHUB_API_KEY", per_minute=60,
        per_second=30)
    alphavantage: ProviderConfig = ProviderConfig(
        base_url="https://www.alphavantage.co", api_key_env="ALPHAVANTAGE_API_KEY",
        per_minute=5, per_day=500)
    twelvedata: ProviderConfig = ProviderConfig(
        base_url="https://api.twelvedata.com", api_key_env="TWELVEDATA_API_KEY",
        per_minute=8, per_day=800)
    coingecko: ProviderConfig = ProviderConfig(base_url="https://api.coingecko.com/api/v3", per_minute=10)
    fred: ProviderConfig = ProviderConfig(
        base_url="https://api.stlouisfed.org", api_key_env="FRED_API_KEY", per_minute=120)
    blockchain: ProviderConfig = ProviderConfig(base_url="https://api.blockchain.info", per_minute=30)

    def provider(self, name: str) -> ProviderConfig:
        if name not in type(self).model_fields:
            raise ConfigError(f"unknown source {name!r}: one of {', '.join(type(self).model_fields)}")
        return getattr(self, name)
