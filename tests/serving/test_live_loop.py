"""The live loop end to end on real components: a loopback Binance closes 1m bars, the live
ingestion actor writes them and publishes them on the bar bus, the Serve application (following
the bus, no polling in the path) streams the feature row, predicts and pushes the bar and the
prediction on WS /stream, and the promoted strategy's paper account decides the bar from the
served answer; the exchange then drops the WebSocket and
the loop carries on after the reconnect."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from websockets.sync.client import connect

from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from pipelines.trading.replay import StrategyAccount
from tests.replay.server import ReplayServer
from tests.serving.live_stack import LiveStack, prepare, recv

SYMBOL = "BNBUSDT"


def _bar_and_prediction(ws, ts: pd.Timestamp, timeout: float = 30.0) -> tuple[dict, dict]:
    """The bar at ``ts`` and the prediction made from it (other bars may come first: a minute
    closing during the test is filled over REST and pushed too)."""
    bar = None
    while True:
        msg = recv(ws, timeout)
        assert msg["type"] != "error", msg
        if msg["type"] == "bar" and pd.Timestamp(msg["bar"]["ts"]) == ts:
            bar = msg
        if msg["type"] == "prediction" and pd.Timestamp(msg["prediction"]["horizons"][0]["ts"]) == ts:
            assert bar is not None, "the prediction came before its bar"
            return bar, msg


@pytest.mark.slow
def test_closed_bars_become_predictions_on_the_stream_and_paper_steps(ray_session, tmp_path):
    with ReplayServer() as replay:
        cfg = prepare(tmp_path, replay, [SYMBOL])
        stack = LiveStack(replay, cfg, [SYMBOL], bus_name="test-live-bus", app_name="meridian-live-test",
                          prefix="/live-test").start()
        store = ParquetStore(cfg.store.path)
        try:
            with connect(f"{stack.ws_url}?symbols={SYMBOL}", open_timeout=30) as ws:
                assert recv(ws) == {"type": "subscribed", "symbols": [SYMBOL]}
                snap = recv(ws)
                assert snap["type"] == "bar" and snap["snapshot"] is True
                assert recv(ws)["type"] == "prediction"
                seen = []
                for k in range(2):
                    if k == 1:   # the exchange drops the connection; the ingestion reconnects
                        connects = stack.stats()["connects"]
                        replay.drop_ws()
                        stack.wait(lambda: stack.stats()["connects"] > connects and replay.ws_clients() > 0, 30,
                                   "the reconnect")
                    ts = stack.last(SYMBOL) + pd.Timedelta(minutes=1)
                    stack.close_bar(SYMBOL, ts)
                    bar, pred = _bar_and_prediction(ws, ts)
                    assert bar["snapshot"] is False and bar["bar"]["timeframe"] == "1m"
                    h = pred["prediction"]["horizons"][0]
                    assert h["ensemble"] is not None and h["missing"] == [] and h["timeframe"] == "1m"
                    assert pd.Timestamp(h["known_at"]) == ts + pd.Timedelta(minutes=1)
                    stored = store.read("bars", {"symbol": SYMBOL, "timeframe": "1m"})
                    assert ts in set(stored["ts"])                  # in the store before it was pushed
                    assert float(stored.set_index("ts").loc[ts, "close"]) == pytest.approx(bar["bar"]["close"])
                    seen.append(ts)
                ws.send(json.dumps({"symbols": [SYMBOL]}))          # the socket still takes messages
                msg = recv(ws)
                while msg["type"] != "subscribed":
                    msg = recv(ws)
            assert stack.stats()["disconnects"] >= 1

            st = strategies.list_strategies(store, "promoted")[0]

            def decided(ts):
                d = store.read("strategy_decisions", {"account": f"paper:{st.strategy_id}"})
                return len(d) and d["ts"].max() >= ts
            stack.wait(lambda: decided(seen[-1]), 30, "the strategy account's step on the last bar")
            # the bars after the run were decided from the served model's answers, kept for a restart
            kept = store.read("strategy_live_predictions", {"strategy_id": st.strategy_id})
            assert set(seen) <= set(kept["ts"])
            acct = StrategyAccount(store, st)           # what `meridian paper status` reads
            assert acct.last_ts >= seen[-1] and acct.summary()["bars"] == len(acct.ts)
        finally:
            store.close()
            stack.stop()


@pytest.mark.slow
def test_a_burst_of_many_symbols_is_one_store_write_and_every_prediction_reaches_the_stream(ray_session, tmp_path,
                                                                                           pg_dsn):
    import uuid
    from psycopg import sql
    from pipelines.store.postgres import PostgresStore
    from tests.serving.live_stack import symbols_of
    symbols = symbols_of(12)
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with ReplayServer() as replay:
        cfg = prepare(tmp_path, replay, symbols, history=200,
                      store={"backend": "postgres", "dsn": pg_dsn, "schema_name": schema})
        stack = LiveStack(replay, cfg, symbols, bus_name="test-burst-bus", app_name="meridian-burst-test",
                          prefix="/burst-test", paper=False).start()
        store = PostgresStore(pg_dsn, schema=schema)
        try:
            with connect(f"{stack.ws_url}?symbols={','.join(symbols)}", open_timeout=60, max_size=2**24) as ws:
                assert recv(ws)["type"] == "subscribed"
                snapshots = set()
                while len(snapshots) < len(symbols):
                    msg = recv(ws, 60)
                    if msg["type"] == "prediction":
                        snapshots.add(msg["symbol"])
                ts = max(stack.last(s) for s in symbols) + pd.Timedelta(minutes=1)
                for s in symbols:   # a minute that closed while the stack started: every series at ts - 1m
                    while (nxt := stack.last(s) + pd.Timedelta(minutes=1)) < ts:
                        stack.close_bar(s, nxt)
                        stack.wait(lambda: stack.last(s) >= nxt, 30, f"{s} at {nxt}")
                stack.close_bars(symbols, ts)   # the exchange closes the minute of every symbol at once
                predicted = set()
                while predicted != set(symbols):
                    msg = recv(ws, 60)
                    assert msg["type"] != "error", msg
                    if msg["type"] == "prediction" and pd.Timestamp(msg["prediction"]["horizons"][0]["ts"]) == ts:
                        assert msg["prediction"]["horizons"][0]["ensemble"] is not None
                        predicted.add(msg["symbol"])
            q = sql.SQL("SELECT count(DISTINCT xmin::text), count(*) FROM {} WHERE ts = %s AND timeframe = '1m'")
            n_txn, n_rows = store.conn.execute(q.format(sql.Identifier(schema, "bars")), [ts.to_pydatetime()]).fetchone()
            assert (n_txn, n_rows) == (1, len(symbols))   # the burst's bars: one transaction
            q = sql.SQL("SELECT count(DISTINCT xmin::text), count(*) FROM {} WHERE ts = %s AND stream LIKE 'bars/%%'")
            n_txn, n_rows = store.conn.execute(q.format(sql.Identifier(schema, "checkpoints")),
                                               [ts.to_pydatetime()]).fetchone()
            assert (n_txn, n_rows) == (1, len(symbols))   # their checkpoints: one more
            store.conn.commit()
        finally:
            stack.stop()
            store.drop_schema()
            store.close()
