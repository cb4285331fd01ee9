"""The live loop of the Serve application: closed bars from the ingestion bus, as soon as they
are published, become predictions pushed to every WS /stream listener and a paper-trading step.

    live ingestor --publish--> bar bus actor --wait (long poll)--> LiveFeed (ingress replica)
        -> ensemble.on_bars: bars appended, streaming feature rows, every served model's answer
        -> each /stream listener's queue, then each step hook (the paper account)

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
            if records:
                await self.deliver(records)

    async def deliver(self, records: list[dict]) -> dict[str, dict]:
        """One batch of closed bars through the loop; returns the predictions made."""
        bars = pd.DataFrame(records)
        if self.market is not None:
            self.market.push(bars)
        try:
            preds = await self.on_bars(records)
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
        for hook in self.hooks:
            try:
                await hook(bars, preds)
            except Exception:  # a step's bug must not stop the feed
                self.errors += 1
                log.exception("live step %r failed", hook)
        return preds

    def stats(self) -> dict[str, Any]:
        return {"bus": self.bus_name, "running": self.started(), "batches": self.batches, "bars": self.bars,
                "errors": self.errors, "listeners": len(self.listeners)}


def view_of(prediction: dict, ts: pd.Timestamp) -> dict[str, float] | None:
    """What the paper step decides from: the first served horizon's ensemble, if it was made
    from the bar at ``ts``."""
    for h in prediction.get("horizons", []):
        if h.get("ensemble") and pd.Timestamp(h["ts"]) == ts:
            e = h["ensemble"]
            return {"prob_up": e["prob_up"], "confidence": e["confidence"], "expected_return": e["expected_return"]}
    return None


class PaperStep:
    """The paper account's step on each batch: :class:`~pipelines.trading.paper.PaperTrader`
    fed the new bars, deciding from the predictions the feed just made (no second model call).
    It runs in a worker thread on its own store connection, one batch at a time."""

    def __init__(self, cfg: MeridianConfig) -> None:
        self.cfg = cfg
        self._lock = asyncio.Lock()
        self._trader = None
        self._views: dict[str, dict[str, float] | None] = {}
        self.steps = 0

    def _make(self, symbols: dict[str, str], timeframe: str, start: pd.Timestamp):
        from pipelines.costs import Costs
        from pipelines.trading.paper import PaperTrader
        tr = self.cfg.trading
        store = open_store(self.cfg.store)
        trader = PaperTrader(store, symbols, timeframe, lambda s, history: self._views.get(s), self.cfg.portfolio,
                             Costs(tr.fee_bps, tr.spread_bps, tr.slippage_bps, self.cfg.portfolio.costs.slippage_vol_mult))
        trader.start_at(start)   # symbols never traded start with the next bar
        return trader

    def _step(self, bars: pd.DataFrame, preds: dict[str, dict]) -> int:
        ok = {s: p["ok"] for s, p in preds.items() if "ok" in p}
        if not ok:
            return 0
        bars = bars[bars["symbol"].isin(list(ok))]
        tf = next(iter(ok.values()))["horizons"][0]["timeframe"]
        bars = bars[bars["timeframe"] == tf]
        if bars.empty:
            return 0
        symbols = {s: p["asset_class"] for s, p in ok.items()}
        if self._trader is None or not set(symbols) <= set(self._trader.symbols) or self._trader.timeframe != tf:
            if self._trader is not None:
                symbols = {**self._trader.symbols, **symbols}
                self._trader.store.close()
            self._trader = self._make(symbols, tf, bars["ts"].min() - pd.Timedelta(1, "ns"))
        self._views = {s: view_of(p, bars[bars["symbol"] == s]["ts"].max()) for s, p in ok.items()}
        return self._trader.on_bars(bars)

    async def __call__(self, bars: pd.DataFrame, preds: dict[str, dict]) -> None:
        async with self._lock:
            self.steps += await asyncio.to_thread(self._step, bars, preds)
