"""The live loop of the Serve application: closed bars from the ingestion bus, as soon as they
are published, become predictions pushed to every WS /stream listener and a paper-trading step.

    live ingestor --publish--> bar bus actor --wait (long poll)--> LiveFeed (ingress replica)
        -> ensemble.on_bars: bars appended, streaming feature rows, every served model's answer
        -> each /stream listener's queue; each step hook (the paper account) in the background

The step hooks run on their own task, batch after batch in order, so a slow paper step never
holds the next batch's predictions back: the feed is waiting on the bus again as soon as the
listeners have the batch.

Nothing in the path waits on a timer: the feed long-polls the bus (``BarBus.wait``), which
answers the moment a bar is published. /stream keeps a slow look at the store as a fallback for
bars that reach it another way (an import, a backfill job)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Awaitable, Callable

import pandas as pd

from pipelines.config import MeridianConfig
from pipelines.store import open_store

log = logging.getLogger(__name__)

OnBars = Callable[[list[dict]], Awaitable[dict[str, dict]]]
# a step on each batch of new bars and the predictions made from them ({symbol: {"ok": ...} or
# {"status", "reason"}}), e.g. the paper account's
StepHook = Callable[[pd.DataFrame, dict[str, dict]], Awaitable[None]]


def layers(records: list[dict]) -> list[list[dict]]:
    """A bus batch as batches that hold one bar per symbol each, in time order: the first new
    bar of every symbol, then the second, ... A batch that caught two closed bars of a symbol
    (ingestion or the feed fell a bar behind) gets a prediction for each bar, in order, not for
    the newest only."""
    out: list[list[dict]] = []
    seen: dict[str, int] = {}
    for r in sorted(records, key=lambda r: r["ts"]):
        n = seen[r["symbol"]] = seen.get(r["symbol"], -1) + 1
        if n == len(out):
            out.append([])
        out[n].append(r)
    return out


class LiveFeed:
    """Follows the bar bus ``bus_name``; ``on_bars`` turns a batch of bar records into
    predictions; listeners get ``{"bars": DataFrame, "predictions": {...}}`` per batch."""

    def __init__(self, bus_name: str, on_bars: OnBars, market=None, hooks: list[StepHook] | None = None,
                 wait_s: float = 10.0) -> None:
        self.bus_name = bus_name
        self.on_bars = on_bars
        self.market = market
        self.hooks = list(hooks or [])
        self.wait_s = wait_s
        self.subscriber = f"serve-{uuid.uuid4().hex[:8]}"
        self.listeners: set[asyncio.Queue] = set()
        self.batches = 0
        self.bars = 0
        self.errors = 0
        self._task: asyncio.Task | None = None
        self._steps: list[tuple[pd.DataFrame, dict[str, dict]]] = []   # batches the hooks have not taken
        self._stepping: asyncio.Task | None = None

    def start(self) -> None:
        """Start following the bus on the running event loop (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def started(self) -> bool:
        return self._task is not None and not self._task.done()

    def listen(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self.listeners.add(q)
        return q

    def unlisten(self, q: asyncio.Queue) -> None:
        self.listeners.discard(q)

    async def _bus(self):
        from pipelines.ingest.pubsub import bar_bus
        bus = await asyncio.to_thread(bar_bus, self.bus_name)
        await bus.subscribe.remote(self.subscriber)
        return bus

    async def _run(self) -> None:
        bus = None
        while True:
            try:
                if bus is None:
                    bus = await self._bus()
                records = await bus.wait.remote(self.subscriber, 10_000, self.wait_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus restarted or is gone: subscribe again
                log.warning("bar bus %s unreachable (%s); retrying in 1 s", self.bus_name, exc)
                bus = None
                await asyncio.sleep(1.0)
                continue
            for layer in layers(records):
                await self.deliver(layer)

    async def deliver(self, records: list[dict]) -> dict[str, dict]:
        """One batch of closed bars through the loop; returns the predictions made."""
        bars = pd.DataFrame(records)
        call = asyncio.ensure_future(self.on_bars(records))
        if self.market is not None:
            await asyncio.sleep(0)   # the prediction call is under way before this replica appends the bars
            self.market.push(bars)
        try:
            preds = await call
        except Exception as exc:
            self.errors += 1
            reason = f"the prediction service did not answer ({type(exc).__name__}: {exc})"
            preds = {str(s): {"status": 503, "reason": reason} for s in bars["symbol"].unique()}
        self.batches += 1
        self.bars += len(bars)
        event = {"bars": bars, "predictions": preds}
        for q in list(self.listeners):
            if q.full():   # a stalled client loses its oldest batch, not the loop its pace
                q.get_nowait()
            q.put_nowait(event)
        if self.hooks:
            self._steps.append((bars, preds))
            if self._stepping is None or self._stepping.done():
                self._stepping = asyncio.get_running_loop().create_task(self._step())
        return preds

    async def _step(self) -> None:
        """The hooks on every batch delivered, one batch at a time, in order."""
        while self._steps:
            bars, preds = self._steps.pop(0)
            for hook in self.hooks:
                try:
                    await hook(bars, preds)
                except Exception:  # a step's bug must not stop the feed
                    self.errors += 1
                    log.exception("live step %r failed", hook)

    def stats(self) -> dict[str, Any]:
        return {"bus": self.bus_name, "running": self.started(), "batches": self.batches, "bars": self.bars,
                "errors": self.errors, "listeners": len(self.listeners)}


class StrategyStep:
    """The paper step of the live loop: every promoted strategy's paper account
    (:class:`~pipelines.trading.replay.StrategyAccount`, the account `meridian paper` shows)
    that is not switched off (``POST /paper/stop``) takes the served models' answers the feed
    just made (no second model call) and decides the new bars with the one decision. It runs in a
    worker thread on its own store connection, one batch at a time."""

    def __init__(self, cfg: MeridianConfig) -> None:
        self.cfg = cfg
        self._lock = asyncio.Lock()
        self._store = None
        self.accounts: dict[str, Any] = {}
        self.steps = 0

    def _step(self, bars: pd.DataFrame, preds: dict[str, dict]) -> int:
        from pipelines.trading.replay import StrategyAccount, default_account, paper_switch
        from pipelines.trading.strategy import list_strategies
        from serving.predictor import strategy_answers
        if self._store is None:
            self._store = open_store(self.cfg.store)
        done = 0
        for st in list_strategies(self._store, "promoted"):
            ok = {s: preds[s]["ok"] for s in st.symbols if "ok" in preds.get(s, {})}
            if not ok or not paper_switch(self._store, default_account(st))["running"]:
                continue
            try:   # one strategy that cannot be stepped (its run is gone) must not stop the others
                acct = self.accounts.get(st.strategy_id)
                if acct is None or acct.st != st:
                    acct = self.accounts[st.strategy_id] = StrategyAccount(self._store, st)
                acct.add_predictions_many({s: strategy_answers(p, st.models, st.timeframe, st.horizon)
                                           for s, p in ok.items()})
                done += acct.replay()
            except Exception:
                log.exception("paper step of strategy %s failed", st.strategy_id)
        return done

    async def __call__(self, bars: pd.DataFrame, preds: dict[str, dict]) -> None:
        async with self._lock:
            try:
                self.steps += await asyncio.to_thread(self._step, bars, preds)
            except Exception:   # a failing account must not stop the feed
                log.exception("strategy paper step failed")
