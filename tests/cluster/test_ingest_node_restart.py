"""The node carrying the ingestion actor dies mid-backfill and comes back: the actor restarts on
it and finishes from its checkpoint, with no bar lost or duplicated."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import ray
from ray.cluster_utils import Cluster

from pipelines.ingest.actors import start_ingestor
from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from pipelines.config.ingest import IngestConfig
from tests.replay.fixtures import replay, replay_sources, store_config_of, wait_for_checkpoint  # noqa: F401


@pytest.fixture
def head_role_cluster():
    """Ray's own head plus a removable node carrying the `head` role (the Mac) and a GPU node."""
    was_up = ray.is_initialized()
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4,
                                          "health_check_initial_delay_ms": 0}})
    mac = cluster.add_node(num_cpus=1, resources={"head": 1})
    cluster.add_node(num_cpus=1, num_gpus=1, resources={"gpu_worker": 1})
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster, mac
    ray.shutdown()
    cluster.shutdown()
    if was_up:
        from tests.conftest import start_test_ray
        start_test_ray()


@pytest.mark.slow
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_ingestion_actor_survives_its_node_restarting(head_role_cluster, replay, store):
    cluster, mac = head_role_cluster
    sources = replay_sources(replay)
    sources = sources.model_copy(update={"binance": sources.binance.model_copy(update={"page_limit": 24})})
    replay.delay = 0.2
    actor = start_ingestor("binance", IngestConfig(sources=sources), store_config_of(store),
                           max_restarts=3, max_task_retries=3)
    assert ray.get(actor.ping.remote(), timeout=60) == "binance"
    ref = actor.backfill.remote(["SOLUSDT"], "1h", "2024-01-01", "2024-01-16")
    cps, stream = Checkpoints(store), bar_stream("SOLUSDT", "1h")
    wait_for_checkpoint(cps, "binance", stream, pd.Timestamp("2024-01-03", tz="UTC"))
    cluster.remove_node(mac, allow_graceful=False)          # the Mac goes down mid-backfill
    killed_at = cps.get("binance", stream).ts
    time.sleep(1.0)
    new_mac = cluster.add_node(num_cpus=1, resources={"head": 1})  # and comes back
    result = ray.get(ref, timeout=180)[0]
    assert result["resumed_from"] is not None and pd.Timestamp(result["resumed_from"]) >= killed_at
    bars = store.read_bars("SOLUSDT", "1h")
    expected = pd.date_range("2024-01-01", "2024-01-16", freq="1h", inclusive="left", tz="UTC")
    assert bars["ts"].is_unique and list(bars["ts"]) == list(expected)
    where = ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()), timeout=30)
    assert where == new_mac.node_id
    ray.kill(actor, no_restart=True)
