"""The live actor on Ray: publishes to the bus; killed, it restarts from its checkpoint and fills
the bars that closed while it was down."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import ray

from pipelines.config.ingest import IngestConfig, LiveConfig
from pipelines.ingest.pubsub import bar_bus
from pipelines.ingest.service import start_live_actor
from tests.replay.fixtures import replay_sources, store_config_of
from tests.replay.server import kline_event


def _wait(cond, timeout=60.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_live_actor_restarts_from_its_checkpoint(ray_session, replay, store):
    # real clock: the replay server's klines end at the current (open) minute
    now = pd.Timestamp.now(tz="UTC").floor("1min")
    ingest = IngestConfig(sources=replay_sources(replay))
    live = LiveConfig(symbols=("BNBUSDT",), timeframe="1m", depth=False, reconnect_delay=0.05,
                      catchup_since=str(now - pd.Timedelta(minutes=30)))
    bus = bar_bus("test-bus")
    ray.get(bus.subscribe.remote("test"), timeout=30)
    actor = start_live_actor(ingest, live, store_config_of(store), name=None, bus_name="test-bus")
    try:
        _wait(lambda: ray.get(actor.stats.remote(), timeout=30)["connects"] >= 1, what="first connect")
        first = ray.get(actor.stats.remote(), timeout=30)
        assert first["resumed_from"] == {"BNBUSDT": None}
        last = pd.Timestamp(first["last"]["BNBUSDT"])
        assert last >= now - pd.Timedelta(minutes=1)
        ev_ts = last + pd.Timedelta(minutes=1)
        ms = int(ev_ts.value // 1_000_000)
        replay.push({"stream": "bnbusdt@kline_1m", "data": kline_event("BNBUSDT", "1m", ms, True)})
        _wait(lambda: ray.get(actor.stats.remote(), timeout=30)["last"]["BNBUSDT"] == ev_ts.isoformat(),
              what="stream bar")

        ray.kill(actor, no_restart=False)
        _wait(lambda: (_stats(actor) or {}).get("started_at", 0) > first["started_at"], what="restart")
        _wait(lambda: _stats(actor)["connects"] >= 1, what="reconnect after the restart")
        after = _stats(actor)
        assert after["resumed_from"] == {"BNBUSDT": ev_ts.isoformat()}  # reloaded its checkpoint
        ray.get(actor.stop.remote(), timeout=30)
    finally:
        ray.kill(actor, no_restart=True)
    bars = store.read_bars("BNBUSDT", "1m")
    assert bars["ts"].is_unique and bars["ts"].iloc[0] == now - pd.Timedelta(minutes=30)
    assert (bars["ts"].diff().dropna() == pd.Timedelta(minutes=1)).all()
    published = ray.get(bus.poll.remote("test"), timeout=30)
    assert [r["ts"] for r in published][: len(bars)] == list(bars["ts"])[: len(published)]
    assert len(published) >= 31
    ray.kill(bus)


def _stats(actor):
    try:
        return ray.get(actor.stats.remote(), timeout=10)
    except ray.exceptions.RayActorError:
        return None
