"""The vectorised backtest engine: many symbols at once, positions x returns in NumPy.

Conventions (the same everywhere a strategy is evaluated):

* ``target[t, j]`` is the position in symbol j decided at bar t's close, as a multiple of
  equity (1.0 = fully invested, 5.0 = five times leveraged, negative = short).
* It is executed at the open of bar t+1 and held until the next decision is executed, so the
  strategy earns open-to-open returns (the last bar: open to close) and never the return of the
  bar whose close produced the signal.
* A bar with no price for a symbol (NaN open) cannot trade it: the position is carried and the
  price is carried, so the move across the gap is earned when trading resumes.
* Each unit of position change pays ``Costs.per_unit_turnover`` + ``slippage_vol_mult`` x the
  bar's volatility + ``impact_bps_per_unit`` x the size of the change; each bar held pays
  financing on the gross position.
* Gross exposure above ``max_leverage`` is scaled down to it. A bar that loses all equity
  ruins the account: equity stays at zero and nothing trades afterwards.

Trades are maximal runs of a same-signed, non-zero position in one symbol. A trade's P&L (as a
fraction of equity, additive) is what it earned while held, the cost of entering it, every
resize inside it, financing, and the cost of leaving it; the trades' P&L sum to the strategy's
additive return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.trading.costs import Costs


@dataclass
class Trades:
    """One row per trade: parallel arrays (symbol index, first and last bar held, side, P&L)."""

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
    financing: np.ndarray   # (T, N) financing paid
    turnover: np.ndarray    # (N,) sum of |position changes|
    trades: Trades
    ruined_at: int | None   # first bar at which equity hit zero


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


def bar_returns(open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Open-to-next-open return per bar (last bar: open to close), prices carried over gaps."""
    o = _ffill(open_)
    nxt = np.empty_like(o)
    nxt[:-1] = o[1:]
    last_close = close[-1]
    nxt[-1] = np.where(np.isfinite(last_close), last_close, o[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = nxt / o - 1.0
    return np.where(np.isfinite(r), r, 0.0)


def held_positions(target: np.ndarray, tradable: np.ndarray, max_leverage: float | None) -> np.ndarray:
    """Decisions shifted one bar; carried over bars that cannot trade; gross capped."""
    t = np.where(np.isfinite(target), target, 0.0)
    if max_leverage is not None:
        gross = np.abs(t).sum(axis=1, keepdims=True)
        t = t * np.where(gross > max_leverage, max_leverage / np.where(gross > 0, gross, 1.0), 1.0)
    held = np.empty_like(t)
    held[0] = 0.0
    held[1:] = t[:-1]
    held[~tradable] = np.nan
    held[0] = np.where(tradable[0], held[0], 0.0)
    return _ffill(held)


def simulate(target, open_, close, costs: Costs = Costs(), vol=None,
             max_leverage: float | None = None) -> SimResult:
    """Run the strategy ``target`` (bars x symbols) over prices ``open_``/``close``; ``vol``
    (per-bar volatility as a return fraction, e.g. ATR / close, as known at each bar's close)
    drives volatility slippage: an order pays the volatility known when it was decided."""
    target, open_, close = _2d(target, "target"), _2d(open_, "open"), _2d(close, "close")
    if not (target.shape == open_.shape == close.shape):
        raise ValueError(f"target {target.shape}, open {open_.shape} and close {close.shape} differ in shape")
    T, N = target.shape
    if T == 0:
        raise ValueError("no bars to backtest")
    tradable = np.isfinite(open_) & (open_ > 0)
    r = bar_returns(open_, close)
    held = held_positions(target, tradable, max_leverage)
    prev = np.vstack([np.zeros((1, N)), held[:-1]])
    dpos = np.abs(held - prev)
    unit = np.full((T, N), costs.per_unit_turnover)
    if costs.slippage_vol_mult and vol is not None:
        v = _2d(vol, "vol")
        v = np.vstack([np.zeros((1, N)), v[:-1]])        # known at the decision, one bar earlier
        unit = unit + costs.slippage_vol_mult * np.where(np.isfinite(v), v, 0.0)
    if costs.impact_bps_per_unit:
        unit = unit + costs.impact_bps_per_unit / 1e4 * dpos
    cost = dpos * unit
    fin = np.abs(held) * costs.financing_per_bar
    sym_ret = held * r - cost - fin
    ret = sym_ret.sum(axis=1)
    ruined_at = None
    bust = np.flatnonzero(ret <= -1.0)
    if len(bust):
        ruined_at = int(bust[0])
        ret[ruined_at] = -1.0
        ret[ruined_at + 1:] = 0.0
        sym_ret[ruined_at + 1:] = 0.0
        held[ruined_at + 1:] = 0.0
    equity = np.cumprod(1.0 + ret)
    trades = extract_trades(held, sym_ret, unit, cost)
    return SimResult(held=held, symbol_returns=sym_ret, returns=ret, equity=equity, costs=cost,
                     financing=fin, turnover=dpos.sum(axis=0), trades=trades, ruined_at=ruined_at)


def extract_trades(held: np.ndarray, sym_ret: np.ndarray, unit: np.ndarray, cost: np.ndarray) -> Trades:
    """Maximal same-signed runs of each column, with their P&L (see the module docstring)."""
    T, N = held.shape
    s = np.sign(held).T                                   # (N, T), rows are symbols
    prev = np.concatenate([np.zeros((N, 1)), s[:, :-1]], axis=1)
    nxt = np.concatenate([s[:, 1:], np.zeros((N, 1))], axis=1)
    start = (s != 0) & (s != prev)
    end = (s != 0) & (s != nxt)
    sym, entry = np.nonzero(start)                        # row-major: by symbol, then time
    _, exit_ = np.nonzero(end)
    side = s[sym, entry].astype("int64")
    cs = np.cumsum(sym_ret.T, axis=1)                     # (N, T)
    before = np.where(entry > 0, cs[sym, np.maximum(entry - 1, 0)], 0.0)
    body = cs[sym, exit_] - before
    a = np.abs(held.T)
    unit_t = unit.T
    entry_part = a[sym, entry] * unit_t[sym, entry]
    is_open = exit_ == T - 1
    nx = np.minimum(exit_ + 1, T - 1)
    exit_part = np.where(is_open, 0.0, a[sym, exit_] * unit_t[sym, nx])
    pnl = body + cost.T[sym, entry] - entry_part - exit_part
    return Trades(symbol=sym.astype("int64"), entry=entry.astype("int64"), exit=exit_.astype("int64"),
                  side=side, pnl=pnl, is_open=is_open)


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
