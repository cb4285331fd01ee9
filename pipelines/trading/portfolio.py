"""The portfolio tracker: fills, positions, cash and P&L of an account, kept in the store.

The ``fills`` table is the journal: every fill row carries the position, average price,
realized P&L and cash that result from it, so a fill row alone is a complete record. The
``positions`` table holds one snapshot row per fill (what the API and panel read).

A crash never leaves half a fill:

* PostgreSQL: the fill row and the position snapshot (which carries the cash) are written in one
  transaction; an interrupted fill rolls back whole.
* Parquet lake: the fill row is the commit point (the lake replaces a file atomically); the
  position snapshot is derived from it. Opening the tracker replays the journal and writes any
  snapshot a crash left out, so the two tables always agree after open.

Fills are idempotent by ``fill_id``: applying one twice changes nothing (restart safety).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from pipelines.errors import DataError
from pipelines.store.base import Store

CASH = "CASH"          # symbol of deposits and withdrawals in the journal
JOURNAL_COLUMNS = ("position_qty", "avg_price", "realized_pnl", "cash")


@dataclass(frozen=True)
class Fill:
    fill_id: str
    symbol: str
    ts: pd.Timestamp
    qty: float            # signed: + bought, - sold
    price: float
    fee: float = 0.0
    order_id: str = ""
    reason: str = ""

    def check(self) -> None:
        if not (math.isfinite(self.qty) and self.qty != 0):
            raise DataError(f"fill {self.fill_id}: quantity must be a non-zero number, got {self.qty}")
        if not (math.isfinite(self.price) and self.price > 0):
            raise DataError(f"fill {self.fill_id}: price must be positive, got {self.price}")
        if not (math.isfinite(self.fee) and self.fee >= 0):
            raise DataError(f"fill {self.fill_id}: fee must be >= 0, got {self.fee}")
        if pd.Timestamp(self.ts).tzinfo is None:
            raise DataError(f"fill {self.fill_id}: timestamp {self.ts} is naive; give UTC")


@dataclass
class Position:
    qty: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0

    def after(self, qty: float, price: float, fee: float) -> "Position":
        q0, q1 = self.qty, self.qty + qty
        realized = self.realized_pnl - fee
        if q0 == 0 or np.sign(q0) == np.sign(qty):
            avg = (abs(q0) * self.avg_price + abs(qty) * price) / (abs(q0) + abs(qty))
        else:
            closed = min(abs(qty), abs(q0))
            realized += closed * (price - self.avg_price) * np.sign(q0)
            avg = self.avg_price if np.sign(q1) == np.sign(q0) else price
        if abs(q1) < 1e-12:
            q1, avg = 0.0, 0.0
        return Position(float(q1), float(avg), float(realized))


class PortfolioTracker:
    """One account's book; a new account starts with ``initial_cash`` deposited at ``opened_at``
    (default: now). ``fault`` is called with the name of each commit stage (tests use it
    to kill the process between the fill and its snapshot)."""

    def __init__(self, store: Store, account: str, initial_cash: float = 100_000.0,
                 opened_at: pd.Timestamp | None = None,
                 fault: Callable[[str], None] | None = None) -> None:
        self.store, self.account = store, account
        self._fault = fault or (lambda stage: None)
        self.positions: dict[str, Position] = {}
        self.cash = 0.0
        self.fill_ids: set[str] = set()
        self._upgrade_journal()
        self.recover()
        if not self.fill_ids:
            self.deposit(initial_cash, opened_at if opened_at is not None else pd.Timestamp.now(tz="UTC"),
                         fill_id=f"{account}-initial")

    # ---------------------------------------------------------------- journal
    def journal(self) -> pd.DataFrame:
        fills = self.store.read("fills", {"account": self.account})
        return fills.sort_values(["ts", "fill_id"], kind="stable").reset_index(drop=True)

    def recover(self) -> int:
        """Rebuild the book from the journal and write any position snapshot that is missing.
        Returns how many snapshots were repaired."""
        fills = self.journal()
        self.fill_ids = set(fills["fill_id"].astype(str))
        self.cash = float((_cash_delta(fills)).sum()) if len(fills) else 0.0
        self.positions = {}
        trades = fills[fills["symbol"] != CASH]
        for sym, g in trades.groupby("symbol", sort=True):
            last = g.iloc[-1]
            self.positions[str(sym)] = Position(float(last["position_qty"]), float(last["avg_price"]),
                                                float(last["realized_pnl"]))
        if trades.empty:
            return 0
        snaps = self.store.read("positions", {"account": self.account})
        have = set(zip(snaps["symbol"].astype(str), snaps["ts"])) if len(snaps) else set()
        missing = trades[[(str(s), t) not in have for s, t in zip(trades["symbol"], trades["ts"])]]
        if len(missing):
            self.store.write("positions", _snapshots(missing, self.account))
        return len(missing)

    def _upgrade_journal(self) -> None:
        """A PostgreSQL ``fills`` table made before the journal carried the resulting position
        gets those columns (nullable; rows written before stay as they were)."""
        conn, schema = getattr(self.store, "conn", None), getattr(self.store, "schema", None)
        if conn is None or schema is None:
            return
        from psycopg import sql
        cols = sql.SQL(", ").join(sql.SQL("ADD COLUMN IF NOT EXISTS {} double precision").format(sql.Identifier(c))
                                  for c in JOURNAL_COLUMNS)
        with conn.transaction():
            conn.execute(sql.SQL("ALTER TABLE {} ").format(sql.Identifier(schema, "fills")) + cols)

    def _transaction(self):
        conn = getattr(self.store, "conn", None)
        return conn.transaction() if conn is not None and hasattr(conn, "transaction") else nullcontext()

    # ---------------------------------------------------------------- updates
    def deposit(self, amount: float, ts: pd.Timestamp, fill_id: str) -> None:
        if fill_id in self.fill_ids:
            return
        if not (math.isfinite(amount) and amount != 0):
            raise DataError(f"deposit must be a non-zero amount, got {amount}")
        row = {"fill_id": fill_id, "account": self.account, "symbol": CASH, "ts": ts,
               "side": "deposit" if amount > 0 else "withdrawal", "qty": amount, "price": 1.0, "fee": 0.0,
               "order_id": "", "reason": "cash", "position_qty": 0.0, "avg_price": 0.0,
               "realized_pnl": 0.0, "cash": self.cash + amount}
        self.store.write("fills", pd.DataFrame([row]))
        self.cash += amount
        self.fill_ids.add(fill_id)

    def apply(self, fill: Fill) -> bool:
        """Book one fill (fill row + position snapshot + cash, atomically). False when the fill
        was booked before."""
        if fill.fill_id in self.fill_ids:
            return False
        fill.check()
        if fill.symbol == CASH:
            raise DataError(f"{CASH} is reserved for deposits")
        pos = self.positions.get(fill.symbol, Position()).after(fill.qty, fill.price, fill.fee)
        cash = self.cash - fill.qty * fill.price - fill.fee
        row = {"fill_id": fill.fill_id, "account": self.account, "symbol": fill.symbol, "ts": fill.ts,
               "side": "buy" if fill.qty > 0 else "sell", "qty": fill.qty, "price": fill.price,
               "fee": fill.fee, "order_id": fill.order_id, "reason": fill.reason,
               "position_qty": pos.qty, "avg_price": pos.avg_price, "realized_pnl": pos.realized_pnl,
               "cash": cash}
        frame = pd.DataFrame([row])
        with self._transaction():
            self.store.write("fills", frame)
            self._fault("fill_written")
            self.store.write("positions", _snapshots(frame, self.account))
            self._fault("position_written")
        self.positions[fill.symbol] = pos
        self.cash = cash
        self.fill_ids.add(fill.fill_id)
        return True

    # ---------------------------------------------------------------- views
    def equity(self, prices: dict[str, float]) -> float:
        """Cash plus positions marked at ``prices`` (symbol -> price); a held symbol without a
        price is an error."""
        total = self.cash
        for sym, p in self.positions.items():
            if p.qty:
                if sym not in prices or not math.isfinite(prices[sym]):
                    raise DataError(f"no price to mark {sym}")
                total += p.qty * prices[sym]
        return float(total)

    def pnl(self, price_at: Callable[[str, pd.Timestamp], float], now: pd.Timestamp) -> dict:
        """P&L today (since UTC midnight), this week (since Monday 00:00 UTC) and in total
        (against what was deposited), replaying the journal at each start."""
        fills = self.journal()
        deposits = float(fills.loc[fills["symbol"] == CASH, "qty"].sum())
        now = pd.Timestamp(now)
        day = now.normalize()
        week = day - pd.Timedelta(days=day.dayofweek)
        eq = {name: _equity_at(fills, t, price_at) for name, t in (("now", now), ("day", day), ("week", week))}
        return {"account": self.account, "as_of": now.isoformat(), "equity": eq["now"], "cash": self.cash,
                "pnl_today": eq["now"] - eq["day"], "pnl_week": eq["now"] - eq["week"],
                "pnl_total": eq["now"] - deposits,
                "positions": {s: vars(p) for s, p in self.positions.items() if p.qty}}


def _cash_delta(fills: pd.DataFrame) -> pd.Series:
    cash = fills["symbol"] == CASH
    trade = -(fills["qty"] * fills["price"]) - fills["fee"].fillna(0.0)
    return pd.Series(np.where(cash, fills["qty"], trade), index=fills.index, dtype="float64")


def _equity_at(fills: pd.DataFrame, ts: pd.Timestamp, price_at) -> float:
    past = fills[fills["ts"] <= ts]
    total = float(_cash_delta(past).sum())
    held = past[past["symbol"] != CASH].groupby("symbol").tail(1)
    for _, r in held.iterrows():
        if r["position_qty"]:
            total += float(r["position_qty"]) * float(price_at(str(r["symbol"]), ts))
    return total


def _snapshots(fills: pd.DataFrame, account: str) -> pd.DataFrame:
    return pd.DataFrame({"account": account, "symbol": fills["symbol"].to_numpy(), "ts": fills["ts"].to_numpy(),
                         "qty": fills["position_qty"].to_numpy(), "avg_price": fills["avg_price"].to_numpy(),
                         "realized_pnl": fills["realized_pnl"].to_numpy(), "cash": fills["cash"].to_numpy()})


def price_from_bars(store: Store, timeframe: str) -> Callable[[str, pd.Timestamp], float]:
    """Marks from the store: the last close known at ``ts`` (bars whose known_at <= ts)."""
    cache: dict[str, pd.DataFrame] = {}

    def price_at(symbol: str, ts: pd.Timestamp) -> float:
        if symbol not in cache:
            cache[symbol] = store.read_bars(symbol, timeframe)
        b = cache[symbol]
        known = b[b["known_at"] <= ts]
        if known.empty:
            raise DataError(f"no {timeframe} bar of {symbol} known at {ts} to mark the position")
        return float(known["close"].iloc[-1])

    return price_at
