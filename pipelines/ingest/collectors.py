"""Collectors: a source's records into the store, once, resuming from checkpoints.

Sources (:mod:`pipelines.sources`) only turn a provider's format into canonical records; this
module decides what is new, writes it and moves each checkpoint. The sentiment collectors (Fear &
Greed, Reddit, X/Twitter) stand behind one object, :class:`SentimentCollector` (a plain class), and
its Ray actor on the head node beside the other ingestion actors. Every collector resumes from its
checkpoint in the store, so an actor restarted by Ray (``max_restarts``) picks up where the killed
one stopped, and a repeated poll writes nothing twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from pipelines.config import StoreConfig
from pipelines.config.collectors import SentimentSourcesConfig
from pipelines.errors import ConfigError
from pipelines.ingest.checkpoints import Checkpoints
from pipelines.times import utc_now
from pipelines.sources.feargreed import SERIES_ID, SOURCE, FearGreedSource
from pipelines.sources.reddit import RedditSource
from pipelines.sources.twitter import TwitterSource
from pipelines.store import open_store
from pipelines.store.base import Store

log = logging.getLogger(__name__)
SOURCES = ("feargreed", "reddit", "twitter")


def write_new_items(store: Store, news: pd.DataFrame) -> int:
    """Write only items never seen before, so ``known_at`` stays the first time we saw each."""
    if news.empty:
        return 0
    seen = store.read("news", {"item_id": list(news["item_id"])})
    fresh = news[~news["item_id"].isin(set(seen["item_id"]))]
    return store.write("news", fresh) if len(fresh) else 0


@dataclass
class FearGreedResult:
    fetched: int
    written: int
    first_ts: pd.Timestamp | None
    last_ts: pd.Timestamp | None
    rejected: int = 0

    def as_dict(self) -> dict:
        iso = lambda t: None if t is None else t.isoformat()  # noqa: E731
        return {"source": SOURCE, "series_id": SERIES_ID, "fetched": self.fetched, "written": self.written,
                "rejected": self.rejected, "first_ts": iso(self.first_ts), "last_ts": iso(self.last_ts)}


@dataclass
class StreamsResult:
    """Per stream (a subreddit, a search query): fetched and written counts."""

    source: str
    key: str
    streams: dict[str, dict] = field(default_factory=dict)

    @property
    def written(self) -> int:
        return sum(s["written"] for s in self.streams.values())

    def as_dict(self) -> dict:
        return {"source": self.source, "written": self.written, self.key: self.streams}


def collect_feargreed(src: FearGreedSource, store: Store, full: bool = False,
                      now: pd.Timestamp | None = None) -> FearGreedResult:
    """New days since the checkpoint (the whole history on the first run or with ``full``)."""
    now = now or utc_now()
    cps = Checkpoints(store)
    cp = None if full else cps.get(src.name, SERIES_ID)
    limit = 0 if cp is None else max(2, (now.normalize() - cp.ts).days + 2)
    df, bad = src.fetch(limit, now)
    if df.empty:
        return FearGreedResult(0, 0, None, None, bad)
    have = store.read("macro", {"series_id": SERIES_ID}, start=df["ts"].min())
    new = df[~df["ts"].isin(set(have["ts"]))] if not have.empty else df
    written = store.write("macro", new) if len(new) else 0
    cps.set(src.name, SERIES_ID, df["ts"].max(), {"rows": int(written)})
    return FearGreedResult(len(df), int(written), df["ts"].min(), df["ts"].max(), bad)


def collect_reddit(src: RedditSource, store: Store, now: pd.Timestamp | None = None) -> StreamsResult:
    """Every configured subreddit's posts newer than its checkpoint."""
    cps = Checkpoints(store)
    res = StreamsResult("reddit", "subreddits")
    for sub in src.cfg.subreddits:
        now_ = now or utc_now()
        cp = cps.get(src.name, f"r/{sub}")
        df = src.posts(sub, None if cp is None else cp.ts, now_)
        written = write_new_items(store, df)
        if len(df):
            cps.set(src.name, f"r/{sub}", df["published_at"].max(), {"rows": written})
        res.streams[sub] = {"fetched": len(df), "written": written,
                            "newest": None if df.empty else df["published_at"].max().isoformat()}
        log.info("r/%s: %d posts, %d new", sub, len(df), written)
    return res


def collect_twitter(src: TwitterSource, store: Store, now: pd.Timestamp | None = None) -> StreamsResult:
    """Every configured query's posts newer than the last one stored (``since_id``)."""
    cps = Checkpoints(store)
    res = StreamsResult("twitter", "queries")
    for symbol, query in src.cfg.queries.items():
        now_ = now or utc_now()
        cp = cps.get(src.name, f"search/{symbol}")
        df = src.search(symbol, query, None if cp is None else cp.state.get("since_id"), now_)
        written = write_new_items(store, df)
        if len(df):
            newest = max(df["item_id"].str.split(":").str[1], key=int)
            cps.set(src.name, f"search/{symbol}", df["published_at"].max(), {"since_id": newest})
        res.streams[symbol] = {"fetched": len(df), "written": written}
    return res


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
                self._open[name] = FearGreedSource(self.cfg.feargreed)
            elif name == "reddit":
                self._open[name] = RedditSource(self.cfg.reddit)
            elif name == "twitter":
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
            res = (collect_feargreed(src, self.store, full=full, now=now) if name == "feargreed" else
                   collect_reddit(src, self.store, now=now) if name == "reddit" else
                   collect_twitter(src, self.store, now=now))
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
