"""Typed configuration of ingestion: providers, the live streams and the periodic polls."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from pipelines.config.base import Frozen

from pipelines.config.sources import SourcesConfig



class LiveConfig(Frozen):
    """Bars and order-book snapshots kept current from the Binance streams."""

    source: Literal["binance"] = "binance"
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    timeframe: str = "1m"
    depth: bool = Field(True, description="also store order-book snapshots (depth20 stream)")
    depth_every_s: float = Field(10.0, ge=0, description="min seconds between stored snapshots per symbol")
    reconnect_delay: float = Field(1.0, ge=0, description="first wait before reconnecting; doubles")
    reconnect_max: float = Field(60.0, ge=0, description="longest wait between reconnects")
    catchup_since: datetime | None = Field(None, description="backfill from here (UTC) when no checkpoint exists")


class PollJob(Frozen):
    """A periodic poll: bars of a polled provider (from its checkpoint), order-book snapshots,
    news, social sentiment, macro series, CoinGecko markets, on-chain metrics."""

    name: str
    kind: Literal["bars", "orderbook", "news", "macro", "markets", "onchain", "sentiment"]
    source: Literal["binance", "yahoo", "finnhub", "alphavantage", "twelvedata", "fred", "coingecko",
                    "blockchain"]
    every_s: float = Field(gt=0, description="cadence in seconds")
    symbols: tuple[str, ...] = ()
    timeframe: str | None = Field(None, description="bar length, for kind 'bars'")
    since: datetime | None = Field(None, description="first bar (UTC) when a 'bars' series has no checkpoint")
    lookback_days: int = Field(3, ge=1, description="news/macro window asked for on each poll")

    @model_validator(mode="after")
    def _bars_need_a_timeframe(self) -> "PollJob":
        if self.kind == "bars" and (self.timeframe is None or self.since is None):
            raise ValueError(f"poll {self.name}: kind 'bars' needs timeframe and since")
        return self


class IngestConfig(Frozen):
    """Everything the ingestion actors need."""

    sources: SourcesConfig = SourcesConfig()
    live: LiveConfig = LiveConfig()
    schedule: tuple[PollJob, ...] = (
        PollJob(name="crypto-markets", kind="markets", source="coingecko", every_s=300,
                symbols=("bitcoin", "ethereum")),
        PollJob(name="macro", kind="macro", source="fred", every_s=6 * 3600,
                symbols=("DFF", "DGS10", "CPIAUCSL", "GDP", "UNRATE", "DTWEXBGS")),
        PollJob(name="onchain", kind="onchain", source="blockchain", every_s=3600),
        PollJob(name="company-news", kind="news", source="finnhub", every_s=900,
                symbols=("AAPL", "MSFT")),
    )
