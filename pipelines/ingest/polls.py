"""One run of a periodic poll: polled bars, order-book snapshots, news, social sentiment, macro
series, crypto markets, on-chain metrics.

Each run writes canonical rows idempotently and moves the job's checkpoint (``poll/<name>``) to
the time it ran; macro series also checkpoint their last observation so the next run asks only
for what is new (FRED revisions inside the look-back window are refreshed)."""

from __future__ import annotations

from typing import Callable

import pandas as pd

from pipelines.errors import ConfigError
from pipelines.ingest.checkpoints import Checkpoints
from pipelines.config.ingest import PollJob
from pipelines.times import utc_now
from pipelines.config.sources import SourcesConfig
from pipelines.ingest.collectors import write_new_items
from pipelines.store.base import Store


def _news(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp) -> int:
    since = now - pd.Timedelta(days=job.lookback_days)
    if job.source == "finnhub":
        from pipelines.sources.finnhub import FinnhubSource
        src = FinnhubSource(sources.finnhub)
        try:
            return sum(write_new_items(store, src.company_news(s, since, now)) for s in job.symbols)
        finally:
            src.close()
    if job.source == "alphavantage":
        from pipelines.sources.alphavantage import AlphaVantageSource
        src = AlphaVantageSource(sources.alphavantage)
        try:
            return write_new_items(store, src.news(list(job.symbols), since))
        finally:
            src.close()
    raise ConfigError(f"poll {job.name}: news comes from finnhub or alphavantage, not {job.source}")


def _macro(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp) -> int:
    if job.source != "fred":
        raise ConfigError(f"poll {job.name}: macro series come from fred, not {job.source}")
    from pipelines.sources.fred import FredSource
    src, cps, rows = FredSource(sources.fred), Checkpoints(store), 0
    try:
        for series in job.symbols:
            cp = cps.get("fred", f"macro/{series}")
            since = None if cp is None else cp.ts - pd.Timedelta(days=job.lookback_days)
            obs = src.observations(series, since)
            if len(obs):
                rows += store.write("macro", obs)
                cps.set("fred", f"macro/{series}", obs["ts"].max())
    finally:
        src.close()
    return rows


def _markets(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp) -> int:
    from pipelines.sources.coingecko import CoinGeckoSource
    src = CoinGeckoSource(sources.coingecko)
    try:
        return store.write("macro", src.markets(list(job.symbols)))
    finally:
        src.close()


def _onchain(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp) -> int:
    from pipelines.sources.blockchain import BlockchainSource
    src = BlockchainSource(sources.blockchain)
    try:
        return store.write("macro", src.stats())
    finally:
        src.close()


def _sentiment(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp) -> int:
    from pipelines.sources.finnhub import FinnhubSource
    src = FinnhubSource(sources.finnhub)
    since = now - pd.Timedelta(days=job.lookback_days)
    try:
        return sum(store.write("macro", src.social_sentiment(s, since, now)) for s in job.symbols)
    finally:
        src.close()


def _bars(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp, publish=None) -> int:
    """Closed bars since each series' checkpoint (or ``since``), published as they land."""
    from pipelines.ingest.backfill import backfill_bars
    from pipelines.sources.bar_sources import bar_source
    src = bar_source(job.source, sources)
    try:
        return sum(backfill_bars(src, store, s, job.timeframe, job.since, progress=False,
                                 on_page=publish).rows for s in job.symbols)
    finally:
        src.close()


def _orderbook(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp) -> int:
    if job.source != "binance":
        raise ConfigError(f"poll {job.name}: order-book snapshots come from binance, not {job.source}")
    from pipelines.sources.binance import BinanceSource
    src = BinanceSource(sources.binance)
    try:
        return sum(store.write("orderbook", src.depth(s)) for s in job.symbols)
    finally:
        src.close()


RUNNERS = {"orderbook": _orderbook, "news": _news, "macro": _macro, "markets": _markets, "onchain": _onchain, "sentiment": _sentiment}


def run_poll_job(job: PollJob, sources: SourcesConfig, store: Store, now: pd.Timestamp | None = None,
                 publish: Callable[[pd.DataFrame], None] | None = None) -> int:
    """Run one poll; returns the rows written. New closed bars go to ``publish``."""
    now = now or utc_now()
    if job.kind == "bars":
        rows = _bars(job, sources, store, now, publish)
    else:
        rows = RUNNERS[job.kind](job, sources, store, now)
    Checkpoints(store).set(job.source, f"poll/{job.name}", now, {"rows": rows})
    return rows
