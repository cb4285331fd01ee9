"""A small scheduler: periodic polls (polled bars, order books, news, macro, markets, on-chain),
each on its own cadence; new closed bars are published like the stream's.

:class:`Scheduler` is plain logic (``tick`` runs what is due); the Ray actor runs it in a
background thread on the head node. A failing job is recorded and retried at its next slot;
it never stops the others. After a restart each job's next slot follows its last recorded run
(checkpoint ``poll/<name>``), so a restart does not re-poll everything at once."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import pandas as pd
import ray

from cluster.placement import head_options
from pipelines.config import StoreConfig
from pipelines.errors import MeridianError
from pipelines.ingest.checkpoints import Checkpoints
from pipelines.config.ingest import IngestConfig, PollJob
from pipelines.ingest.polls import run_poll_job
from pipelines.ingest.pubsub import Publisher
from pipelines.config.sources import SourcesConfig
from pipelines.store import open_store
from pipelines.store.base import Store

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, jobs: tuple[PollJob, ...] | list[PollJob], sources: SourcesConfig, store: Store, *,
                 clock: Callable[[], float] = time.time,
                 runner: Callable[..., int] = run_poll_job,
                 publish: Callable[[pd.DataFrame], None] | None = None) -> None:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise MeridianError(f"poll job names must be unique: {names}")
        self.jobs = {j.name: j for j in jobs}
        self.sources = sources
        self.store = store
        self.clock = clock
        self.runner = runner
        self.publish = publish
        cps = Checkpoints(store)
        self.next_due: dict[str, float] = {}
        for j in jobs:
            cp = cps.get(j.source, f"poll/{j.name}")
            self.next_due[j.name] = 0.0 if cp is None else cp.ts.timestamp() + j.every_s
        self.stats = {n: {"runs": 0, "rows": 0, "errors": 0, "last_error": None, "last_run": None}
                      for n in self.jobs}

    def tick(self) -> list[str]:
        """Run every job that is due; returns the names run."""
        ran = []
        for name, job in self.jobs.items():
            now = self.clock()
            if now < self.next_due[name]:
                continue
            st = self.stats[name]
            try:
                st["rows"] += self.runner(job, self.sources, self.store, publish=self.publish)
                st["last_error"] = None
            except (MeridianError, ValueError, OSError) as exc:
                st["errors"] += 1
                st["last_error"] = str(exc)
                log.warning("poll %s failed: %s (next try in %.0f s)", name, exc, job.every_s)
            st["runs"] += 1
            st["last_run"] = now
            self.next_due[name] = now + job.every_s
            ran.append(name)
        return ran

    def seconds_to_next(self) -> float:
        return max(0.0, min(self.next_due.values(), default=60.0) - self.clock())


class SchedulerActor:
    """Runs a :class:`Scheduler` in a thread from construction until ``stop``."""

    def __init__(self, ingest: IngestConfig, store: StoreConfig, jobs: list[PollJob] | None = None,
                 bus_name: str | None = None) -> None:
        self.store = open_store(store)
        bus = ray.get_actor(bus_name) if bus_name and ray.is_initialized() else None
        self.scheduler = Scheduler(tuple(jobs) if jobs is not None else ingest.schedule,
                                   ingest.sources, self.store, publish=Publisher(bus=bus))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="poll-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.scheduler.tick()
            self._stop.wait(min(1.0, max(0.05, self.scheduler.seconds_to_next())))

    def stats(self) -> dict:
        return {"jobs": self.scheduler.stats, "alive": self._thread.is_alive()}

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(30)
        out = self.stats()
        self.store.close()
        return out


def start_scheduler(ingest: IngestConfig, store: StoreConfig, jobs: list[PollJob] | None = None, *,
                    name: str | None = None, bus_name: str | None = None):
    return ray.remote(SchedulerActor).options(
        **head_options(0.1), name=name, max_restarts=-1, max_concurrency=4).remote(ingest, store, jobs, bus_name)
