"""The event-by-event reference: the same strategy as :func:`pipelines.trading.engine.simulate`,
one bar and one symbol at a time, the way a broker would see it. It is slow on purpose and
exists to check the vectorised engine (same trades, same equity) and to time it against."""

from __future__ import annotations

import math

import numpy as np

from pipelines.costs import Costs


def _finite(x: float) -> bool:
    return x == x and x not in (math.inf, -math.inf)


def simulate_loop(target, open_, close, costs: Costs = Costs(), vol=None,
                  max_leverage: float | None = None, maintenance_margin: float | None = None) -> dict:
    """Returns ``{"returns", "equity", "trades", "turnover"}``; trades as tuples
    (symbol, entry bar, last bar held, side, pnl, is_open)."""
    target = np.asarray(target, dtype="float64").reshape(len(target), -1).tolist()
    open_ = np.asarray(open_, dtype="float64").reshape(len(open_), -1).tolist()
    close = np.asarray(close, dtype="float64").reshape(len(close), -1).tolist()
    vol = None if vol is None else np.asarray(vol, dtype="float64").reshape(len(open_), -1).tolist()
    T, N = len(open_), len(open_[0])
    fixed = costs.per_unit_turnover
    fin_rate = costs.financing_per_bar
    pos = [0.0] * N           # position held now
    pending = [0.0] * N       # last decision, waiting for the next open
    last_open = [math.nan] * N
    open_trade: list[list | None] = [None] * N   # [entry, side, pnl]
    trades: list[tuple] = []
    turnover = [0.0] * N
    equity, returns, curve = 1.0, [], []
    ruined = False
    margin_calls: list[int] = []
    for t in range(T):
        # 1. at the open: execute the pending decisions where the symbol trades
        costs_now = [0.0] * N
        for j in range(N):
            o = open_[t][j]
            tradable = _finite(o) and o > 0
            if tradable:
                last_open[j] = o
            if t == 0 or not tradable or ruined:
                continue
            new = 0.0 if margin_calls and margin_calls[-1] == t - 1 else pending[j]
            d = abs(new - pos[j])
            if d == 0:
                continue
            unit = fixed
            if costs.slippage_vol_mult and vol is not None and _finite(vol[t - 1][j]):
                unit += costs.slippage_vol_mult * vol[t - 1][j]
            if costs.impact_bps_per_unit:
                unit += costs.impact_bps_per_unit / 1e4 * d
            costs_now[j] = d * unit
            turnover[j] += d
            old_side = (pos[j] > 0) - (pos[j] < 0)
            new_side = (new > 0) - (new < 0)
            tr = open_trade[j]
            if tr is not None and new_side != old_side:      # leave the trade
                tr[2] -= abs(pos[j]) * unit
                trades.append((j, tr[0], t - 1, tr[1], tr[2], False))
                open_trade[j] = None
                if new_side != 0:
                    open_trade[j] = [t, new_side, -abs(new) * unit]
            elif tr is None and new_side != 0:               # enter a trade
                open_trade[j] = [t, new_side, -abs(new) * unit]
            elif tr is not None:                             # resize inside the trade
                tr[2] -= d * unit
            pos[j] = new
        # 2. through the bar: earn the move to the next open (last bar: to the close)
        bar, notional = 0.0, 0.0
        for j in range(N):
            if t + 1 < T:
                nxt = open_[t + 1][j]
                nxt = nxt if (_finite(nxt) and nxt > 0) else last_open[j]
            else:
                c = close[t][j]
                nxt = c if _finite(c) else last_open[j]
            r = nxt / last_open[j] - 1.0 if _finite(last_open[j]) and _finite(nxt) else 0.0
            if not _finite(r):
                r = 0.0
            contrib = pos[j] * r - costs_now[j] - abs(pos[j]) * fin_rate
            if open_trade[j] is not None:
                open_trade[j][2] += contrib + costs_now[j]
            bar += contrib
            notional += abs(pos[j]) * (1.0 + r)
        if ruined:
            bar = 0.0
        elif bar <= -1.0:
            bar, ruined = -1.0, True
            for j in range(N):
                tr = open_trade[j]
                if tr is not None:
                    trades.append((j, tr[0], t, tr[1], tr[2], False))
                    open_trade[j] = None
                pos[j] = 0.0
        equity *= 1.0 + bar
        if maintenance_margin and not ruined and notional > 0 and 1.0 + bar < maintenance_margin * notional:
            margin_calls.append(t)
        returns.append(bar)
        curve.append(equity)
        # 3. at the close: decide (gross capped), to be executed at the next open
        row = [x if _finite(x) else 0.0 for x in target[t]]
        gross = sum(abs(x) for x in row)
        if max_leverage is not None and gross > max_leverage:
            row = [x * (max_leverage / gross) for x in row]
        pending = row
    for j in range(N):
        tr = open_trade[j]
        if tr is not None:
            trades.append((j, tr[0], T - 1, tr[1], tr[2], True))
    trades.sort(key=lambda x: (x[0], x[1]))
    return {"returns": np.array(returns), "equity": np.array(curve), "trades": trades,
            "turnover": np.array(turnover), "margin_calls": margin_calls}
