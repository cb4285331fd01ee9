"""Out-of-sample evaluation of one model's predictions on one symbol: prediction metrics, the
strategy they imply after costs, and the baselines it must stand next to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.config import TradingConfig
from pipelines.evaluation.metrics import (deflated_sharpe, hit_rate_by_confidence, per_period_sharpe,
                                          prediction_metrics, probabilistic_sharpe, profit_factor,
                                          sharpe_stats, strategy_metrics)
from pipelines.evaluation.significance import edge_test
from pipelines.trading.backtest import BacktestResult, run_backtest
from pipelines.trading.risk import atr
from pipelines.trading.strategy import CostModel
from pipelines.trading.signals import long_short_flat


@dataclass
class Evaluation:
    metrics: dict
    strategy: BacktestResult
    baselines: dict[str, BacktestResult]


def evaluate(preds: pd.DataFrame, bars: pd.DataFrame, trading: TradingConfig,
             periods_per_year: float, n_trials: int = 1, trial_sharpes=None,
             horizon: int = 1, costs: CostModel = CostModel(), atr_period: int = 14) -> Evaluation:
    """``preds`` indexed by ts with expected_return and realized_return (the label), and
    optionally confidence. ``n_trials``: how many models/configurations were tried on this data
    (deflates the Sharpe ratio and corrects the edge test); ``trial_sharpes``: their per-period
    strategy Sharpe ratios, when known."""
    window = bars[(bars["ts"] >= preds.index[0]) & (bars["ts"] <= preds.index[-1])]
    asset_class = str(window["asset_class"].iloc[0]) if "asset_class" in window else "crypto"
    unit = costs.costs(asset_class, periods_per_year)       # the strategy's cost model, as a backtest pays it
    w = window.set_index("ts").sort_index()
    h, lo, c = (w[k].to_numpy(dtype="float64")[:, None] for k in ("high", "low", "close"))
    vol = pd.Series(atr(h, lo, c, atr_period)[:, 0] / c[:, 0], index=w.index)
    target = long_short_flat(preds["expected_return"], trading.threshold, trading.allow_short)
    strat = run_backtest(target, window, unit, vol)
    bh = run_backtest(pd.Series((w.index >= preds.index[0]).astype(float), index=w.index), window, unit, vol)
    # naive momentum: the sign of the last bar's return
    last_ret = np.log(w["close"]).diff()
    mom = run_backtest(np.sign(last_ret).fillna(0.0), window, unit, vol)
    m = prediction_metrics(preds["expected_return"], preds["realized_return"])
    m.update({f"strategy_{k}": v for k, v in strategy_metrics(strat.returns, periods_per_year).items()})
    active = strat.returns.loc[preds.index[0]:]
    m["strategy_turnover"] = strat.turnover
    m["strategy_trades"] = strat.trades
    m["strategy_profit_factor"] = profit_factor(active)
    m["strategy_sharpe_per_period"] = per_period_sharpe(active)
    m["strategy_psr"] = probabilistic_sharpe(active)
    m["strategy_dsr"] = deflated_sharpe(active, n_trials, trial_sharpes)
    m["strategy_sharpe_stats"] = sharpe_stats(active)   # lets a run re-deflate with its own trial count
    # drift is not skill: the same deflated Sharpe on the returns in excess of buy-and-hold's
    excess = (active - bh.returns.reindex(active.index).fillna(0.0))
    m["strategy_excess_dsr"] = deflated_sharpe(excess, n_trials)
    m["excess_sharpe_stats"] = sharpe_stats(excess)
    m["n_trials"] = int(n_trials)
    if "confidence" in preds:
        # confidence is about the direction the up-probability points to
        direction = preds["prob_up"] - 0.5 if "prob_up" in preds else preds["expected_return"]
        m["hit_rate_by_confidence"] = hit_rate_by_confidence(
            direction, preds["realized_return"], preds["confidence"])
    try:
        m["edge_test"] = edge_test(preds["expected_return"], preds["realized_return"], horizon).as_dict()
    except ValueError:
        m["edge_test"] = None
    for name, res in (("buy_and_hold", bh), ("momentum", mom)):
        sm = strategy_metrics(res.returns, periods_per_year)
        for k in ("sharpe", "sortino", "total_return", "max_drawdown", "calmar", "win_rate"):
            m[f"{name}_{k}"] = sm[k]
        m[f"{name}_profit_factor"] = profit_factor(res.returns.loc[preds.index[0]:])
        m[f"{name}_turnover"] = res.turnover
    return Evaluation(metrics=m, strategy=strat, baselines={"buy_and_hold": bh, "momentum": mom})
