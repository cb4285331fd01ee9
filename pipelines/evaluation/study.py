"""Backtest models' stored out-of-sample predictions on the stored bars: several symbols in one
portfolio, the models of a symbol averaged, sized by a plain signal rule or by Kelly and dynamic
leverage under the risk limits, then metrics, trades and a report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipelines.config import MeridianConfig
from pipelines.errors import DataError
from pipelines.evaluation.metrics import strategy_metrics
from pipelines.times import periods_per_year, timeframe_offset
from pipelines.store.base import Store
from pipelines.trading.backtest import PortfolioResult, run_portfolio, wide
from pipelines.costs import Costs
from pipelines.trading.risk import apply_limits, atr, no_trade_band
from pipelines.trading.signals import long_short_flat
from pipelines.trading.sizing import measured_payoff, session_liquidity, size_positions
from pipelines.trading.tradestats import trade_stats

SIZINGS = ("signal", "kelly")


@dataclass
class Study:
    result: PortfolioResult
    benchmark: pd.Series
    metrics: dict
    models: dict[str, list[str]]


def resolve_models(store: Store, symbol: str, tokens: list[str], timeframe: str | None = None) -> list[str]:
    """Model ids with predictions for ``symbol`` (of ``timeframe`` when given): each token is a
    model id, or a model name (every id of that name for the symbol; the promoted ones when any
    is promoted)."""
    have = store.distinct("predictions", ("model_id", "symbol", "timeframe"))
    sel = have["symbol"] == symbol
    if timeframe is not None:
        sel &= have["timeframe"] == timeframe
    ids = sorted(have.loc[sel, "model_id"].astype(str))
    any_tf = have[have["symbol"] == symbol]
    listed = [f"{m} ({t})" for m, t in zip(any_tf["model_id"].astype(str), any_tf["timeframe"].astype(str))]
    reg = store.read("models")
    out: list[str] = []
    for tok in tokens:
        if tok in ids:
            out.append(tok)
            continue
        named = [i for i in ids if i.startswith(f"{tok}-")]
        if len(reg):
            rows = reg[reg["model_id"].isin(named)]
            promoted = rows.loc[rows["status"] == "promoted", "model_id"].astype(str).tolist()
            named = promoted or named
        out.extend(named)
    if not out:
        tf = f" ({timeframe})" if timeframe else ""
        raise DataError(f"no predictions{tf} for {symbol} from {', '.join(tokens)} in the store: run the "
                        f"demo or `meridian walkforward` first (models with predictions for {symbol}: "
                        f"{', '.join(listed) or 'none'})")
    return sorted(set(out))


def _combined(store: Store, symbol: str, ids: list[str]) -> pd.DataFrame:
    p = store.read("predictions", {"symbol": symbol, "model_id": ids})
    cols = ["expected_return", "prob_up", "confidence", "realized_return"]
    g = p.groupby("ts")[cols].mean()
    g["horizon"] = int(p["horizon"].max())
    g["timeframe"] = str(p["timeframe"].iloc[0])
    g.attrs["timeframes"] = sorted(set(p["timeframe"].astype(str)))
    return g


def run_study(store: Store, cfg: MeridianConfig, symbols: list[str], models: list[str],
              sizing: str = "signal", costs: Costs | None = None, timeframe: str | None = None,
              progress: bool = False) -> Study:
    if sizing not in SIZINGS:
        raise ValueError(f"sizing must be one of {SIZINGS}, got {sizing!r}")
    tr = cfg.trading
    chosen, preds, bars = {}, {}, []
    for s in tqdm(symbols, desc="load predictions", disable=not progress):
        chosen[s] = resolve_models(store, s, models, timeframe)
        preds[s] = _combined(store, s, chosen[s])
    frames = {s: set(preds[s].attrs["timeframes"]) for s in symbols}
    if len(set().union(*frames.values())) > 1:
        raise DataError("the chosen predictions mix timeframes ("
                        + "; ".join(f"{s}: {', '.join(sorted(v))}" for s, v in frames.items())
                        + "): backtest one timeframe at a time with --timeframe")
    for s in symbols:
        tf = str(preds[s]["timeframe"].iloc[0])
        b = store.read_bars(s, tf)
        if b.empty:
            raise DataError(f"no {tf} bars of {s} in the store")
        bars.append(b[(b["ts"] >= preds[s].index[0]) & (b["ts"] <= preds[s].index[-1])])
    bars_all = pd.concat(bars, ignore_index=True)
    classes = bars_all.groupby("symbol")["asset_class"].first().astype(str).to_dict()
    timeframe = str(bars_all["timeframe"].iloc[0])
    ppy = max(periods_per_year(timeframe, classes[s]) for s in symbols)
    extra = cfg.portfolio.costs
    costs = costs or Costs(tr.fee_bps, tr.spread_bps, tr.slippage_bps, extra.slippage_vol_mult,
                           extra.impact_bps_per_unit, extra.financing_bps_per_year, periods_per_year=ppy)
    opens, closes = wide(bars_all, "open")[symbols], wide(bars_all, "close")[symbols]
    highs, lows = wide(bars_all, "high")[symbols], wide(bars_all, "low")[symbols]
    idx = opens.index
    vol = pd.DataFrame(atr(highs.to_numpy(), lows.to_numpy(), closes.to_numpy(), cfg.portfolio.risk.atr_period),
                       index=idx, columns=symbols) / closes
    targets = pd.DataFrame(0.0, index=idx, columns=symbols)
    for s in symbols:
        p = preds[s].reindex(idx)
        if sizing == "signal":
            targets[s] = long_short_flat(p["expected_return"], tr.threshold, tr.allow_short)
        else:
            direction = np.sign(p["expected_return"]).fillna(0.0)
            pay = measured_payoff(direction, p["realized_return"], int(preds[s]["horizon"].iloc[0]),
                                  cfg.portfolio.sizing.min_outcomes)
            # the session the order fills in (the next open) sets the liquidity scale
            liq = session_liquidity(idx + timeframe_offset(timeframe), weekends=classes[s] != "crypto") \
                if classes[s] in ("forex", "crypto") else None
            prob = p["prob_up"].clip(0, 1)
            if not tr.allow_short:
                prob = prob.clip(lower=0.5)
            targets[s] = size_positions(prob, pay, p["confidence"], vol[s], classes[s], liq,
                                        cfg.portfolio.sizing).fillna(0.0)
    if sizing == "kelly":
        targets = pd.DataFrame(no_trade_band(targets.to_numpy(), cfg.portfolio.risk.rebalance_band),
                               index=idx, columns=symbols)
        day = (idx.asi8 // (86_400 * 10**9)).astype("int64")
        limited = apply_limits(targets.to_numpy(), opens.to_numpy(), highs.to_numpy(), lows.to_numpy(),
                               closes.to_numpy(), day, cfg.portfolio.risk, costs.per_unit_turnover)
        targets = pd.DataFrame(limited, index=idx, columns=symbols)
    risk = cfg.portfolio.risk
    res = run_portfolio(targets, bars_all, costs, vol=vol, max_leverage=risk.max_gross,
                        maintenance_margin=risk.maintenance_margin)
    bh_targets = pd.DataFrame(1.0 / len(symbols), index=idx, columns=symbols)
    bench = run_portfolio(bh_targets, bars_all, costs).equity.rename("buy & hold")
    m = strategy_metrics(res.returns, ppy)
    m.update({f"trade_{k}": v for k, v in trade_stats(res.trade_list).items()})
    bm = strategy_metrics(bench.pct_change().fillna(bench.iloc[0] - 1.0), ppy)
    m.update({"buy_and_hold_total_return": bm["total_return"], "buy_and_hold_sharpe": bm["sharpe"],
              "buy_and_hold_max_drawdown": bm["max_drawdown"],
              "turnover": float(res.sim.turnover.sum()), "costs_paid": float(res.sim.costs.sum()),
              "financing_paid": float(res.sim.financing.sum()),
              "max_gross_exposure": float(np.abs(res.sim.held).sum(axis=1).max()),
              "margin_calls": int(len(res.sim.margin_calls)),
              "ruined": res.sim.ruined_at is not None,
              "sizing": sizing, "timeframe": timeframe, "periods_per_year": ppy,
              "first_ts": idx[0].isoformat(), "last_ts": idx[-1].isoformat()})
    return Study(result=res, benchmark=bench, metrics=m, models=chosen)
