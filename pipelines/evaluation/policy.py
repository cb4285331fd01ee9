"""Out-of-sample evaluation of a trading policy through the same backtester and metrics as every
other model: the policy's position decided at a row's close executes at the next bar's open
(:func:`pipelines.trading.backtest.run_backtest`), judged by
:func:`pipelines.evaluation.metrics.strategy_metrics`, next to buy-and-hold on the same rows."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from models.rl.env import TradingEnv, policy_positions
from pipelines.errors import ModelError
from pipelines.evaluation.metrics import strategy_metrics
from pipelines.trading.backtest import buy_and_hold, run_backtest
from pipelines.costs import Costs


def evaluate_policy(act: Callable[[np.ndarray], Any], env: TradingEnv, ts: pd.DatetimeIndex,
                    bars: pd.DataFrame, rows: range, costs: Costs | None = None,
                    periods_per_year: float = 252.0) -> dict[str, Any]:
    """``env`` spans all rows (features and closes aligned with ``ts``); ``rows`` are the
    out-of-sample decision rows, whose window may reach back into earlier rows (known then)."""
    if len(ts) != len(env.prices):
        raise ModelError(f"ts has {len(ts)} rows, the env {len(env.prices)}")
    if len(rows) == 0 or rows[0] < env.window - 1 or rows[-1] >= len(ts):
        raise ModelError(f"evaluation rows {rows} do not fit the env's {len(ts)} rows (window {env.window})")
    costs = costs or env.costs
    positions = policy_positions(env, act, rows)
    target = pd.Series(positions, index=ts[rows[0]: rows[-1] + 1], name="target")
    window_bars = bars[(bars["ts"] >= target.index[0])].sort_values("ts")
    result = run_backtest(target, window_bars, costs)
    bh = buy_and_hold(window_bars, target.index[0], costs)
    return {
        "metrics": strategy_metrics(result.returns, periods_per_year),
        "buy_and_hold": strategy_metrics(bh.returns, periods_per_year),
        "trades": result.trades, "turnover": result.turnover,
        "mean_abs_position": float(np.mean(np.abs(positions))),
        "positions": target,
    }
