"""Trade-level statistics of a backtest's trade list, and calendar tables of its returns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _longest_run(mask: np.ndarray) -> int:
    best = cur = 0
    for m in mask:
        cur = cur + 1 if m else 0
        best = max(best, cur)
    return best


def trade_stats(trades: pd.DataFrame) -> dict[str, float]:
    """From a trade list with ``pnl`` (additive return on equity), ``side`` and ``bars``:
    counts, win rate, average win and loss, payoff ratio, profit factor, expectancy, the
    largest win and loss, the longest losing streak and the average holding time. Closed
    trades only (a trade still open at the end has no final P&L)."""
    closed = trades[~trades["open"]] if "open" in trades else trades
    pnl = closed["pnl"].to_numpy(dtype="float64")
    n = len(pnl)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_win, gross_loss = float(wins.sum()), float(-losses.sum())
    avg_win = float(wins.mean()) if len(wins) else math.nan
    avg_loss = float(-losses.mean()) if len(losses) else math.nan
    if gross_loss > 0:
        pf = gross_win / gross_loss
    else:
        pf = math.inf if gross_win > 0 else math.nan
    side = closed["side"].astype(str).to_numpy() if n else np.array([])
    return {
        "trades": int(n),
        "open_trades": int(len(trades) - n),
        "long_trades": int((side == "long").sum()),
        "short_trades": int((side == "short").sum()),
        "win_rate": float(len(wins) / n) if n else math.nan,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": avg_win / avg_loss if len(wins) and len(losses) and avg_loss > 0 else math.nan,
        "profit_factor": pf,
        "expectancy": float(pnl.mean()) if n else math.nan,
        "largest_win": float(wins.max()) if len(wins) else math.nan,
        "largest_loss": float(losses.min()) if len(losses) else math.nan,
        "max_consecutive_losses": _longest_run(pnl < 0),
        "avg_bars_held": float(closed["bars"].mean()) if n else math.nan,
    }


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return per calendar month: rows are years, columns months 1..12."""
    r = returns.fillna(0.0)
    if r.empty:
        return pd.DataFrame(columns=range(1, 13), dtype="float64")
    idx = pd.DatetimeIndex(r.index)
    key = pd.MultiIndex.from_arrays([idx.year, idx.month], names=["year", "month"])
    monthly = (1.0 + r.set_axis(key)).groupby(level=["year", "month"]).prod() - 1.0
    table = monthly.unstack("month").reindex(columns=range(1, 13))
    return table


def drawdown(equity: pd.Series) -> pd.Series:
    """Equity over its running peak, minus one (0 at a new high, negative below it)."""
    return (equity / equity.cummax() - 1.0).rename("drawdown")
