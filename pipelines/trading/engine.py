"""The backtest engine: many symbols at once, one compiled pass (numba) over bars x symbols.

Conventions (the same everywhere a strategy is evaluated):

* ``target[t, j]`` is the position in symbol j decided at bar t's close, as a multiple of
  equity (1.0 = fully invested, 5.0 = five times leveraged, negative = short).
* It is executed at the open of bar t+1 and held until the next decision is executed, so the
  strategy earns open-to-open returns (the last bar: open to close) and never the return of the
  bar whose close produced the signal.
* A bar with no price for a symbol (NaN open) cannot trade it: the position is carried and the
  price is carried, so the move across the gap is earned when trading resumes.
* Each unit of position change pays its symbol's ``Costs.per_unit_turnover`` + ``slippage_vol_mult`` x the
  bar's volatility + ``impact_bps_per_unit`` x the size of the change; each bar held pays
  financing on the gross position.
* Gross exposure above ``max_leverage`` is scaled down to it. Equity below the maintenance
  margin (a share of the gross notional) at a bar's end liquidates everything at the next open.
  A bar that loses all equity
  ruins the account: its trades close there, equity stays at zero and nothing trades afterwards.

Trades are maximal runs of a same-signed, non-zero position in one symbol. A trade's P&L (as a
fraction of equity, additive) is what it earned while held, the cost of entering it, every
resize inside it, financing, and the cost of leaving it; the trades' P&L sum to the strategy's
additive return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from pipelines.costs import Costs


@dataclass
class Trades:
    """One row per trade, in the order they closed: parallel arrays (symbol index, first and
    last bar held, side, P&L)."""

    symbol: np.ndarray      # int, column of the symbol
    entry: np.ndarray       # int, first bar the position is held (filled at that bar's open)
    exit: np.ndarray        # int, last bar held (closed at the next bar's open), or last bar if open
    side: np.ndarray        # +1 long, -1 short
    pnl: np.ndarray         # additive return on equity, after costs
    is_open: np.ndarray     # still open at the end of the data

    def __len__(self) -> int:
        return len(self.symbol)


@dataclass
class SimResult:
    held: np.ndarray        # (T, N) position held during each bar
    symbol_returns: np.ndarray  # (T, N) each symbol's contribution to the bar's return
    returns: np.ndarray     # (T,) strategy return per bar after costs
    equity: np.ndarray      # (T,) equity from 1.0
    costs: np.ndarray       # (T, N) trading costs paid
    turnover: np.ndarray    # (N,) sum of |position changes|
    trades: Trades
    ruined_at: int | None   # first bar at which equity hit zero
    margin_calls: np.ndarray  # bars at whose end equity fell below the maintenance margin
    financing_rate: np.ndarray | float = 0.0  # per bar and symbol, on the gross position

    @property
    def financing(self) -> np.ndarray:
        """(T, N) financing paid."""
        return np.abs(self.held) * self.financing_rate


def _2d(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype="float64")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (bars, symbols), got shape {a.shape}")
    return a


def _ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs down each column (leading NaNs stay)."""
    T = a.shape[0]
    idx = np.where(np.isfinite(a), np.arange(T)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.take_along_axis(a, idx, axis=0)


@numba.njit(cache=True)
def _run(tgt, open_, close, vol, has_vol, fixed, vol_mult, impact, fin, max_lev, has_cap, mm,
         margin_calls, held, sym_ret, cost, turnover, tr_sym, tr_entry, tr_exit, tr_side, tr_pnl, tr_open, ret):
    """One pass over bars (outer) and symbols (inner): fills at the open, P&L through the bar,
    decisions at the close, trades as they close. Returns (number of trades, ruin bar or -1)."""
    T, N = tgt.shape
    pos = np.zeros(N)
    last_open = np.full(N, np.nan)
    t_entry = np.full(N, -1, np.int64)
    t_side = np.zeros(N)
    t_pnl = np.zeros(N)
    scale_prev = 1.0
    n = 0
    ruined = -1
    liquidate = False
    for t in range(T):
        bar = 0.0
        notional = 0.0
        for j in range(N):
            o = open_[t, j]
            tradable = o == o and o > 0
            if tradable:
                last_open[j] = o
            c = 0.0
            if t > 0 and tradable and ruined < 0:
                new = tgt[t - 1, j]
                if new != new or liquidate:
                    new = 0.0
                new *= scale_prev
                d = abs(new - pos[j])
                if d != 0.0:
                    unit = fixed[j] + impact[j] * d
                    if has_vol:
                        v = vol[t - 1, j]
                        if v == v:
                            unit += vol_mult[j] * v
                    c = d * unit
                    turnover[j] += d
                    old_side = np.sign(pos[j])
                    new_side = np.sign(new)
                    if t_entry[j] >= 0 and new_side != old_side:
                        t_pnl[j] -= abs(pos[j]) * unit
                        tr_sym[n] = j
                        tr_entry[n] = t_entry[j]
                        tr_exit[n] = t - 1
                        tr_side[n] = t_side[j]
                        tr_pnl[n] = t_pnl[j]
                        tr_open[n] = False
                        n += 1
                        t_entry[j] = -1
                    if t_entry[j] < 0 and new_side != 0:
                        t_entry[j] = t
                        t_side[j] = new_side
                        t_pnl[j] = -abs(new) * unit
                    elif t_entry[j] >= 0:
                        t_pnl[j] -= c
                    pos[j] = new
            # through the bar: to the next open (last bar: to the close)
            if t + 1 < T:
                nxt = open_[t + 1, j]
                if not (nxt == nxt and nxt > 0):
                    nxt = last_open[j]
            else:
                nxt = close[t, j]
                if nxt != nxt:
                    nxt = last_open[j]
            r = nxt / last_open[j] - 1.0
            if r != r or r == np.inf or r == -np.inf:
                r = 0.0
            f = abs(pos[j]) * fin[j]
            contrib = pos[j] * r - c - f
            if t_entry[j] >= 0:
                t_pnl[j] += contrib + c
            held[t, j] = pos[j]
            cost[t, j] = c
            sym_ret[t, j] = contrib
            bar += contrib
            notional += abs(pos[j]) * (1.0 + r)
        liquidate = False
        if ruined >= 0:
            bar = 0.0
            for j in range(N):
                sym_ret[t, j] = 0.0
        elif bar <= -1.0:
            bar = -1.0
            ruined = t
            for j in range(N):
                if t_entry[j] >= 0:
                    tr_sym[n] = j
                    tr_entry[n] = t_entry[j]
                    tr_exit[n] = t
                    tr_side[n] = t_side[j]
                    tr_pnl[n] = t_pnl[j]
                    tr_open[n] = False
                    n += 1
                    t_entry[j] = -1
                pos[j] = 0.0
        ret[t] = bar
        if mm > 0 and ruined < 0 and notional > 0 and 1.0 + bar < mm * notional:
            liquidate = True            # below maintenance margin: flattened at the next open
            margin_calls[t] = True
        # the close: the gross cap of this bar's decisions, applied when they execute
        if has_cap:
            gross = 0.0
            for j in range(N):
                x = tgt[t, j]
                if x == x:
                    gross += abs(x)
            scale_prev = max_lev / gross if gross > max_lev else 1.0
    for j in range(N):
        if t_entry[j] >= 0:
            tr_sym[n] = j
            tr_entry[n] = t_entry[j]
            tr_exit[n] = T - 1
            tr_side[n] = t_side[j]
            tr_pnl[n] = t_pnl[j]
            tr_open[n] = True
            n += 1
    return n, ruined


def _per_symbol(costs: "Costs | list[Costs] | tuple[Costs, ...]", n: int) -> list[Costs]:
    cs = [costs] * n if isinstance(costs, Costs) else list(costs)
    if len(cs) != n:
        raise ValueError(f"{len(cs)} cost models for {n} symbols")
    return cs


def simulate(target, open_, close, costs: "Costs | list[Costs]" = Costs(), vol=None,
             max_leverage: float | None = None, maintenance_margin: float | None = None) -> SimResult:
    """Run the strategy ``target`` (bars x symbols) over prices ``open_``/``close``; ``vol``
    (per-bar volatility as a return fraction, e.g. ATR / close, as known at each bar's close)
    drives volatility slippage: an order pays the volatility known when it was decided.
    ``maintenance_margin``: the share of the gross notional equity must cover at the end of a
    bar; below it every position is liquidated at the next open (a margin call)."""
    target, open_, close = _2d(target, "target"), _2d(open_, "open"), _2d(close, "close")
    if not (target.shape == open_.shape == close.shape):
        raise ValueError(f"target {target.shape}, open {open_.shape} and close {close.shape} differ in shape")
    T, N = target.shape
    if T == 0:
        raise ValueError("no bars to backtest")
    cs = _per_symbol(costs, N)
    fixed = np.array([c.per_unit_turnover for c in cs])
    vol_mult = np.array([c.slippage_vol_mult for c in cs])
    impact = np.array([c.impact_bps_per_unit / 1e4 for c in cs])
    fin = np.array([c.financing_per_bar for c in cs])
    has_vol = bool(vol_mult.any()) and vol is not None
    v = np.ascontiguousarray(_2d(vol, "vol")) if has_vol else np.zeros((1, 1))
    if has_vol and v.shape != target.shape:
        raise ValueError(f"vol {v.shape} and target {target.shape} differ in shape")
    held, sym_ret, cost = np.empty((T, N)), np.empty((T, N)), np.empty((T, N))
    ret, turnover, calls = np.empty(T), np.zeros(N), np.zeros(T, np.bool_)
    cap = T * N + N                                     # untouched pages cost nothing
    tr = (np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64),
          np.empty(cap), np.empty(cap), np.empty(cap, np.bool_))
    n, ruined = _run(np.ascontiguousarray(target), np.ascontiguousarray(open_), np.ascontiguousarray(close),
                     v, has_vol, fixed, vol_mult, impact, fin,
                     float(max_leverage or 0.0), max_leverage is not None, float(maintenance_margin or 0.0),
                     calls, held, sym_ret, cost, turnover, *tr, ret)
    sym, entry, exit_, side, pnl, is_open = (a[:n].copy() for a in tr)
    trades = Trades(symbol=sym, entry=entry, exit=exit_, side=side.astype(np.int64), pnl=pnl, is_open=is_open)
    return SimResult(held=held, symbol_returns=sym_ret, returns=ret, equity=np.cumprod(1.0 + ret),
                     costs=cost, turnover=turnover,
                     trades=trades, ruined_at=None if ruined < 0 else int(ruined),
                     margin_calls=np.flatnonzero(calls), financing_rate=fin)


def trades_frame(result: SimResult, index: pd.Index, symbols: list[str], open_=None) -> pd.DataFrame:
    """The trade list as a table: symbol, side, entry/exit time and price, bars held, P&L."""
    tr = result.trades
    o = _ffill(_2d(open_, "open")) if open_ is not None else None
    T = len(index)
    exit_bar = np.minimum(tr.exit + 1, T - 1)
    df = pd.DataFrame({
        "symbol": [symbols[i] for i in tr.symbol],
        "side": np.where(tr.side > 0, "long", "short"),
        "entry_ts": index[tr.entry], "exit_ts": index[exit_bar],
        "bars": tr.exit - tr.entry + 1,
        "size": [float(np.mean(np.abs(result.held[e:x + 1, j]))) for j, e, x in zip(tr.symbol, tr.entry, tr.exit)],
        "pnl": tr.pnl, "open": tr.is_open,
    })
    if o is not None:
        df["entry_price"] = o[tr.entry, tr.symbol]
        df["exit_price"] = np.where(tr.is_open, np.nan, o[exit_bar, tr.symbol])
    return df.sort_values(["entry_ts", "symbol"], kind="stable").reset_index(drop=True)
