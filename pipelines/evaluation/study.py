"""Backtest a strategy (a stored one, or one built from a run's models at one horizon) on the
stored bars: the one decision (:mod:`pipelines.trading.decide`) over the run's out-of-sample
predictions, the engine with the strategy's costs and limits, then metrics that stand next to a
1x equal-weight buy-and-hold: gross and net leverage, 1x-normalised figures, a per-symbol table
and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.config import MeridianConfig
from pipelines.errors import ConfigError, DataError
from pipelines.evaluation.metrics import strategy_metrics
from pipelines.store.base import Store
from pipelines.trading import strategy as strategies
from pipelines.trading.backtest import PortfolioResult
from pipelines.trading.decide import Market, simulate_strategy, targets
from pipelines.trading.replay import strategy_views
from pipelines.trading.strategy import Strategy
from pipelines.trading.tradestats import trade_stats

COST_WARNING = 0.10     # costs above this share of starting equity are flagged


@dataclass
class Study:
    result: PortfolioResult
    benchmark: pd.Series
    metrics: dict
    models: dict[str, list[str]]
    strategy: Strategy | None = None
    per_symbol: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def resolve(store: Store, cfg: MeridianConfig, strategy_id: str | None = None, run_id: str | None = None,
            models: list[str] | None = None, horizon: int | None = None, rule: str = "signal",
            symbols: list[str] | None = None) -> Strategy:
    """The strategy a backtest request names: ``strategy_id``, or a run with models and a horizon.
    Without a run or a horizon, the request must match exactly one (run, horizon); otherwise it
    is refused with the choices listed."""
    if strategy_id:
        return strategies.get(store, strategy_id)
    if not models:
        raise ConfigError("give --strategy ID, or --run ID --models M1,M2 --horizon H")
    cells = store.distinct("run_predictions", ("run_id", "model", "horizon"))
    found = {}
    for (r, h), g in cells.groupby(["run_id", "horizon"]):
        if set(models) <= set(g["model"].astype(str)) and (run_id is None or r == run_id) \
                and (horizon is None or int(h) == int(horizon)):
            found[(str(r), int(h))] = True
    if len(found) != 1:
        listed = [f"--run {r} --horizon {h}" for r, h in sorted(found)]
        what = f"{', '.join(models)}" + (f" in {run_id}" if run_id else "") + (f" at h{horizon}" if horizon else "")
        if not found:
            raise DataError(f"no recorded run has out-of-sample predictions of {what}: run "
                            "`meridian walkforward` first, or see `meridian runs list`")
        raise ConfigError(f"{what} is ambiguous ({len(found)} choices): pick one of " + "; ".join(listed))
    (r, h), = found
    return strategies.from_run(store, cfg, r, list(models), h, rule=rule, symbols=symbols)


def load(store: Store, st: Strategy, symbols: list[str] | None = None, since=None, until=None
         ) -> tuple[dict[str, pd.DataFrame], Market]:
    """The strategy's combined views and the bars they cover, on ``[since, until]``."""
    return strategy_views(store, st, symbols, since, until)


def run_study(store: Store, st: Strategy, symbols: list[str] | None = None, since=None,
              until=None) -> Study:
    views, market = load(store, st, symbols, since, until)
    res = simulate_strategy(st, targets(st, views, market), market)
    return study_of(st, res, market)


def study_of(st: Strategy, res: PortfolioResult, market: Market) -> Study:
    symbols, idx, ppy = market.symbols, market.index, market.periods_per_year()
    bh = pd.DataFrame(1.0 / len(symbols), index=idx, columns=symbols)
    bench_res = simulate_strategy(st, bh, market)
    bench = bench_res.equity.rename("buy & hold")
    held = res.sim.held
    gross, net = np.abs(held).sum(axis=1), np.abs(held.sum(axis=1))
    avg_gross = float(gross.mean())
    m = strategy_metrics(res.returns, ppy)
    m.update({f"trade_{k}": v for k, v in trade_stats(res.trade_list).items()})
    bm = strategy_metrics(bench_res.returns, ppy)
    norm = strategy_metrics(res.returns / avg_gross, ppy) if avg_gross > 0 else {}
    m.update({"buy_and_hold_total_return": bm["total_return"], "buy_and_hold_sharpe": bm["sharpe"],
              "buy_and_hold_max_drawdown": bm["max_drawdown"],
              "gross_leverage": avg_gross, "net_leverage": float(net.mean()),
              "max_gross_exposure": float(gross.max()),
              "buy_and_hold_gross_leverage": float(np.abs(bench_res.sim.held).sum(axis=1).mean()),
              "buy_and_hold_net_leverage": float(np.abs(bench_res.sim.held.sum(axis=1)).mean()),
              "normalised_1x_total_return": norm.get("total_return"),
              "normalised_1x_max_drawdown": norm.get("max_drawdown"),
              "turnover": float(res.sim.turnover.sum()), "costs_paid": float(res.sim.costs.sum()),
              "financing_paid": float(res.sim.financing.sum()),
              "margin_calls": int(len(res.sim.margin_calls)), "ruined": res.sim.ruined_at is not None,
              "final_equity": float(res.equity.iloc[-1]),
              "sizing": st.rule, "timeframe": market.timeframe, "periods_per_year": ppy,
              "first_ts": idx[0].isoformat(), "last_ts": idx[-1].isoformat()})
    per_symbol = []
    for j, s in enumerate(symbols):
        close = market.close[s].dropna()
        per_symbol.append({"symbol": s, "asset_class": market.classes[s],
                           "return": float(res.sim.symbol_returns[:, j].sum()),
                           "costs": float(res.sim.costs[:, j].sum()),
                           "turnover": float(res.sim.turnover[j]),
                           "trades": int((res.trade_list["symbol"] == s).sum()),
                           "avg_exposure": float(np.abs(held[:, j]).mean()),
                           "buy_and_hold_return": float(close.iloc[-1] / market.open[s].dropna().iloc[0] - 1.0)})
    warnings = []
    if m["max_gross_exposure"] > st.limits.max_gross + 1e-9:
        warnings.append(f"gross exposure reached {m['max_gross_exposure']:.3g}x, above the cap of "
                        f"{st.limits.max_gross:.3g}x")
    if avg_gross > 1.5:
        warnings.append(f"the strategy runs {avg_gross:.3g}x gross against a 1x buy-and-hold: "
                        "compare the 1x-normalised figures")
    if m["costs_paid"] > COST_WARNING:
        warnings.append(f"costs were {100 * m['costs_paid']:.3g}% of equity, above "
                        f"{100 * COST_WARNING:.0f}% of the starting equity")
    m["warnings"] = warnings
    return Study(result=res, benchmark=bench, metrics=m, models={s: list(st.models) for s in symbols},
                 strategy=st, per_symbol=per_symbol, warnings=warnings)
