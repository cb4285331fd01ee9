"""The one decision: (strategy, what is known up to t) -> the target position at t.

:func:`targets` is the function. Row t of its output uses only the bars and the models'
predictions up to t (tested by the prefix test), so the backtest calls it once over the whole
history, the paper account as bars close (a block of stored bars at once when replaying, a live
bar alone), and serving for the newest decidable bar. The account that follows the targets is
the engine with the strategy's own costs and limits (:func:`simulate_strategy`); the combined view of the models is
:func:`combined` (the weights the strategy learned inside its run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.ensembles.combine import apply_weights
from pipelines.costs import Costs
from pipelines.times import periods_per_year, timeframe_offset
from pipelines.trading.backtest import PortfolioResult
from pipelines.trading.engine import simulate, trades_frame
from pipelines.trading.risk import apply_limits, atr, no_trade_band
from pipelines.trading.signals import signal_positions
from pipelines.trading.sizing import measured_payoff, session_liquidity, size_positions
from pipelines.trading.strategy import Strategy

VIEW = ("expected_return", "prob_up", "confidence", "realized_return")


@dataclass
class Market:
    """Bars of the strategy's symbols, one column per symbol on the union of timestamps."""

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    classes: dict[str, str]
    timeframe: str

    @classmethod
    def from_bars(cls, bars: pd.DataFrame, symbols: list[str]) -> "Market":
        b = bars.sort_values(["ts", "symbol"], kind="stable")
        wide = {c: b.pivot_table(index="ts", columns="symbol", values=c, aggfunc="last")
                .sort_index().reindex(columns=symbols) for c in ("open", "high", "low", "close")}
        classes = b.groupby("symbol")["asset_class"].first().astype(str).to_dict()
        return cls(**wide, classes={s: classes[s] for s in symbols}, timeframe=str(b["timeframe"].iloc[0]))

    @property
    def symbols(self) -> list[str]:
        return [str(s) for s in self.open.columns]

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.open.index

    def tail(self, n: int) -> "Market":
        return Market(self.open.tail(n), self.high.tail(n), self.low.tail(n), self.close.tail(n),
                      self.classes, self.timeframe)

    def vol(self, period: int) -> pd.DataFrame:
        """ATR / close, known at each bar's close: what volatility slippage and sizing use."""
        a = atr(self.high.to_numpy(), self.low.to_numpy(), self.close.to_numpy(), period)
        return pd.DataFrame(a, index=self.index, columns=self.symbols) / self.close

    def periods_per_year(self) -> float:
        return max(periods_per_year(self.timeframe, c) for c in self.classes.values())


def combined(strategy: Strategy, symbol: str, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The models' predictions for ``symbol`` (one frame per model, indexed by ts) combined with
    the weights the strategy learned: expected_return, prob_up, confidence, realized_return."""
    params = strategy.combiner.params[symbol]
    er = pd.DataFrame({m: frames[m]["expected_return"] for m in params["models"]}).sort_index()
    prob = pd.DataFrame({m: frames[m]["prob_up"] for m in params["models"]}).reindex(er.index)
    out = apply_weights(params, er, prob)
    first = frames[params["models"][0]]
    out["realized_return"] = first["realized_return"].reindex(er.index) if "realized_return" in first else np.nan
    return out


def lookback(strategy: Strategy) -> int | None:
    """Bars of history the decision at t needs (None: all since the start)."""
    return 1 if strategy.rule == "signal" else None


def targets(strategy: Strategy, views: dict[str, pd.DataFrame], market: Market) -> pd.DataFrame:
    """Target positions (ts x symbol, multiples of equity) decided at each bar's close."""
    idx, symbols = market.index, market.symbols
    rule = strategy.signal
    if strategy.rule == "signal":
        # each symbol gets an equal share of equity: the book is 1x gross when every symbol trades
        cols = []
        for s in symbols:
            er = views[s]["expected_return"]
            er = er.to_numpy(dtype="float64") if er.index.equals(idx) else er.reindex(idx).to_numpy(dtype="float64")
            cols.append(signal_positions(er, rule.threshold, rule.allow_short) / len(strategy.symbols))
        return pd.DataFrame(np.column_stack(cols), index=idx, columns=market.open.columns)
    out = pd.DataFrame(0.0, index=idx, columns=symbols)
    vol = market.vol(strategy.limits.atr_period)
    for s in symbols:
        p = views[s].reindex(idx)
        direction = np.sign(p["expected_return"]).fillna(0.0)
        pay = measured_payoff(direction, p["realized_return"], strategy.horizon, strategy.sizing.min_outcomes)
        ac = market.classes[s]
        # the session the order fills in (the next open) sets the liquidity scale
        liq = session_liquidity(idx + timeframe_offset(market.timeframe), weekends=ac != "crypto") \
            if ac in ("forex", "crypto") else None
        prob = p["prob_up"].clip(0, 1)
        if not rule.allow_short:
            prob = prob.clip(lower=0.5)
        out[s] = size_positions(prob, pay, p["confidence"], vol[s], ac, liq, strategy.sizing).fillna(0.0)
    banded = no_trade_band(out.to_numpy(), strategy.limits.rebalance_band)
    day = (idx.asi8 // (86_400 * 10**9)).astype("int64")
    unit = max(c.per_unit_turnover for c in costs_for(strategy, market))
    limited = apply_limits(banded, market.open.to_numpy(), market.high.to_numpy(), market.low.to_numpy(),
                           market.close.to_numpy(), day, strategy.limits, unit)
    return pd.DataFrame(limited, index=idx, columns=symbols)


def costs_for(strategy: Strategy, market: Market) -> list[Costs]:
    """The strategy's cost model for each symbol (by asset class), financing per bar."""
    ppy = market.periods_per_year()
    return [strategy.costs.costs(market.classes[s], ppy) for s in market.symbols]


def simulate_strategy(strategy: Strategy, tgt: pd.DataFrame, market: Market) -> PortfolioResult:
    """The account that follows ``tgt``: fills at the next open, the strategy's costs, its gross
    cap and maintenance margin."""
    symbols = market.symbols
    risk = strategy.limits
    t = tgt.reindex(index=market.index, columns=symbols)
    sim = simulate(t.to_numpy(dtype="float64"), market.open.to_numpy(), market.close.to_numpy(),
                   costs_for(strategy, market), market.vol(risk.atr_period).to_numpy(),
                   risk.max_gross, risk.maintenance_margin)
    tl = trades_frame(sim, market.index, symbols, market.open.to_numpy())
    return PortfolioResult(index=market.index, symbols=symbols, sim=sim, trade_list=tl)
