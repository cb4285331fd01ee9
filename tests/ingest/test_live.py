"""Live bars from the replay WebSocket: closed bars only, disconnect -> gap -> REST backfill,
order-book snapshots, publication to subscribers; on both stores."""

from __future__ import annotations

import json
import time

import pandas as pd

from pipelines.ingest.checkpoints import Checkpoints, bar_stream
from pipelines.config.ingest import LiveConfig
from pipelines.ingest.live import LiveBars, LiveThread
from pipelines.ingest.pubsub import BarBus, Publisher, bar_records
from pipelines.sources.binance import BinanceSource
from tests.replay.server import depth_event, kline_event

T0 = pd.Timestamp("2024-03-01 12:00", tz="UTC")
MIN = pd.Timedelta(minutes=1)


class Clock:
    """One clock for the client and the replay server."""

    def __init__(self, replay, now: pd.Timestamp) -> None:
        self.replay = replay
        self.set(now)

    def set(self, now: pd.Timestamp) -> None:
        self.now = now
        self.replay.now_ms = int(now.value // 1_000_000)

    def __call__(self) -> pd.Timestamp:
        return self.now


def wait_for(cond, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def closed(symbol, ts: pd.Timestamp, is_closed=True) -> dict:
    ms = int(ts.value // 1_000_000)
    return {"stream": f"{symbol.lower()}@kline_1m", "data": kline_event(symbol, "1m", ms, is_closed)}


def test_stream_disconnect_gap_is_backfilled_and_published(replay, sources_cfg, store):
    clock = Clock(replay, T0)
    cfg = LiveConfig(symbols=("BTCUSDT",), timeframe="1m", depth=True, depth_every_s=0,
                     reconnect_delay=0.05, catchup_since=str(T0 - 10 * MIN))
    seen: list[pd.Timestamp] = []
    bus = BarBus()
    bus.subscribe("features")
    pub = Publisher([lambda b: seen.extend(b["ts"]), lambda b: bus.publish(bar_records(b))])
    live = LiveBars(BinanceSource(sources_cfg.binance), store, cfg, publish=pub, now=clock)
    runner = LiveThread(live).start()
    try:
        wait_for(lambda: live.stats.connects == 1, what="stream connection")
        # REST catch-up from catchup_since: 11:50 .. 11:59 (the 12:00 bar is still open)
        assert seen == list(pd.date_range(T0 - 10 * MIN, T0 - MIN, freq="1min"))
        clock.set(T0 + 61 * pd.Timedelta(seconds=1))
        replay.push(closed("BTCUSDT", T0 + MIN, is_closed=False))  # an open bar: not final
        replay.push(closed("BTCUSDT", T0))
        replay.push({"stream": "btcusdt@depth20@100ms", "data": depth_event("BTCUSDT", 7)})
        wait_for(lambda: live.stats.closed_bars == 1 and live.stats.snapshots == 1, what="first bar")
        assert live.stats.open_updates == 1

        replay.drop_ws()
        clock.set(T0 + 5 * MIN + pd.Timedelta(seconds=2))  # 12:01 .. 12:04 closed while away
        wait_for(lambda: live.stats.connects == 2, what="reconnect")
        wait_for(lambda: live.last["BTCUSDT"] == T0 + 4 * MIN, what="gap filled over REST")
        replay.push(closed("BTCUSDT", T0 + 4 * MIN))  # a repeat of a bar already filled
        clock.set(T0 + 9 * MIN)
        replay.push(closed("BTCUSDT", T0 + 8 * MIN))  # 12:05 .. 12:07 missing: filled first
        wait_for(lambda: live.last["BTCUSDT"] == T0 + 8 * MIN, what="in-stream gap")
    finally:
        stats = runner.stop()
    expected = list(pd.date_range(T0 - 10 * MIN, T0 + 8 * MIN, freq="1min"))
    bars = store.read_bars("BTCUSDT", "1m")
    assert list(bars["ts"]) == expected
    assert seen == expected  # every closed bar published once, in order
    assert [r["ts"] for r in bus.poll("features")] == expected
    assert stats.duplicates == 1 and stats.disconnects >= 1 and stats.gaps >= 3
    assert Checkpoints(store).get("binance", bar_stream("BTCUSDT", "1m")).ts == T0 + 8 * MIN
    book = store.read("orderbook", {"symbol": "BTCUSDT"})
    assert len(book) == 1 and len(json.loads(book["bids"].iloc[0])) == 5
    # the stored bar is the stream's, not a re-derived one
    row = bars[bars["ts"] == T0].iloc[0]
    k = kline_event("BTCUSDT", "1m", int(T0.value // 1_000_000), True)["k"]
    assert row["close"] == float(k["c"]) and row["volume"] == float(k["v"])


def test_malformed_stream_messages_are_rejected_not_written(replay, sources_cfg, store):
    clock = Clock(replay, T0 + MIN)
    cfg = LiveConfig(symbols=("ETHUSDT",), timeframe="1m", depth=True, depth_every_s=0, reconnect_delay=0.05)
    live = LiveBars(BinanceSource(sources_cfg.binance), store, cfg, now=clock)
    runner = LiveThread(live).start()
    try:
        wait_for(lambda: live.stats.connects == 1, what="stream connection")
        bad = closed("ETHUSDT", T0)
        bad["data"]["k"]["h"] = "not-a-number"
        replay.push(bad)
        replay.push({"stream": "ethusdt@kline_1m", "data": {"e": "kline", "k": {"t": 1}}})
        replay.push({"stream": "ethusdt@depth20@100ms", "data": {"bids": [["1", "2"]], "asks": []}})
        replay.push(closed("ETHUSDT", T0))
        wait_for(lambda: live.stats.messages == 4, what="messages")
    finally:
        stats = runner.stop()
    assert stats.rejected == 3 and stats.closed_bars == 1
    bars = store.read_bars("ETHUSDT", "1m")
    assert list(bars["ts"]) == [T0]
    assert store.read("orderbook", {"symbol": "ETHUSDT"}).empty


def _transactions(store, table: str, ts: pd.Timestamp, streams: list[str] | None = None) -> int:
    """How many PostgreSQL transactions wrote the rows of ``table`` at ``ts`` (their xmin)."""
    from psycopg import sql
    cond = sql.SQL("ts = %s") + (sql.SQL(" AND stream = ANY(%s)") if streams else sql.SQL(""))
    params = [ts.to_pydatetime()] + ([streams] if streams else [])
    q = sql.SQL("SELECT count(DISTINCT xmin::text), count(*) FROM {} WHERE ").format(
        sql.Identifier(store.schema, table)) + cond
    n_txn, n_rows = store.conn.execute(q, params).fetchone()
    store.conn.commit()
    return n_txn if n_rows else 0


def test_a_burst_of_closed_bars_of_many_symbols_is_one_write_one_checkpoint_write_one_publication(
        replay, sources_cfg, store):
    symbols = tuple(f"B{i:02d}USDT" for i in range(24))
    clock = Clock(replay, T0)
    cfg = LiveConfig(symbols=symbols, timeframe="1m", depth=False, reconnect_delay=0.05,
                     catchup_since=str(T0 - 3 * MIN))
    batches: list[pd.DataFrame] = []
    live = LiveBars(BinanceSource(sources_cfg.binance), store, cfg, publish=batches.append, now=clock)
    runner = LiveThread(live).start()
    try:
        wait_for(lambda: live.stats.connects == 1, what="stream connection")
        assert all(live.last[s] == T0 - MIN for s in symbols)   # caught up over REST
        caught_up = len(batches)
        clock.set(T0 + MIN + pd.Timedelta(seconds=1))
        burst = [closed(s, T0) for s in symbols] + [closed(symbols[0], T0 - MIN), closed(symbols[1], T0)]
        replay.push_many(burst)   # every bar of the minute, a repeat of a stored one, a repeat in the burst
        wait_for(lambda: live.stats.messages >= len(burst), what="the burst")
        wait_for(lambda: all(live.last[s] == T0 for s in symbols), what="the burst stored")
    finally:
        stats = runner.stop()
    assert stats.duplicates == 2 and stats.closed_bars == len(symbols)
    new = batches[caught_up:]
    assert len(new) == 1 and sorted(new[0]["symbol"]) == sorted(symbols)   # published once, as one batch
    stored = store.read("bars", {"timeframe": "1m"}, start=T0, end=T0 + MIN)
    assert sorted(stored["symbol"]) == sorted(symbols)
    cps = Checkpoints(store)
    assert all(cps.get("binance", bar_stream(s, "1m")).ts == T0 for s in symbols)
    if hasattr(store, "conn"):   # PostgreSQL: every row of the burst committed by one transaction
        assert _transactions(store, "bars", T0) == 1
        assert _transactions(store, "checkpoints", T0, [bar_stream(s, "1m") for s in symbols]) == 1


def test_live_bars_keep_the_lake_compacted(replay, sources_cfg, store):
    """Bar after bar, each its own appended file in the lake; once a series holds MAX_APPENDS of
    them, the compaction after a published batch merges them back (the bars stay as they were).
    PostgreSQL has nothing to compact."""
    from pipelines.store import ParquetStore
    from pipelines.store.parquet import MAX_APPENDS
    symbols = ("CA1USDT", "CA2USDT")
    cfg = LiveConfig(symbols=symbols, timeframe="1m", depth=False)
    published: list[pd.DataFrame] = []
    live = LiveBars(BinanceSource(sources_cfg.binance), store, cfg, publish=published.append,
                    now=lambda: T0 + 200 * MIN)
    n = MAX_APPENDS + 6
    for k in range(n):
        assert live.handle_batch([json.dumps(closed(s, T0 + k * MIN)) for s in symbols]) == len(symbols)
    assert len(published) == n and live.stats.closed_bars == n * len(symbols)
    got = store.read("bars", {"timeframe": "1m"})
    for s in symbols:
        assert got.loc[got["symbol"] == s, "ts"].tolist() == [T0 + k * MIN for k in range(n)]
    if isinstance(store, ParquetStore):
        appended = {s: list((store.root / "bars" / "timeframe=1m" / f"symbol={s}").glob("*.t*.parquet")) for s in symbols}
        # without compaction each series would hold n - 1 appended files
        assert all(len(a) < MAX_APPENDS for a in appended.values()), {s: len(a) for s, a in appended.items()}
    else:
        assert store.compact("bars") == 0


def test_a_burst_spread_over_milliseconds_is_taken_as_one_batch():
    """Messages arriving less than BURST_GAP_S apart join the first one's batch (up to
    BURST_WINDOW_S); one after a longer pause starts the next batch; an error ends a batch."""
    import asyncio

    from pipelines.ingest.live import BURST_GAP_S, BURST_WINDOW_S

    async def run(delays: list[float], error_at: int | None = None) -> list[list]:
        inbox: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        at = 0.0
        for i, d in enumerate(delays):
            at += d
            item = ConnectionError("gone") if i == error_at else i
            loop.call_later(at, inbox.put_nowait, item)
        batches, taken = [], 0
        while taken < len(delays):
            b = await LiveBars._gather(await inbox.get(), inbox)
            batches.append(b)
            taken += len(b)
        return batches

    gap = BURST_GAP_S / 3
    # ten messages a third of a gap apart, then one after a pause longer than the window
    got = asyncio.run(run([0.0] + [gap] * 9 + [4 * BURST_WINDOW_S]))
    assert got == [list(range(10)), [10]]
    # a steady trickle is cut at the window: every batch spans at most BURST_WINDOW_S (plus a gap)
    n = int(10 * BURST_WINDOW_S / gap)
    got = asyncio.run(run([0.0] + [gap] * (n - 1)))
    assert sum(map(len, got)) == n and len(got) >= 2 and max(map(len, got)) < n
    # an error is the last message of its batch
    got = asyncio.run(run([0.0, gap, gap, gap], error_at=2))
    assert [x if isinstance(x, int) else "err" for x in got[0]] == [0, 1, "err"] and got[1] == [3]
