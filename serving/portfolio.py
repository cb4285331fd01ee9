"""The paper portfolio as the trading engine records it (``positions`` and ``fills`` tables),
suggested actions from the current signals, and the paper-trading switch."""

from __future__ import annotations

import json

import pandas as pd

from pipelines.store.base import Store
from pipelines.trading.actions import suggest_action
from pipelines.trading.portfolio import CASH
from serving.market import MarketData

PAPER_SOURCE = "paper_trading"  # checkpoints rows of the paper switch (POST /paper/start|stop)
CASH_SYMBOL = CASH            # the journal's deposits and withdrawals


def paper_state(store: Store, account: str) -> dict:
    """The switch as the paper trader reads it: running unless switched off."""
    rows = store.read("checkpoints", {"source": PAPER_SOURCE, "stream": account})
    if rows.empty:
        return {"account": account, "running": True, "updated_at": None}
    r = rows.iloc[-1]
    state = r["state"] if isinstance(r["state"], dict) else json.loads(r["state"] or "{}")
    return {"account": account, "running": bool(state.get("running", True)),
            "updated_at": pd.Timestamp(r["updated_at"]).isoformat()}


def set_paper_running(store: Store, account: str, running: bool, now: pd.Timestamp | None = None) -> dict:
    """Record the paper-trading switch for ``account``; the paper trader reads it each cycle."""
    now = now or pd.Timestamp.now(tz="UTC")
    store.write("checkpoints", pd.DataFrame([{
        "source": PAPER_SOURCE, "stream": account, "ts": now, "updated_at": now,
        "state": json.dumps({"running": running})}]))
    return paper_state(store, account)


def _last_close(market: MarketData, symbol: str) -> float | None:
    try:
        return float(market.bars(symbol)["close"].iloc[-1])
    except Exception:
        return None


def portfolio(store: Store, market: MarketData, account: str) -> dict:
    """Latest position per symbol, marked at the latest close."""
    pos = store.read("positions", {"account": account})
    n_fills = len(store.read("fills", {"account": account}))
    out = {"account": account, "as_of": None, "cash": None, "equity": None, "positions": [],
           "n_fills": n_fills, "paper": paper_state(store, account),
           "pnl": {"today": None, "week": None, "total": None}}
    if pos.empty:
        return out
    pos = pos.sort_values("ts")
    latest = pos[pos["symbol"] != CASH_SYMBOL].groupby("symbol", sort=True).tail(1)
    cash = float(pos["cash"].iloc[-1]) if pd.notna(pos["cash"].iloc[-1]) else None
    equity = cash
    for _, r in latest.iterrows():
        last = _last_close(market, r["symbol"])
        mv = r["qty"] * last if last is not None else None
        upnl = (last - r["avg_price"]) * r["qty"] if last is not None else None
        if equity is not None:
            equity = equity + mv if mv is not None else None
        if r["qty"] == 0 and not r["realized_pnl"]:
            continue
        out["positions"].append({
            "symbol": r["symbol"], "qty": float(r["qty"]), "avg_price": float(r["avg_price"]),
            "last_price": last, "market_value": mv, "unrealized_pnl": upnl,
            "realized_pnl": float(r["realized_pnl"] or 0.0), "as_of": pd.Timestamp(r["ts"]).isoformat()})
    out.update(as_of=pd.Timestamp(pos["ts"].iloc[-1]).isoformat(), cash=cash, equity=equity)
    marks = [pd.Timestamp(market.bars(p["symbol"])["known_at"].iloc[-1]) for p in out["positions"]
             if p["last_price"] is not None]
    now = max([pd.Timestamp(pos["ts"].iloc[-1]), *marks])
    out["pnl"] = pnl(equity_curve(store, market, account), equity, now)
    return out


def positions_by_symbol(store: Store, account: str) -> dict[str, float]:
    pos = store.read("positions", {"account": account})
    if pos.empty:
        return {}
    latest = pos[pos["symbol"] != CASH_SYMBOL].sort_values("ts").groupby("symbol").tail(1)
    return {str(r["symbol"]): float(r["qty"]) for _, r in latest.iterrows()}


def entry_prices(store: Store, account: str) -> dict[str, float]:
    pos = store.read("positions", {"account": account})
    if pos.empty:
        return {}
    latest = pos[pos["symbol"] != CASH_SYMBOL].sort_values("ts").groupby("symbol").tail(1)
    return {str(r["symbol"]): float(r["avg_price"]) for _, r in latest.iterrows()}


def manage_position(bars: pd.DataFrame, qty: float, entry_price: float | None) -> tuple[str, str] | None:
    """Take profit / exit / add / monitor / hold for an open position (pipelines.trading.actions)."""
    if not qty or entry_price is None:
        return None
    a = suggest_action(bars, qty, entry_price)
    return a.action, a.reason


def equity_curve(store: Store, market: MarketData, account: str) -> list[dict]:
    """Cash plus positions at every snapshot of the account, each held symbol marked at its last
    close known by then (bars whose ``known_at`` <= the snapshot time)."""
    pos = store.read("positions", {"account": account})
    if pos.empty:
        return []
    pos = pos.sort_values("ts", kind="stable")
    held: dict[str, float] = {}
    closes: dict[str, pd.DataFrame] = {}
    points = []
    for _, r in pos.iterrows():
        if r["symbol"] != CASH_SYMBOL:
            held[r["symbol"]] = float(r["qty"])
        value, marked = float(r["cash"]), True
        for sym, qty in held.items():
            if not qty:
                continue
            if sym not in closes:
                try:
                    closes[sym] = market.bars(sym)[["known_at", "close"]]
                except Exception:
                    closes[sym] = pd.DataFrame(columns=["known_at", "close"])
            c = closes[sym]
            known = c[c["known_at"] <= r["ts"]]
            if known.empty:
                marked = False
                break
            value += qty * float(known["close"].iloc[-1])
        if marked:
            points.append({"ts": pd.Timestamp(r["ts"]).isoformat(), "equity": value})
    return points


def pnl(points: list[dict], equity_now: float | None, now: pd.Timestamp) -> dict:
    """P&L today (since UTC midnight), this week (since Monday 00:00 UTC) and since the first
    snapshot, against the equity last recorded before each start."""
    out: dict[str, float | None] = {"today": None, "week": None, "total": None}
    if not points or equity_now is None:
        return out
    ts = pd.to_datetime([p["ts"] for p in points], utc=True)
    eq = [p["equity"] for p in points]
    day = now.normalize()
    for name, start in (("today", day), ("week", day - pd.Timedelta(days=now.dayofweek))):
        before = [e for t, e in zip(ts, eq) if t < start]
        out[name] = equity_now - (before[-1] if before else eq[0])
    out["total"] = equity_now - eq[0]
    return out
