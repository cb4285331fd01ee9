"""Ingestion actors: one per source, on the head node, restartable.

The logic lives in :class:`SourceIngestor` (a plain class); the Ray actor wraps it. An actor
restarted by Ray (``max_restarts``) builds a fresh ingestor whose backfill starts from the
store's checkpoint, and interrupted calls are retried (``max_task_retries``), so a killed actor
continues where it stopped."""

from __future__ import annotations

import logging

import ray

from cluster.placement import head_options
from pipelines.config import StoreConfig
from pipelines.errors import ConfigError
from pipelines.ingest.backfill import backfill_symbols
from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from pipelines.config.ingest import IngestConfig
from pipelines.sources.bar_sources import bar_source
from pipelines.store import open_store

log = logging.getLogger(__name__)


class SourceIngestor:
    """Backfills bars of one source into the configured store."""

    def __init__(self, source: str, ingest: IngestConfig, store: StoreConfig) -> None:
        self.source_name = source
        self.source = bar_source(source, ingest.sources)
        self.store = open_store(store)

    def backfill(self, symbols: list[str], timeframe: str, since: str, until: str | None = None,
                 progress: bool = False) -> list[dict]:
        return backfill_symbols(self.source, self.store, symbols, timeframe, since, until, progress=progress)

    def trades(self, symbols: list[str], since: str, until: str | None = None) -> list[dict]:
        from pipelines.ingest.trades import backfill_trades
        if self.source_name != "binance":
            raise ConfigError(f"trades come from binance, not {self.source_name}")
        return [backfill_trades(self.source, self.store, s, since, until, progress=False) for s in symbols]

    def checkpoint(self, symbol: str, timeframe: str) -> str | None:
        cp = Checkpoints(self.store).get(self.source.name, bar_stream(symbol, timeframe))
        return None if cp is None else cp.ts.isoformat()

    def ping(self) -> str:
        return self.source_name

    def close(self) -> None:
        self.source.close()
        self.store.close()


def start_ingestor(source: str, ingest: IngestConfig, store: StoreConfig, *, name: str | None = None,
                   max_restarts: int = 3, max_task_retries: int = 3):
    """One ingestion actor for ``source`` on the head node (the existing one when ``name`` is
    already taken in this namespace)."""
    actor = ray.remote(SourceIngestor).options(
        **head_options(0.25), name=name, get_if_exists=name is not None, max_restarts=max_restarts,
        max_task_retries=max_task_retries, max_concurrency=1)
    return actor.remote(source, ingest, store)
