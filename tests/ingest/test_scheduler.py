"""Scheduled polls through the real clients into both stores; the scheduler actor on Ray."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import ray

from pipelines.config.ingest import IngestConfig, PollJob
from pipelines.ingest.polls import run_poll_job
from pipelines.ingest.scheduler import Scheduler, start_scheduler
from tests.replay.fixtures import replay_sources, store_config_of

NEWS = PollJob(name="news", kind="news", source="finnhub", every_s=0.5, symbols=("AAPL",))
MACRO = PollJob(name="macro", kind="macro", source="fred", every_s=3600, symbols=("CPIAUCSL",))
MARKETS = PollJob(name="markets", kind="markets", source="coingecko", every_s=60, symbols=("bitcoin", "ethereum"))
ONCHAIN = PollJob(name="onchain", kind="onchain", source="blockchain", every_s=60)
AVNEWS = PollJob(name="av-news", kind="news", source="alphavantage", every_s=60, symbols=("AAPL",))
SOCIAL = PollJob(name="social", kind="sentiment", source="finnhub", every_s=60, symbols=("AAPL",))


class Clock:
    def __init__(self):
        self.t = 1_705_000_000.0

    def __call__(self):
        return self.t


def test_each_poll_writes_canonical_rows(replay, sources_cfg, store):
    for job in (NEWS, AVNEWS, MACRO, MARKETS, ONCHAIN, SOCIAL):
        assert run_poll_job(job, sources_cfg, store) > 0, job.name
    news = store.read("news")
    assert len(news) == 5 and set(news["provider"]) == {"finnhub", "alphavantage"}
    macro = store.read("macro")
    assert {"CPIAUCSL", "coingecko/bitcoin/market_cap", "blockchain/hash_rate",
            "finnhub/social/AAPL/score"} <= set(macro["series_id"])


def test_polled_bars_resume_from_checkpoints_and_are_published(replay, sources_cfg, store):
    job = PollJob(name="stocks", kind="bars", source="yahoo", every_s=3600, symbols=("AAPL",),
                  timeframe="1d", since="2024-01-01")
    got: list = []
    assert run_poll_job(job, sources_cfg, store, publish=lambda b: got.extend(b["ts"])) == 8
    assert got == list(store.read_bars("AAPL", "1d")["ts"])
    assert run_poll_job(job, sources_cfg, store, publish=lambda b: got.extend(b["ts"])) == 0
    assert len(got) == 8
    book = PollJob(name="books", kind="orderbook", source="binance", every_s=10, symbols=("BTCUSDT", "ETHUSDT"))
    assert run_poll_job(book, sources_cfg, store) == 2
    assert set(store.read("orderbook")["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    with pytest.raises(ValueError, match="kind 'bars' needs timeframe and since"):
        PollJob(name="x", kind="bars", source="yahoo", every_s=1, symbols=("AAPL",))


def test_news_keeps_the_first_seen_time(replay, sources_cfg, store):
    first = pd.Timestamp.now(tz="UTC")
    run_poll_job(NEWS, sources_cfg, store)
    known = store.read("news").set_index("item_id")["known_at"]
    time.sleep(0.05)
    assert run_poll_job(NEWS, sources_cfg, store) == 0  # nothing new
    again = store.read("news").set_index("item_id")["known_at"]
    assert (again == known).all() and (known >= first).all()


def test_scheduler_runs_each_job_on_its_cadence_and_survives_failures(replay, sources_cfg, store):
    clock = Clock()
    sched = Scheduler([NEWS, MACRO, MARKETS], sources_cfg, store, clock=clock)
    assert sorted(sched.tick()) == ["macro", "markets", "news"]
    replay.fail("/coingecko/api/v3/coins/markets", 503, "down", times=20)
    for _ in range(4):
        clock.t += 0.5
        sched.tick()
    clock.t += 60
    sched.tick()
    st = sched.stats
    assert st["news"]["runs"] == 6 and st["macro"]["runs"] == 1
    assert st["markets"]["runs"] == 2 and st["markets"]["errors"] == 1
    assert "CoinGecko" in st["markets"]["last_error"] and "HTTP 503" in st["markets"]["last_error"]
    # a new scheduler (a restart) resumes the cadence from the recorded runs
    again = Scheduler([NEWS, MACRO, MARKETS], sources_cfg, store, clock=time.time)
    assert again.next_due["macro"] > time.time() + 3000


def test_scheduler_actor_polls_in_the_background(ray_session, replay):
    import tempfile
    from pipelines.store import ParquetStore
    with tempfile.TemporaryDirectory() as tmp:
        st = ParquetStore(tmp)
        actor = start_scheduler(IngestConfig(sources=replay_sources(replay)), store_config_of(st),
                                [ONCHAIN, MARKETS.model_copy(update={"every_s": 0.2})])
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                s = ray.get(actor.stats.remote(), timeout=30)
                if s["jobs"]["markets"]["runs"] >= 3:
                    break
                time.sleep(0.1)
            out = ray.get(actor.stop.remote(), timeout=30)
        finally:
            ray.kill(actor, no_restart=True)
        assert out["jobs"]["markets"]["runs"] >= 3 and out["jobs"]["onchain"]["runs"] == 1
        assert len(st.read("macro")) > 0
