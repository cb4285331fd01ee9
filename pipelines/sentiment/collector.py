"""The sentiment collectors (Fear & Greed, Reddit, X/Twitter) behind one object, and its Ray actor
on the head node beside the other ingestion actors.

The logic is :class:`SentimentCollector` (a plain class); the actor wraps it. Every collector
resumes from its checkpoint in the store, so an actor restarted by Ray (``max_restarts``) picks up
where the killed one stopped, and a repeated poll writes nothing twice."""

from __future__ import annotations

import logging

import pandas as pd

from pipelines.config import StoreConfig
from pipelines.errors import ConfigError
from pipelines.sentiment.sources_config import SentimentSourcesConfig
from pipelines.store import open_store

log = logging.getLogger(__name__)
SOURCES = ("feargreed", "reddit", "twitter")


class SentimentCollector:
    """Runs the named collectors against one store; a source without credentials is skipped
    (with the reason) unless it was asked for by name."""

    def __init__(self, sources: SentimentSourcesConfig, store: StoreConfig) -> None:
        self.cfg = sources
        self.store = open_store(store)
        self._open: dict = {}

    def _source(self, name: str):
        if name not in self._open:
            if name == "feargreed":
                from pipelines.sources.feargreed import FearGreedSource
                self._open[name] = FearGreedSource(self.cfg.feargreed)
            elif name == "reddit":
                from pipelines.sources.reddit import RedditSource
                self._open[name] = RedditSource(self.cfg.reddit)
            elif name == "twitter":
                from pipelines.sources.twitter import TwitterSource
                self._open[name] = TwitterSource(self.cfg.twitter)
            else:
                raise ConfigError(f"unknown source {name!r}: one of {', '.join(SOURCES)} or all")
        return self._open[name]

    def collect(self, names: list[str] | tuple[str, ...] = ("all",), full: bool = False,
                now: pd.Timestamp | None = None) -> dict[str, dict]:
        explicit = "all" not in names
        wanted = list(dict.fromkeys(names)) if explicit else list(SOURCES)
        out: dict[str, dict] = {}
        for name in wanted:
            try:
                src = self._source(name)
            except ConfigError as exc:
                if explicit:
                    raise
                out[name] = {"skipped": str(exc)}
                continue
            res = src.collect(self.store, full=full, now=now) if name == "feargreed" else src.collect(self.store, now=now)
            out[name] = res.as_dict()
            log.info("%s: %s new", name, out[name].get("written"))
        return out

    def ping(self) -> str:
        return "sentiment"

    def close(self) -> None:
        for src in self._open.values():
            close = getattr(src, "close", None)
            if close:
                close()
        self.store.close()


def start_sentiment_collector(sources: SentimentSourcesConfig, store: StoreConfig, *, name: str | None = None,
                              max_restarts: int = 3, max_task_retries: int = 3):
    """The collector as a Ray actor on the head node (a sliver of a CPU), restartable."""
    import ray

    from cluster.placement import Work, options_for
    actor = ray.remote(SentimentCollector).options(
        **options_for(Work.INGEST), name=name, max_restarts=max_restarts,
        max_task_retries=max_task_retries, max_concurrency=1)
    return actor.remote(sources, store)
