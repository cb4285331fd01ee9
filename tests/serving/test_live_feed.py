"""The live feed without Ray: how a bus batch is cut into predictions and how the step hooks
follow the deliveries (the whole loop over Ray and Serve is tests/serving/test_live_loop.py)."""

from __future__ import annotations

import asyncio

import pandas as pd

from serving.live import LiveFeed, layers

T = pd.Timestamp("2024-01-01", tz="UTC")
M = pd.Timedelta(minutes=1)


def bar(symbol: str, k: int) -> dict:
    return {"symbol": symbol, "timeframe": "1m", "ts": T + k * M, "close": 1.0 + k}


def test_a_batch_with_two_bars_of_a_symbol_is_two_layers_in_time_order():
    got = layers([bar("A", 2), bar("B", 1), bar("A", 1), bar("C", 3)])
    assert [[(r["symbol"], r["ts"]) for r in layer] for layer in got] == [
        [("B", T + M), ("A", T + M), ("C", T + 3 * M)], [("A", T + 2 * M)]]
    assert layers([]) == []


def test_every_bar_of_a_batch_gets_its_prediction_and_the_step_never_holds_the_feed():
    async def scenario():
        asked: list[list[tuple[str, pd.Timestamp]]] = []
        release = asyncio.Event()
        stepped: list[list[tuple[str, pd.Timestamp]]] = []

        async def on_bars(records):
            asked.append([(r["symbol"], r["ts"]) for r in records])
            return {r["symbol"]: {"ok": {"ts": r["ts"]}} for r in records}

        async def step(bars, preds):
            await release.wait()   # a slow paper step
            stepped.append(sorted((s, p["ok"]["ts"]) for s, p in preds.items()))

        feed = LiveFeed("unused", on_bars, hooks=[step])
        q = feed.listen()
        for layer in layers([bar("A", 1), bar("A", 2), bar("B", 1)]):
            await asyncio.wait_for(feed.deliver(layer), 5)   # returns while the step still waits
        events = [q.get_nowait() for _ in range(q.qsize())]
        assert [sorted((s, p["ok"]["ts"]) for s, p in e["predictions"].items()) for e in events] == [
            [("A", T + M), ("B", T + M)], [("A", T + 2 * M)]]
        assert asked == [[("A", T + M), ("B", T + M)], [("A", T + 2 * M)]] and stepped == []
        release.set()
        for _ in range(100):
            if len(stepped) == 2:
                break
            await asyncio.sleep(0.01)
        assert stepped == [[("A", T + M), ("B", T + M)], [("A", T + 2 * M)]]   # every batch, in order
    asyncio.run(scenario())
