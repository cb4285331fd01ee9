"""Backtests on DataFrames: one symbol (:func:`run_backtest`) or many (:func:`run_portfolio`),
both on the vectorised engine (:mod:`pipelines.trading.engine`).

A target position decided on bar t (known at t's close) is executed at the open of bar t+1 and
held until the next decision is executed: the strategy earns open-to-open returns, never the
return of the bar whose close produced the signal. Each change of position pays the costs on
the traded notional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.costs import Costs
from pipelines.trading.engine import SimResult, simulate, trades_frame


@dataclass
class BacktestResult:
    returns: pd.Series      # per-bar strategy return (after costs), indexed by ts
    positions: pd.Series    # position held during each bar
    equity: pd.Series       # cumulative equity from 1.0
    turnover: float         # sum of |position changes|
    trades: int             # number of position changes
    costs_paid: float       # sum of cost fractions paid


def run_backtest(target: pd.Series, bars: pd.DataFrame, costs: Costs = Costs(),
                 vol: pd.Series | None = None) -> BacktestResult:
    """``target``: desired position per bar (indexed by ts, a subset of ``bars.ts``); ``bars``:
    the symbol's bars (ts, open, close). Bars outside ``target``'s index hold no position.
    ``vol``: volatility known at each bar (ATR / close) for volatility slippage."""
    b = bars.set_index("ts").sort_index()
    tgt = target.reindex(b.index).fillna(0.0).to_numpy(dtype="float64")
    v = None if vol is None else vol.reindex(b.index).to_numpy(dtype="float64")
    sim = simulate(tgt, b["open"].to_numpy(dtype="float64"), b["close"].to_numpy(dtype="float64"), costs, v)
    idx = b.index
    held = sim.held[:, 0]
    changes = np.abs(np.diff(np.concatenate([[0.0], held])))
    returns = pd.Series(sim.returns, index=idx, name="strategy_return")
    return BacktestResult(
        returns=returns,
        positions=pd.Series(held, index=idx, name="position"),
        equity=pd.Series(sim.equity, index=idx, name="equity"),
        turnover=float(sim.turnover.sum()),
        trades=int((changes > 0).sum()),
        costs_paid=float(sim.costs.sum()),
    )


def buy_and_hold(bars: pd.DataFrame, start_ts, costs: Costs = Costs()) -> BacktestResult:
    """Long 1.0 from the first decision bar onwards: the baseline every strategy stands next to."""
    b = bars.set_index("ts").sort_index()
    tgt = pd.Series((b.index >= start_ts).astype(float), index=b.index)
    return run_backtest(tgt, bars, costs)


@dataclass
class PortfolioResult:
    """A multi-symbol backtest on a shared time index."""

    index: pd.DatetimeIndex
    symbols: list[str]
    sim: SimResult
    trade_list: pd.DataFrame

    @property
    def returns(self) -> pd.Series:
        return pd.Series(self.sim.returns, index=self.index, name="strategy_return")

    @property
    def equity(self) -> pd.Series:
        return pd.Series(self.sim.equity, index=self.index, name="equity")

    @property
    def positions(self) -> pd.DataFrame:
        return pd.DataFrame(self.sim.held, index=self.index, columns=self.symbols)


def wide(bars: pd.DataFrame, column: str) -> pd.DataFrame:
    """Long bars (symbol, ts, ...) -> one column per symbol on the union of timestamps."""
    return bars.pivot_table(index="ts", columns="symbol", values=column, aggfunc="last").sort_index()


def run_portfolio(targets: pd.DataFrame, bars: pd.DataFrame, costs: Costs = Costs(),
                  vol: pd.DataFrame | None = None, max_leverage: float | None = None,
                  maintenance_margin: float | None = None) -> PortfolioResult:
    """``targets``: ts x symbol positions (multiples of equity) decided at each bar's close;
    ``bars``: long bars of those symbols. Timestamps are the union of the symbols' bars; a
    symbol without a bar at a timestamp cannot trade there."""
    symbols = [str(s) for s in targets.columns]
    missing = set(symbols) - set(bars["symbol"].astype(str).unique())
    if missing:
        raise ValueError(f"no bars for {sorted(missing)}")
    b = bars[bars["symbol"].astype(str).isin(symbols)]
    opens = wide(b, "open").reindex(columns=symbols)
    closes = wide(b, "close").reindex(index=opens.index, columns=symbols)
    tgt = targets.reindex(index=opens.index, columns=symbols)
    v = None if vol is None else vol.reindex(index=opens.index, columns=symbols).to_numpy()
    sim = simulate(tgt.to_numpy(dtype="float64"), opens.to_numpy(), closes.to_numpy(), costs, v, max_leverage,
                   maintenance_margin)
    tl = trades_frame(sim, opens.index, symbols, opens.to_numpy())
    return PortfolioResult(index=opens.index, symbols=symbols, sim=sim, trade_list=tl)
