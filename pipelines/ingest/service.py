"""The live service: the stream actor, the bar bus and the scheduler, on the head node.

:class:`LiveIngestor` runs :class:`~pipelines.ingest.live.LiveBars` in a background thread from
its constructor, so when Ray restarts it (``max_restarts``) the new instance reloads its
checkpoints and fills what closed while it was down before following the stream again."""

from __future__ import annotations

import logging
import time

import ray

from cluster.placement import head_options
from pipelines.config import MeridianConfig, StoreConfig
from pipelines.config.ingest import IngestConfig, LiveConfig
from pipelines.ingest.live import LiveBars, LiveThread
from pipelines.ingest.pubsub import BUS_NAME, Publisher, bar_bus
from pipelines.sources.binance import BinanceSource
from pipelines.errors import ConfigError
from pipelines.store import open_store

log = logging.getLogger(__name__)


class LiveIngestor:
    """Follows the Binance streams for ``live.symbols`` from construction until ``stop``."""

    def __init__(self, ingest: IngestConfig, live: LiveConfig, store: StoreConfig,
                 bus_name: str | None = BUS_NAME) -> None:
        self.store = open_store(store)
        bus = None
        if bus_name and ray.is_initialized():
            bus = ray.get_actor(bus_name) if _exists(bus_name) else None
        self.live = LiveBars(BinanceSource(ingest.sources.binance), self.store, live,
                             publish=Publisher(bus=bus))
        self.resumed_from = {s: (None if t is None else t.isoformat()) for s, t in self.live.last.items()}
        self.started_at = time.time()
        self.runner = LiveThread(self.live).start()

    def stats(self) -> dict:
        out = self.live.stats.as_dict()
        out["alive"] = self.runner.alive()
        out["resumed_from"] = self.resumed_from
        out["started_at"] = self.started_at
        out["last"] = {s: (None if t is None else t.isoformat()) for s, t in self.live.last.items()}
        return out

    def stop(self) -> dict:
        self.runner.stop()
        out = self.stats()
        self.store.close()
        return out


def _exists(name: str) -> bool:
    try:
        ray.get_actor(name)
        return True
    except ValueError:
        return False


def start_live_actor(ingest: IngestConfig, live: LiveConfig, store: StoreConfig, *,
                     name: str | None = "meridian-live", bus_name: str | None = BUS_NAME,
                     max_restarts: int = -1):
    return ray.remote(LiveIngestor).options(
        **head_options(0.25), name=name, max_restarts=max_restarts, max_task_retries=0,
        max_concurrency=4).remote(ingest, live, store, bus_name)


def run_live_service(cfg: MeridianConfig, live: LiveConfig, *, duration: float | None = None,
                     local: bool = False, with_schedule: bool = False) -> dict:
    """Run live ingestion (and optionally the scheduled polls) for ``duration`` seconds or
    until interrupted; returns the counters."""
    if not cfg.ingest.sources.binance.ws_url:
        raise ConfigError("live ingestion needs Binance's WebSocket: set ingest.sources.binance.ws_url "
                          "(MERIDIAN__INGEST__SOURCES__BINANCE__WS_URL=wss://stream.binance.com:9443)")
    if not live.symbols:
        raise ConfigError("live ingestion needs symbols: --symbols BTCUSDT,ETHUSDT or ingest.live.symbols")
    deadline = None if duration is None else time.monotonic() + duration
    if local:
        from pipelines.ingest.scheduler import SchedulerActor
        store = open_store(cfg.store)
        lb = LiveBars(BinanceSource(cfg.ingest.sources.binance), store, live)
        runner = LiveThread(lb).start()
        sched = SchedulerActor(cfg.ingest, cfg.store) if with_schedule else None
        try:
            while runner.alive() and (deadline is None or time.monotonic() < deadline):
                time.sleep(min(0.5, max(0.01, (deadline or time.monotonic() + 1) - time.monotonic())))
        except KeyboardInterrupt:
            pass
        finally:
            out = {"live": runner.stop().as_dict()}
            if sched is not None:
                out["schedule"] = sched.stop()
            store.close()
        return out
    from cluster.runtime import init_ray
    from pipelines.ingest.scheduler import start_scheduler
    init_ray(cfg.ray)
    bus = bar_bus()
    ray.get(bus.stats.remote(), timeout=60)
    actor = start_live_actor(cfg.ingest, live, cfg.store)
    sched = start_scheduler(cfg.ingest, cfg.store, bus_name=BUS_NAME) if with_schedule else None
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(min(5.0, max(0.1, (deadline or time.monotonic() + 5) - time.monotonic())))
    except KeyboardInterrupt:
        pass
    out = {"live": ray.get(actor.stop.remote(), timeout=60), "bus": ray.get(bus.stats.remote(), timeout=60)}
    if sched is not None:
        out["schedule"] = ray.get(sched.stop.remote(), timeout=60)
    for a in (actor, sched, bus):
        if a is not None:
            ray.kill(a)
    return out
