"""The one decision: (strategy, what is known up to t) -> the target position at t.

:func:`targets` is the function. Row t of its output uses only the bars and the models'
predictions up to t (tested by the prefix test), so the backtest calls it once over the whole
history and serving for the newest decidable bar. The paper account carries it from bar to bar
(:class:`Decision`: a block of stored bars at once when replaying, a live bar alone): what the
bars before left (the measured payoff's running sums, the ATR, the volatility window, the band
and the limits' book) is kept, so a new bar costs its window, not a pass over the history, and
the targets are those of one call over the whole history. The account that follows the targets is
the engine with the strategy's own costs and limits (:func:`simulate_strategy`); the combined view of the models is
:func:`combined` (the combiner the strategy learned inside its run: weights or a stacking meta-learner).
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
from pipelines.trading.risk import Limits, atr, no_trade_band
from pipelines.trading.signals import signal_positions
from pipelines.trading.sizing import known_outcomes, payoff_averages, session_liquidity, sized
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
    what the strategy's combiner learned in its run (:func:`models.ensembles.combine.apply_weights`:
    each row the step of its fold, the final one after the run): expected_return, prob_up,
    confidence, realized_return."""
    params = strategy.combiner.params[symbol]
    er = pd.DataFrame({m: frames[m]["expected_return"] for m in params["models"]}).sort_index()
    prob = pd.DataFrame({m: frames[m]["prob_up"] for m in params["models"]}).reindex(er.index)
    out = apply_weights(params, er, prob)
    first = frames[params["models"][0]]
    out["realized_return"] = first["realized_return"].reindex(er.index) if "realized_return" in first else np.nan
    return out


def targets(strategy: Strategy, views: dict[str, pd.DataFrame], market: Market) -> pd.DataFrame:
    """Target positions (ts x symbol, multiples of equity) decided at each bar's close."""
    return Decision(strategy, market.symbols).next(views, market)


class Decision:
    """:func:`targets` carried over consecutive blocks of bars: ``next(views, market)`` decides the
    market's bars, which follow the last bar decided, and gives the targets one call over all the
    bars so far would give them. ``views`` (symbol -> combined view indexed by ts) must hold the
    rows from :attr:`views_from` to the market's last bar."""

    def __init__(self, strategy: Strategy, symbols: list[str]) -> None:
        self.st, self.symbols = strategy, list(symbols)
        n = len(self.symbols)
        self.recent = pd.DatetimeIndex([], tz="UTC")      # the last `horizon` bars: outcomes not all counted
        self.payoff = np.zeros((n, 4))                     # outcomes counted before them: n_win, n_loss, win, loss
        self.atr: tuple[np.ndarray, np.ndarray] | None = None   # (close, ATR) of the last bar
        self.vols = np.empty((0, n))                       # the last vol_lookback - 1 volatilities
        self.banded: np.ndarray | None = None              # the banded targets of the last bar
        self.limits: Limits | None = None

    @property
    def views_from(self) -> pd.Timestamp | None:
        """The earliest bar the next call reads from the views (None: only the new bars)."""
        return self.recent[0] if len(self.recent) else None

    def next(self, views: dict[str, pd.DataFrame], market: Market) -> pd.DataFrame:
        if list(market.symbols) != self.symbols:
            raise ValueError(f"the decision trades {self.symbols}, the bars are of {market.symbols}")
        if len(self.recent) and len(market.index) and market.index[0] <= self.recent[-1]:
            raise ValueError(f"bars from {market.index[0]} are not after the last decided, {self.recent[-1]}")
        if self.st.rule == "signal":
            return self._signal(views, market)
        return self._kelly(views, market)

    def _signal(self, views: dict[str, pd.DataFrame], market: Market) -> pd.DataFrame:
        # each symbol gets an equal share of equity: the book is 1x gross when every symbol trades
        idx, rule = market.index, self.st.signal
        cols = []
        for s in self.symbols:
            er = views[s]["expected_return"]
            er = er.to_numpy(dtype="float64") if er.index.equals(idx) else er.reindex(idx).to_numpy(dtype="float64")
            cols.append(signal_positions(er, rule.threshold, rule.allow_short) / len(self.st.symbols))
        self.recent = idx[-1:]
        return pd.DataFrame(np.column_stack(cols), index=idx, columns=market.open.columns)

    def _kelly(self, views: dict[str, pd.DataFrame], market: Market) -> pd.DataFrame:
        st, idx, k = self.st, market.index, len(market.index)
        h, sizing = st.horizon, st.sizing
        seen = self.recent.append(idx) if len(self.recent) else idx       # the payoff reads the outcomes of `recent` too
        high, low, close = (f.to_numpy(dtype="float64") for f in (market.high, market.low, market.close))
        a = atr(high, low, close, st.limits.atr_period, self.atr)
        with np.errstate(invalid="ignore", divide="ignore"):
            vol = a / close                                               # ATR / close, known at each bar's close
        out = np.zeros((k, len(self.symbols)))
        # the session the order fills in (the next open) sets the liquidity scale
        fills = idx + timeframe_offset(market.timeframe)
        for j, s in enumerate(self.symbols):
            er, prob, conf, realized = _columns(views[s], seen, ("expected_return", "prob_up", "confidence",
                                                                 "realized_return"))
            known = known_outcomes(np.where(np.isfinite(er), np.sign(er), 0.0), realized, h, self.payoff[j])
            self.payoff[j] = known[-1]
            avg_win, avg_loss = payoff_averages(known[-k:], sizing.min_outcomes)
            ac = market.classes[s]
            liq = session_liquidity(fills, weekends=ac != "crypto") if ac in ("forex", "crypto") else None
            prob = np.clip(prob[-k:], 0, 1)
            if not st.signal.allow_short:
                prob = np.clip(prob, 0.5, None)
            t = sized(prob, avg_win, avg_loss, conf[-k:], vol[:, j], ac, liq, sizing, self.vols[:, j])
            out[:, j] = np.where(np.isnan(t), 0.0, t)
        banded = no_trade_band(out, st.limits.rebalance_band, self.banded)
        if self.limits is None:
            unit = max(c.per_unit_turnover for c in costs_for(st, market))
            self.limits = Limits(st.limits, len(self.symbols), unit)
        day = (idx.asi8 // (86_400 * 10**9)).astype("int64")
        limited = self.limits.apply(banded, market.open.to_numpy(dtype="float64"), close, a, day)
        self.recent = seen[-h:]
        self.atr = (close[-1].copy(), a[-1].copy()) if k else self.atr
        self.vols = np.vstack([self.vols, vol])[-(sizing.vol_lookback - 1):]
        self.banded = banded[-1].copy() if k else self.banded
        return pd.DataFrame(limited, index=idx, columns=market.open.columns)


def _columns(view: pd.DataFrame, index: pd.DatetimeIndex, columns: tuple[str, ...]) -> list[np.ndarray]:
    """``view``'s columns on ``index`` (NaN where it has no row), as arrays."""
    values = np.column_stack([view[c].to_numpy(dtype="float64") for c in columns])
    if not view.index.equals(index):
        pos = view.index.get_indexer(index)
        values = np.where((pos >= 0)[:, None], values[pos], np.nan) if len(values) else np.full((len(index), len(columns)), np.nan)
    return list(values.T)


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
