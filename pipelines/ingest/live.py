"""Live bars and order-book snapshots from the Binance streams.

Only closed klines (``k.x``) are written, as final bars. The checkpoint of each series is the last
closed bar written; whenever the stream (re)connects, and whenever a closed bar arrives more than
one step after the checkpoint, the missing bars are fetched over REST first, so a disconnect or
a restart leaves no hole.

Messages are taken in batches: every message already waiting on the socket, and those that follow
within a few milliseconds (a burst of closes, see :meth:`LiveBars._gather`). The closed bars of a
batch, all symbols together, are written in one store write, their checkpoints moved in one more,
then published once. A gap inside a batch first flushes what came before it, then fills over REST,
so bars are always stored in order and a checkpoint never passes a bar that is not stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Callable

import pandas as pd
import websockets

from pipelines.errors import MeridianError
from pipelines.ingest.backfill import backfill_bars
from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from pipelines.config.ingest import LiveConfig
from pipelines.times import timeframe_offset
from pipelines.times import utc_now
from pipelines.sources.binance import BinanceSource, check_stream_klines, parse_depth, stream_kline
from pipelines.store.base import Store

log = logging.getLogger(__name__)

MAX_BATCH = 5000  # messages handled together at most
BURST_GAP_S = 0.003      # a message this soon after the last one joins its batch ...
BURST_WINDOW_S = 0.05    # ... for this long after the first at most
COMPACT_BUDGET_S = 0.5   # store compaction after each published batch, at most (a merge started finishes)


@dataclass
class LiveStats:
    connects: int = 0
    disconnects: int = 0
    messages: int = 0
    closed_bars: int = 0
    open_updates: int = 0
    duplicates: int = 0
    gaps: int = 0
    gap_bars: int = 0
    snapshots: int = 0
    rejected: int = 0
    last_bar: str | None = None
    error: str | None = None  # why the loop stopped on its own, if it did

    def as_dict(self) -> dict:
        return asdict(self)


class LiveBars:
    """Keeps ``cfg.symbols`` current; ``run`` until ``stop`` is set."""

    def __init__(self, source: BinanceSource, store: Store, cfg: LiveConfig, *,
                 publish: Callable[[pd.DataFrame], None] | None = None,
                 now: Callable[[], pd.Timestamp] = utc_now) -> None:
        self.source = source
        self.store = store
        self.cfg = cfg
        self.publish = publish or (lambda bars: None)
        self.now = now
        self.step = timeframe_offset(cfg.timeframe)
        self.checkpoints = Checkpoints(store)
        self.last: dict[str, pd.Timestamp | None] = {}
        self._last_depth: dict[str, pd.Timestamp] = {}
        self.stats = LiveStats()
        self.reload()

    def reload(self) -> None:
        """Last closed bar per symbol, from the store's checkpoints."""
        for s in self.cfg.symbols:
            cp = self.checkpoints.get(self.source.name, bar_stream(s, self.cfg.timeframe))
            self.last[s] = None if cp is None else cp.ts

    # --- REST catch-up ---------------------------------------------------------------------
    def fill(self, symbol: str, until: pd.Timestamp | None = None) -> int:
        """Fetch closed bars after the checkpoint (up to ``until`` or now) over REST."""
        last = self.last.get(symbol)
        if last is None and self.cfg.catchup_since is None:
            return 0
        since = self.cfg.catchup_since if last is None else last + self.step
        res = backfill_bars(self.source, self.store, symbol, self.cfg.timeframe, since, until,
                            now=self.now, progress=False, on_page=self.publish)
        if res.last_ts is not None:
            self.last[symbol] = max(res.last_ts, self.last.get(symbol) or res.last_ts)
        if res.rows:
            self.stats.gaps += 1
            self.stats.gap_bars += res.rows
            log.warning("%s %s: filled %d missing bars over REST (up to %s)", symbol,
                        self.cfg.timeframe, res.rows, res.last_ts)
        return res.rows

    def catch_up(self) -> int:
        return sum(self.fill(s) for s in self.cfg.symbols)

    # --- stream messages -------------------------------------------------------------------
    def handle(self, raw: str | bytes) -> None:
        """One message (a batch of one)."""
        self.handle_batch([raw])

    def handle_batch(self, raws: list[str | bytes]) -> int:
        """A batch of stream messages: the new closed bars among them written in one store
        write, checkpointed in one write, then published once. Returns how many were new."""
        pending: dict[str, list[pd.DataFrame]] = {}   # symbol -> its new bars, in order
        tops: dict[str, pd.Timestamp] = {}            # symbol -> its newest bar, stored or pending
        written = 0
        klines = [ev for ev in map(self._parse, raws) if ev is not None]
        for ev in check_stream_klines(klines):   # the batch's bars validated in one pass
            ev = self._followed(ev)
            if ev is None:
                continue
            symbol, bars = ev["symbol"], ev["bars"]
            ts = bars["ts"].iloc[0]
            top = tops.get(symbol, self.last[symbol])
            if top is not None and ts <= top:
                self.stats.duplicates += 1
                continue
            if top is not None and ts > top + self.step:
                written += self._flush(pending)   # what came before the gap, then the gap itself
                self.fill(symbol, until=ts)
                top = self.last[symbol]
                if top is not None and ts <= top:
                    self.stats.duplicates += 1
                    continue
            pending.setdefault(symbol, []).append(bars)
            tops[symbol] = ts
        return written + self._flush(pending)

    def _flush(self, pending: dict[str, list[pd.DataFrame]]) -> int:
        """The pending bars: one store write, one checkpoint write, one publication."""
        if not pending:
            return 0
        frames = [b for bars in pending.values() for b in bars]
        batch = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        self.store.write("bars", batch)
        moves = {bar_stream(s, self.cfg.timeframe): (bars[-1]["ts"].iloc[0], self.last[s])
                 for s, bars in pending.items()}
        self.checkpoints.set_many(self.source.name, moves)
        newest = None
        for s, bars in pending.items():
            ts = bars[-1]["ts"].iloc[0]
            self.last[s] = ts
            newest = ts if newest is None else max(newest, ts)
        self.stats.closed_bars += len(batch)
        self.stats.last_bar = newest.isoformat()
        symbols = list(pending)
        pending.clear()
        self.publish(batch)
        # the lake's appended files merged back a few partitions at a time, after the bars are out
        self.store.compact("bars", budget_s=COMPACT_BUDGET_S, where={"timeframe": self.cfg.timeframe, "symbol": symbols})
        return len(batch)

    def _parse(self, raw: str | bytes) -> dict | None:
        """A kline event, its values not yet checked, or None (depth snapshots are taken here)."""
        self.stats.messages += 1
        try:
            msg = json.loads(raw)
            stream = msg.get("stream", "")
            if "@depth" in stream:
                self._depth(stream.split("@")[0].upper(), msg["data"])
                return None
            return stream_kline(msg)
        except (MeridianError, ValueError, KeyError, TypeError) as exc:
            self.stats.rejected += 1
            log.warning("rejected stream message: %s", exc)
            return None

    def _followed(self, ev: dict) -> dict | None:
        """The checked event when it is a closed kline of a followed series, else None."""
        if ev["bars"].empty:  # the values failed validation (counted and logged there)
            self.stats.rejected += 1
            return None
        if not ev["closed"]:
            self.stats.open_updates += 1
            return None
        if ev["symbol"] not in self.last or ev["timeframe"] != self.cfg.timeframe:
            return None
        return ev

    def _depth(self, symbol: str, data: dict) -> None:
        if not self.cfg.depth or symbol not in self.last:
            return
        now = self.now()
        prev = self._last_depth.get(symbol)
        if prev is not None and (now - prev).total_seconds() < self.cfg.depth_every_s:
            return
        self.store.write("orderbook", parse_depth(data, symbol, now))
        self._last_depth[symbol] = now
        self.stats.snapshots += 1

    # --- the loop --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> LiveStats:
        url = self.source.stream_url(list(self.cfg.symbols), self.cfg.timeframe, self.cfg.depth)
        delay = self.cfg.reconnect_delay
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.catch_up)
                async with websockets.connect(url, open_timeout=10, ping_interval=20,
                                              max_size=2**22) as ws:
                    await asyncio.to_thread(self.catch_up)  # bars closed while connecting
                    self.stats.connects += 1
                    delay = self.cfg.reconnect_delay
                    inbox: asyncio.Queue = asyncio.Queue()
                    reader = asyncio.get_running_loop().create_task(self._read(ws, inbox))
                    try:
                        while not stop.is_set():
                            try:
                                first = await asyncio.wait_for(inbox.get(), timeout=0.5)
                            except asyncio.TimeoutError:
                                continue
                            batch = await self._gather(first, inbox)
                            if isinstance(batch[-1], BaseException):
                                await asyncio.to_thread(self.handle_batch, batch[:-1])
                                raise batch[-1]
                            await asyncio.to_thread(self.handle_batch, batch)
                    finally:
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await reader
            except (websockets.ConnectionClosed, OSError, asyncio.TimeoutError) as exc:
                self.stats.disconnects += 1
                log.warning("stream disconnected (%s); reconnecting in %.1f s", exc, delay)
            except MeridianError as exc:  # REST catch-up or store write failed: nothing was checkpointed
                log.warning("live ingestion error (%s); reconnecting and filling from the checkpoint "
                            "in %.1f s", exc, delay)
            if stop.is_set():
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            delay = min(max(delay * 2, 0.05), self.cfg.reconnect_max)
        return self.stats

    @staticmethod
    async def _gather(first, inbox: asyncio.Queue) -> list:
        """``first`` and the messages that follow it closely: everything waiting, then whatever
        arrives less than :data:`BURST_GAP_S` after the last one, for :data:`BURST_WINDOW_S` at
        most. The closes of many symbols come as a burst spread over a few milliseconds; taken
        as one batch they cost one store write and one prediction round instead of one for the
        first few and another for the rest. A lone bar waits one gap. Stops at an error."""
        batch = [first]
        loop = asyncio.get_running_loop()
        until = loop.time() + BURST_WINDOW_S
        while len(batch) < MAX_BATCH and not isinstance(batch[-1], BaseException):
            if inbox.empty():
                left = until - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(inbox.get(), timeout=min(BURST_GAP_S, left)))
                except asyncio.TimeoutError:
                    break
            else:
                batch.append(inbox.get_nowait())
        return batch

    @staticmethod
    async def _read(ws, inbox: asyncio.Queue) -> None:
        """Every message of the socket into ``inbox`` as it arrives; the error that ends the
        connection last, for the batch loop to raise after the messages before it."""
        try:
            async for raw in ws:
                inbox.put_nowait(raw)
            inbox.put_nowait(websockets.ConnectionClosedOK(None, None))
        except (websockets.ConnectionClosed, OSError) as exc:
            inbox.put_nowait(exc)


class LiveThread:
    """Runs :meth:`LiveBars.run` on its own event loop in a background thread."""

    def __init__(self, live: LiveBars) -> None:
        self.live = live
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._main, name="live-bars", daemon=True)
        self.error: BaseException | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.live.run(self._stop))
        except BaseException as exc:  # surfaced through .error / stats
            self.error = exc
            self.live.stats.error = str(exc) if isinstance(exc, MeridianError) else f"{type(exc).__name__}: {exc}"
            log.error("live ingestion stopped: %s", self.live.stats.error)

    def start(self) -> "LiveThread":
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> LiveStats:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        return self.live.stats

    def alive(self) -> bool:
        return self._thread.is_alive()
