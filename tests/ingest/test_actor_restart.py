"""The ingestion actor on Ray: killed mid-backfill, restarted by Ray, continues from its checkpoint."""

from __future__ import annotations

import pandas as pd
import pytest
import ray

from pipelines.ingest.actors import start_ingestor
from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from pipelines.config.ingest import IngestConfig
from tests.replay.fixtures import replay_sources, store_config_of, wait_for_checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_killed_actor_restarts_and_finishes_from_its_checkpoint(ray_session, replay, store):
    sources = replay_sources(replay)
    sources = sources.model_copy(update={"binance": sources.binance.model_copy(update={"page_limit": 24})})
    ingest = IngestConfig(sources=sources)
    replay.delay = 0.2
    actor = start_ingestor("binance", ingest, store_config_of(store), max_restarts=2, max_task_retries=2)
    assert ray.get(actor.ping.remote(), timeout=60) == "binance"
    ref = actor.backfill.remote(["SOLUSDT"], "1h", "2024-01-01", "2024-01-16")
    cps, stream = Checkpoints(store), bar_stream("SOLUSDT", "1h")
    wait_for_checkpoint(cps, "binance", stream, pd.Timestamp("2024-01-03", tz="UTC"))
    ray.kill(actor, no_restart=False)
    killed_at = cps.get("binance", stream).ts
    result = ray.get(ref, timeout=120)[0]
    # the retried call ran in the restarted actor and began after the checkpoint
    assert result["resumed_from"] is not None
    assert pd.Timestamp(result["resumed_from"]) >= killed_at
    bars = store.read_bars("SOLUSDT", "1h")
    expected = pd.date_range("2024-01-01", "2024-01-16", freq="1h", inclusive="left", tz="UTC")
    assert bars["ts"].is_unique and list(bars["ts"]) == list(expected)
    assert ray.get(actor.checkpoint.remote("SOLUSDT", "1h"), timeout=30) == expected[-1].isoformat()
    ray.kill(actor, no_restart=True)
