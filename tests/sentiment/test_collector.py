"""The collectors as a Ray actor on the head: polls write once, and a killed actor restarts and
resumes from the store's checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipelines.config import StoreConfig  # noqa: E402
from pipelines.ingest.collectors import start_sentiment_collector  # noqa: E402
from pipelines.config.collectors import FearGreedConfig, SentimentSourcesConfig  # noqa: E402
from pipelines.config.sources import ProviderConfig  # noqa: E402
from pipelines.store import ParquetStore  # noqa: E402
from tests.replay.fixtures import FAST_RETRY  # noqa: E402
from tests.replay.server import ReplayServer  # noqa: E402


def test_actor_polls_once_and_resumes_after_a_kill(ray_session, tmp_path):
    ray = ray_session
    day = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=9)
    data = [{"value": str(30 + i), "value_classification": "Fear",
             "timestamp": str(int((day + pd.Timedelta(days=i)).timestamp()))} for i in range(10)][::-1]
    with ReplayServer() as srv:
        srv.override("/fng/", {"name": "Fear and Greed Index", "data": data, "metadata": {"error": None}})
        sources = SentimentSourcesConfig(feargreed=FearGreedConfig(provider=ProviderConfig(
            base_url=srv.url, per_minute=1000, retry=FAST_RETRY)))
        store_cfg = StoreConfig(path=str(tmp_path / "lake"))
        actor = start_sentiment_collector(sources, store_cfg, max_restarts=2, max_task_retries=2)
        first = ray.get(actor.collect.remote(), timeout=60)
        assert first["feargreed"]["written"] == 10 and "skipped" in first["reddit"] and "skipped" in first["twitter"]
        assert ray.get(actor.collect.remote(["feargreed"]), timeout=60)["feargreed"]["written"] == 0
        ray.kill(actor, no_restart=False)
        again = ray.get(actor.collect.remote(["feargreed"]), timeout=120)  # a fresh instance
        assert again["feargreed"]["written"] == 0 and 2 <= int(srv.requests[-1][1]["limit"]) <= 3  # from the checkpoint
        ray.get(actor.close.remote(), timeout=30)
        ray.kill(actor, no_restart=True)
    assert len(ParquetStore(tmp_path / "lake").read("macro", {"series_id": "CRYPTO_FEAR_GREED"})) == 10
