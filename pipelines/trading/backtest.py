"""A vectorised backtester for one symbol.

A target position decided on bar t (known at t's close) is executed at the open of bar t+1 and
held until the next decision is executed: the strategy earns open-to-open returns, never the
return of the bar whose close produced the signal. Each change of position pays the costs on
the traded notional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.trading.costs import Costs


@dataclass
class BacktestResult:
    returns: pd.Series      # per-bar strategy return (after costs), indexed by ts
    positions: pd.Series    # position held during each bar
    equity: pd.Series       # cumulative equity from 1.0
    turnover: float         # sum of |position changes|
    trades: int             # number of position changes
    costs_paid: float       # sum of cost fractions paid


def run_backtest(target: pd.Series, bars: pd.DataFrame, costs: Costs = Costs()) -> BacktestResult:
    """``target``: desired position per bar (indexed by ts, a subset of ``bars.ts``); ``bars``:
    the symbol's bars (ts, open, close). Bars outside ``target``'s index hold no position."""
    b = bars.set_index("ts").sort_index()
    opens = b["open"].to_numpy(dtype="float64")
    # return of holding from the open of bar k to the open of bar k+1 (the last bar: to its close)
    nxt = np.append(opens[1:], b["close"].to_numpy(dtype="float64")[-1])
    bar_ret = nxt / opens - 1.0
    tgt = target.reindex(b.index).fillna(0.0).to_numpy(dtype="float64")
    held = np.concatenate([[0.0], tgt[:-1]])        # decided at t-1, held during bar t
    dpos = np.abs(np.diff(np.concatenate([[0.0], held])))
    cost = dpos * costs.per_unit_turnover
    ret = held * bar_ret - cost
    idx = b.index
    returns = pd.Series(ret, index=idx, name="strategy_return")
    return BacktestResult(
        returns=returns,
        positions=pd.Series(held, index=idx, name="position"),
        equity=(1.0 + returns).cumprod().rename("equity"),
        turnover=float(dpos.sum()),
        trades=int((dpos > 0).sum()),
        costs_paid=float(cost.sum()),
    )


def buy_and_hold(bars: pd.DataFrame, start_ts, costs: Costs = Costs()) -> BacktestResult:
    """Long 1.0 from the first decision bar onwards: the baseline every strategy stands next to."""
    b = bars.set_index("ts").sort_index()
    tgt = pd.Series((b.index >= start_ts).astype(float), index=b.index)
    return run_backtest(tgt, bars, costs)
