"""Out-of-sample evaluation of one model's predictions on one symbol: prediction metrics, the
strategy they imply after costs, and the baselines it must stand next to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.config import TradingConfig
from pipelines.evaluation.metrics import prediction_metrics, strategy_metrics
from pipelines.trading.backtest import BacktestResult, buy_and_hold, run_backtest
from pipelines.trading.costs import Costs
from pipelines.trading.signals import long_short_flat


@dataclass
class Evaluation:
    metrics: dict
    strategy: BacktestResult
    baselines: dict[str, BacktestResult]


def costs_of(cfg: TradingConfig) -> Costs:
    return Costs(fee_bps=cfg.fee_bps, spread_bps=cfg.spread_bps, slippage_bps=cfg.slippage_bps)


def evaluate(preds: pd.DataFrame, bars: pd.DataFrame, trading: TradingConfig,
             periods_per_year: float) -> Evaluation:
    """``preds`` indexed by ts with expected_return and realized_return (the label)."""
    costs = costs_of(trading)
    window = bars[(bars["ts"] >= preds.index[0]) & (bars["ts"] <= preds.index[-1])]
    target = long_short_flat(preds["expected_return"], trading.threshold, trading.allow_short)
    strat = run_backtest(target, window, costs)
    bh = buy_and_hold(window, preds.index[0], costs)
    # naive momentum: the sign of the last bar's return
    last_ret = np.log(window.set_index("ts")["close"]).diff()
    mom = run_backtest(np.sign(last_ret).fillna(0.0), window, costs)
    m = prediction_metrics(preds["expected_return"], preds["realized_return"])
    m.update({f"strategy_{k}": v for k, v in strategy_metrics(strat.returns, periods_per_year).items()})
    m["strategy_turnover"] = strat.turnover
    m["strategy_trades"] = strat.trades
    for name, res in (("buy_and_hold", bh), ("momentum", mom)):
        sm = strategy_metrics(res.returns, periods_per_year)
        m[f"{name}_sharpe"] = sm["sharpe"]
        m[f"{name}_total_return"] = sm["total_return"]
        m[f"{name}_max_drawdown"] = sm["max_drawdown"]
    return Evaluation(metrics=m, strategy=strat, baselines={"buy_and_hold": bh, "momentum": mom})
