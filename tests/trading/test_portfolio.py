"""The portfolio tracker on both stores: bookkeeping, idempotence, P&L, crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from pipelines.errors import DataError
from pipelines.trading.portfolio import Fill, PortfolioTracker

T0 = pd.Timestamp("2024-03-04 10:00", tz="UTC")   # a Monday


def _fill(i: int, symbol: str, qty: float, price: float, hours: float, fee: float = 1.0) -> Fill:
    return Fill(f"f{i}", symbol, T0 + pd.Timedelta(hours=hours), qty, price, fee, f"o{i}", "test")


def test_book_positions_cash_and_pnl(store):
    book = PortfolioTracker(store, "acct", initial_cash=10_000, opened_at=T0 - pd.Timedelta(days=7))
    assert book.apply(_fill(1, "BTC", 2.0, 100.0, 0))
    assert book.apply(_fill(2, "BTC", 1.0, 130.0, 1))       # add: average 110
    assert book.apply(_fill(3, "BTC", -2.0, 120.0, 2))      # sell 2 of 3 at 120: +20 realized
    assert book.apply(_fill(4, "ETH", -5.0, 10.0, 3))       # a short
    assert not book.apply(_fill(3, "BTC", -2.0, 120.0, 2))  # the same fill again: nothing
    btc = book.positions["BTC"]
    assert (btc.qty, btc.avg_price) == (1.0, pytest.approx(110.0))
    assert btc.realized_pnl == pytest.approx(20.0 - 3.0)      # minus three fees
    assert book.cash == pytest.approx(10_000 - 200 - 130 + 240 + 50 - 4)
    marks = {("BTC", "now"): 125.0, ("ETH", "now"): 8.0}
    price_at = lambda s, ts: marks[(s, "now")] if ts > T0 else 100.0  # noqa: E731
    pnl = book.pnl(price_at, T0 + pd.Timedelta(hours=5))
    assert pnl["equity"] == pytest.approx(book.cash + 125.0 - 40.0)
    assert pnl["pnl_total"] == pytest.approx(pnl["equity"] - 10_000)
    assert pnl["pnl_today"] == pytest.approx(pnl["pnl_total"])   # nothing was held at midnight
    # both tables agree, and a fresh tracker rebuilds the same book from the store
    fills = store.read("fills", {"account": "acct"})
    snaps = store.read("positions", {"account": "acct"})
    assert len(fills) == 5 and len(snaps) == 4
    assert snaps.sort_values("ts")["cash"].iloc[-1] == pytest.approx(book.cash)
    again = PortfolioTracker(store, "acct", initial_cash=1.0)
    assert again.cash == pytest.approx(book.cash) and again.positions == book.positions
    assert again.equity({"BTC": 125.0, "ETH": 8.0}) == pytest.approx(pnl["equity"])


def test_bad_fills_are_refused_and_lose_nothing(store):
    book = PortfolioTracker(store, "acct", initial_cash=1_000, opened_at=T0)
    book.apply(_fill(1, "BTC", 1.0, 100.0, 0))
    for bad in (_fill(2, "BTC", 0.0, 100.0, 1), _fill(3, "BTC", 1.0, -5.0, 1),
                _fill(4, "BTC", float("nan"), 100.0, 1), _fill(5, "CASH", 1.0, 1.0, 1),
                Fill("f6", "BTC", pd.Timestamp("2024-03-04 12:00"), 1.0, 100.0)):
        with pytest.raises(DataError):
            book.apply(bad)
    assert len(store.read("fills", {"account": "acct"})) == 2
    assert book.positions["BTC"].qty == 1.0


def _spec(store) -> str:
    if hasattr(store, "root"):
        return f"ParquetStore({str(store.root)!r})"
    return f"PostgresStore({store.conn.info.dsn!r}, schema={store.schema!r})"


@pytest.mark.parametrize("stage", ["fill_written", "position_written"])
def test_a_crash_never_leaves_half_a_fill(store, stage):
    book = PortfolioTracker(store, "acct", initial_cash=1_000, opened_at=T0)
    book.apply(_fill(1, "BTC", 1.0, 100.0, 0))
    code = textwrap.dedent(f"""
        import os, pandas as pd
        from pipelines.store import ParquetStore
        from pipelines.store.postgres import PostgresStore
        from pipelines.trading.portfolio import Fill, PortfolioTracker
        def die(stage):
            if stage == {stage!r}:
                os._exit(3)
        store = {_spec(store)}
        book = PortfolioTracker(store, "acct", fault=die)
        book.apply(Fill("f2", "BTC", pd.Timestamp("2024-03-04 12:00", tz="UTC"), 1.0, 120.0, 1.0))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    after = PortfolioTracker(store, "acct")
    fills = store.read("fills", {"account": "acct", "symbol": "BTC"})
    snaps = store.read("positions", {"account": "acct", "symbol": "BTC"})
    # whole or nothing: every booked fill has its snapshot, and the book matches the journal
    assert sorted(fills["ts"]) == sorted(snaps["ts"])
    if len(fills) == 2:
        assert after.positions["BTC"].qty == 2.0 and after.cash == pytest.approx(1_000 - 100 - 120 - 2)
    else:
        assert after.positions["BTC"].qty == 1.0 and after.cash == pytest.approx(1_000 - 100 - 1)
    if hasattr(store, "conn"):
        assert len(fills) == 1     # PostgreSQL rolled the uncommitted transaction back whole
    else:
        assert len(fills) == 2     # the lake commits at the fill row; the snapshot was repaired


def test_an_older_postgres_fills_table_is_upgraded(pg_dsn):
    import uuid

    from pipelines.store.postgres import PostgresStore
    store = PostgresStore(pg_dsn, schema=f"t_{uuid.uuid4().hex[:10]}")
    try:
        with store.conn.transaction():
            for col in ("position_qty", "avg_price", "realized_pnl", "cash"):
                store.conn.execute(f'ALTER TABLE "{store.schema}".fills DROP COLUMN {col}')
        book = PortfolioTracker(store, "acct", initial_cash=1_000, opened_at=T0)
        assert book.apply(_fill(1, "BTC", 1.0, 100.0, 0))
        assert PortfolioTracker(store, "acct").positions["BTC"].qty == 1.0
    finally:
        store.drop_schema()
        store.close()
