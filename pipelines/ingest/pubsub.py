"""Publishing closed bars to whoever subscribed: in-process callbacks and a Ray bus actor.

Later stages (live features, Serve's stream) subscribe by name and poll their own queue, or
long-poll it with ``wait`` (answered as soon as a bar is published: no polling interval in the
path); a slow or absent subscriber never blocks ingestion (each queue is bounded, oldest dropped)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable

import pandas as pd
import ray

from cluster.placement import head_options

log = logging.getLogger(__name__)

BUS_NAME = "meridian-bar-bus"


def bar_records(bars: pd.DataFrame) -> list[dict]:
    """Bars as plain dicts (timestamps stay tz-aware pandas Timestamps)."""
    return bars.astype(object).where(bars.notna(), None).to_dict("records")


class BarBus:
    """Named subscriber queues of closed bars."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.maxlen = maxlen
        self._queues: dict[str, deque] = {}
        self._ready: dict[str, asyncio.Event] = {}  # long-polling subscribers, woken by publish
        self.published = 0
        self.dropped = 0

    def subscribe(self, name: str) -> str:
        self._queues.setdefault(name, deque(maxlen=self.maxlen))
        return name

    def unsubscribe(self, name: str) -> None:
        self._queues.pop(name, None)
        ev = self._ready.pop(name, None)
        if ev is not None:
            ev.set()

    def publish(self, records: list[dict]) -> int:
        for q in self._queues.values():
            self.dropped += max(0, len(q) + len(records) - self.maxlen)
            q.extend(records)
        for ev in self._ready.values():
            ev.set()
        self.published += len(records)
        return len(self._queues)

    def poll(self, name: str, max_items: int = 1000) -> list[dict]:
        q = self._queues.get(name)
        if q is None:
            raise KeyError(f"no subscriber {name!r}: subscribe first")
        return [q.popleft() for _ in range(min(max_items, len(q)))]

    async def wait(self, name: str, max_items: int = 10_000, timeout: float = 30.0) -> list[dict]:
        """The subscriber's waiting bars as soon as there are any (at most ``timeout`` seconds;
        an empty list then). On the actor every method runs on one event loop, so ``publish``
        wakes the waiters directly."""
        if name not in self._queues:
            raise KeyError(f"no subscriber {name!r}: subscribe first")
        if not self._queues[name]:
            ev = self._ready.setdefault(name, asyncio.Event())
            ev.clear()
            try:
                await asyncio.wait_for(ev.wait(), timeout)
            except asyncio.TimeoutError:
                return []
            if name not in self._queues:
                return []
        return self.poll(name, max_items)

    def stats(self) -> dict:
        return {"published": self.published, "dropped": self.dropped,
                "subscribers": {k: len(v) for k, v in self._queues.items()}}


def bar_bus(name: str = BUS_NAME):
    """The bus actor of this Ray namespace (created on the head node if absent)."""
    return ray.remote(BarBus).options(**head_options(0.0), name=name, get_if_exists=True,
                                      max_restarts=-1).remote()


class Publisher:
    """Fan-out of each batch of new closed bars: local callbacks, then the bus actor if any."""

    def __init__(self, callbacks: list[Callable[[pd.DataFrame], None]] | None = None, bus=None) -> None:
        self.callbacks = list(callbacks or [])
        self.bus = bus

    def subscribe(self, callback: Callable[[pd.DataFrame], None]) -> None:
        self.callbacks.append(callback)

    def __call__(self, bars: pd.DataFrame) -> None:
        if bars.empty:
            return
        for cb in self.callbacks:
            try:
                cb(bars)
            except Exception:  # a subscriber's bug must not stop ingestion
                log.exception("bar subscriber %r failed", cb)
        if self.bus is not None:
            self.bus.publish.remote(bar_records(bars))
