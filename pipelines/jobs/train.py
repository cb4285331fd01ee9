"""Walk-forward training and honest evaluation of the model zoo on bars in the store.

For each symbol: features and labels, every requested model through the purged walk-forward
(folds as Ray tasks), the ensembles over their out-of-sample predictions, and the metrics of
each next to buy-and-hold and naive momentum. With five or more symbols, the signal analysis of
every model across symbols (daily IC and rank IC, quantile returns, the long-short after costs)
next to reversal and momentum on the same cells. The verdict is run-wide: accuracy against the
always-majority predictor and rank-IC Newey-West t, Holm-corrected over every test, and the
deflated Sharpe ratio with the run's trial count (:mod:`pipelines.evaluation.verdict`). Out-of-sample predictions are persisted
with model id, fold and config hash; with ``register`` the latest fold's model of each is saved
as a self-describing artifact and recorded in the registry.

    python -m pipelines.jobs.train --symbols BTCUSDT --models xgboost,lightgbm --horizon 24 [--json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from models.ensembles.combine import ENSEMBLES
from models.registry import ModelRecord, register as register_model
from models.training.dataset import Dataset
from models.training.persist import persist_predictions
from pipelines.config import MeridianConfig
from pipelines.errors import ConfigError, DataError
from pipelines.evaluation.runs import finite
from pipelines.evaluation.signal import MIN_NAMES, analyse_run
from pipelines.evaluation.verdict import judge
from pipelines.features.catalog import feature_set
from pipelines.jobs.symbol_walkforward import (DEFAULT_ENSEMBLES, SymbolOutcome, SymbolRun, Walkforwards, baseline_metrics,
                                               evaluate_symbol, run_hash, tried_before, windows)
from pipelines.store.base import Store
from pipelines.trading.strategy import CostModel, cost_model_of

__all__ = ["DEFAULT_ENSEMBLES", "SymbolRun", "baseline_metrics", "evaluate_symbol", "run", "run_hash",
           "signal_report", "summary_lines", "tried_before", "universe_bars", "windows"]


def _series_timeframe(series: pd.DataFrame, symbol: str, timeframe: str | None) -> str:
    """The symbol's timeframe, from the store's series list (no bars read)."""
    have = series[series["symbol"] == symbol]
    if have.empty:
        raise DataError(f"no bars for {symbol!r} in the store: load some with `meridian import` "
                        f"(symbols present: {', '.join(sorted(series['symbol'].unique())) or 'none'})")
    tfs = sorted(have["timeframe"].unique())
    if timeframe is None:
        if len(tfs) > 1:
            raise ConfigError(f"{symbol} has bars in several timeframes ({', '.join(tfs)}): pass --timeframe")
        timeframe = tfs[0]
    elif timeframe not in tfs:
        raise DataError(f"no {timeframe} bars for {symbol}: it has {', '.join(tfs)}")
    return timeframe


def _pick_timeframe(store: Store, symbol: str, timeframe: str | None,
                    series: pd.DataFrame | None = None) -> tuple[str, pd.DataFrame]:
    """The symbol's timeframe and bars; ``series``: the store's series list, when the caller has it."""
    tf = _series_timeframe(store.bar_series() if series is None else series, symbol, timeframe)
    return tf, store.read("bars", {"symbol": symbol, "timeframe": tf})


def universe_bars(store: Store, symbols: list[str], timeframe: str | None) -> dict[str, pd.DataFrame]:
    """Each symbol's bars (sorted), all in one timeframe: what a universe stage is computed over."""
    series = store.bar_series()   # once, not per symbol
    bars = {s: _pick_timeframe(store, s, timeframe, series)[1].sort_values("ts").reset_index(drop=True)
            for s in dict.fromkeys(symbols)}
    tfs = {str(b["timeframe"].iloc[0]) for b in bars.values()}
    if len(tfs) > 1:
        raise ConfigError(f"the symbols have different timeframes ({', '.join(sorted(tfs))}): pass --timeframe")
    return bars


def run(cfg: MeridianConfig, store: Store, symbols: list[str], models: list[str], *,
        timeframe: str | None = None, ensembles: tuple[str, ...] = DEFAULT_ENSEMBLES,
        persist: bool = True, register: bool = False, models_dir: str | Path | None = None,
        use_ray: bool = True, progress: bool = True, retrain_every: str | None = None,
        keep: str | None = None, universe: bool = False, run_id: str | None = None) -> dict:
    """The walk-forward report for each symbol (a JSON-ready dict). ``retrain_every`` and
    ``keep`` (bars, or spans like "1M" and "3Y") set the test window / retrain step and the
    rolling training window per symbol, in that symbol's bars. ``universe``: every symbol's
    features also carry the universe stage (cross-sectional factors and ranks over these
    symbols); the registered models record the universe, and serving rebuilds it. ``run_id``: the
    run this belongs to (:mod:`pipelines.jobs.walkforward`): its predictions are recorded under it,
    and the registered models name it."""
    from models.zoo import model_class
    for m in models:
        if model_class(m).consumes == "panel":  # unknown names and missing extras fail before any work too
            raise ConfigError(f"{m} is a panel model: use --panel")
    for e in ensembles:
        if e not in ENSEMBLES:
            raise ConfigError(f"unknown ensemble {e!r}: one of {', '.join(ENSEMBLES)}")
    t0 = time.time()
    universe_ds: dict[str, Dataset] = {}
    if universe:
        from models.training.dataset import universe_datasets
        from pipelines.features.universe import MIN_SYMBOLS
        if len(set(symbols)) < MIN_SYMBOLS:
            raise ConfigError(f"--universe needs at least {MIN_SYMBOLS} symbols, got {len(set(symbols))}")
        all_bars = universe_bars(store, symbols, timeframe)
        universe_ds, _ = universe_datasets(all_bars, feature_set(cfg.features.feature_set), cfg.walkforward.horizon,
                                          cfg.features.store_dtype)
    universe_syms = sorted(universe_ds)
    from pipelines.features.store import set_version
    report: dict = {"horizon": cfg.walkforward.horizon, "walkforward": cfg.walkforward.model_dump(mode="json"),
                    "feature_set": cfg.features.feature_set,
                    "feature_set_version": set_version(feature_set(cfg.features.feature_set)),
                    "costs": cost_summary(cost_model_of(cfg)), "symbols": {}, "bars_digests": {}}
    panel: dict[str, dict[str, pd.DataFrame]] = {}   # symbol -> name -> OOS predictions
    closes: dict[str, pd.Series] = {}
    pending: list[tuple[str, str, dict]] = []         # (symbol, name, record fields) to register
    # 1. per symbol from one listing of the series: its timeframe, or the reason it is skipped
    skipped: dict[str, str] = {}
    series = store.bar_series()   # once: listing the series reads every partition's footer
    seen = store.distinct("predictions", ("model_id", "symbol", "timeframe", "horizon"))   # once, likewise
    # 2. each symbol's walk-forward reads its own bars (a Ray task per symbol, see Walkforwards); one
    #    that cannot form a fold comes back with the reason (it never aborts the run)
    work = Walkforwards(store, models, cfg, use_ray=use_ray, progress=progress, n_symbols=len(dict.fromkeys(symbols)),
                        ensembles=ensembles if len(models) > 1 else (), universe_ds=universe_ds,
                        retrain_every=retrain_every, keep=keep, keep_bars=persist, keep_models=register)
    for sym in dict.fromkeys(symbols):
        try:
            tf = _series_timeframe(series, sym, timeframe)
        except (DataError, ConfigError) as exc:
            skipped[sym] = str(exc)
            continue
        work.submit(sym, tf, seen[seen["symbol"] == sym] if len(seen) else seen)
    # 3. each symbol recorded (predictions persisted and recorded, models saved) as it finishes, while
    #    the others still run; then reported and registered in the order asked
    outcomes: dict[str, SymbolOutcome] = {}
    entries: dict[str, tuple[dict, list]] = {}
    for out in work.as_completed():
        outcomes[out.symbol] = out
        if not out.skipped:
            entries[out.symbol] = _record_symbol(store, cfg, out, persist=persist, register=register,
                                                 models_dir=models_dir, run_id=run_id, universe_syms=universe_syms)
            out.bars = None   # persisted against: not needed any more
    skipped.update({s: o.skipped for s, o in outcomes.items() if o.skipped})
    skipped = {s: skipped[s] for s in dict.fromkeys(symbols) if s in skipped}
    todo = [s for s in dict.fromkeys(symbols) if s in entries]
    if not todo:
        raise DataError("no symbol can form a walk-forward fold: " + "; ".join(f"{s}: {r}" for s, r in skipped.items()))
    report["skipped"] = skipped
    for sym in todo:
        report["bars_digests"][sym] = outcomes[sym].digest
        report["symbols"][sym], registrations = entries[sym]
        pending.extend(registrations)
        if len(todo) >= MIN_NAMES:
            panel[sym] = outcomes[sym].run.predictions
            closes[sym] = outcomes[sym].closes
    if panel:
        report["signal"] = signal_report(panel, closes, cfg.walkforward.horizon, cost_model_of(cfg))
    report = finite(report)
    judge([report])
    for sym, name, fields in pending:
        r = report["symbols"][sym]
        metrics = dict(r["models"].get(name) or r["ensembles"].get(name[len("ensemble_"):]) or {})
        metrics["test_start"], metrics["test_end"] = r["test_start"], r["test_end"]
        metrics["verdict"] = {k: v for k, v in report["verdict"].items() if k != "explain"}
        register_model(store, ModelRecord(**fields, metrics=metrics))
    report["seconds"] = round(time.time() - t0, 1)
    return report


def _record_symbol(store: Store, cfg: MeridianConfig, out: SymbolOutcome, *, persist: bool, register: bool,
                   models_dir: str | Path | None, run_id: str | None, universe_syms: list[str]) -> tuple[dict, list]:
    """Persist and record one symbol's out-of-sample predictions, save its latest models (with
    ``register``); its report entry and the (symbol, name, record fields) to register."""
    from pipelines.evaluation import runs
    sym, tf, wf, res = out.symbol, out.timeframe, out.wf, out.run
    pending = []
    for name, preds in res.predictions.items():
        chash, model_id = out.hashes[name], out.ids[name]
        if persist:
            persist_predictions(store, preds, out.bars, model_id=model_id, symbol=sym, timeframe=tf,
                                horizon=wf.horizon, config_hash=chash)
        if run_id is not None:
            runs.record_predictions(store, run_id, name, wf.horizon, sym, tf, preds)
        if register and name in res.final_models:
            wres = res.final_models[name]
            artifact = wres.final_model.save(Path(models_dir or cfg.models_dir) / model_id)
            last = wres.folds[-1]
            pending.append((sym, name, dict(
                model_id=model_id, name=name, kind="forecaster",
                config={"params": cfg.models.params.get(name, {}), "walkforward": wf.model_dump(mode="json"),
                        "feature_set": cfg.features.feature_set,
                        **({"universe": universe_syms} if universe_syms else {}),
                        **({"run_id": run_id} if run_id else {})},
                config_hash=chash, features=out.features, symbols=[sym], timeframe=tf,
                horizon=wf.horizon, train_start=last["train_start"], train_end=last["train_end"],
                artifact_path=str(artifact))))
    starts = [p.index[0] for p in res.predictions.values() if len(p)]
    ends = [p.index[-1] for p in res.predictions.values() if len(p)]
    entry = {
        "timeframe": tf, "rows": out.rows, "folds": len(res.folds),
        "train_bars": wf.train_bars, "test_bars": wf.test_bars,
        "test_start": str(min(starts)) if starts else None, "test_end": str(max(ends)) if ends else None,
        "n_trials": len(res.predictions) + len(out.prior), "prior_trials": len(out.prior), "model_ids": out.ids,
        "models": {k: v for k, v in res.metrics.items() if not k.startswith("ensemble_")},
        "ensembles": {k[len("ensemble_"):]: v for k, v in res.metrics.items() if k.startswith("ensemble_")},
        "baselines": res.baselines,
    }
    return entry, pending


def cost_summary(model: CostModel) -> dict:
    return {**model.model_dump(mode="json"), "per_side_bps": model.costs("", 1.0).per_unit_turnover * 1e4}


def signal_report(panel: dict[str, dict[str, pd.DataFrame]], closes: dict[str, pd.Series], horizon: int,
                  costs: CostModel = CostModel()) -> dict:
    """The signal analysis of every model and ensemble across the symbols (keyed by (ts, symbol)),
    with reversal and momentum baselines from the closes on the same cells."""
    names = sorted({n for preds in panel.values() for n in preds})
    scores = {}
    for name in names:
        parts = {sym: preds[name]["expected_return"] for sym, preds in panel.items() if name in preds}
        scores[name] = _keyed(parts)
    realized = _keyed({sym: next(iter(preds.values()))["realized_return"]
                       for sym, preds in panel.items() if preds})
    wide_closes = pd.DataFrame(closes).sort_index()
    return analyse_run(scores, realized, wide_closes, horizon, costs.costs("", 1.0).per_unit_turnover * 1e4)


def _keyed(parts: dict[str, pd.Series]) -> pd.Series:
    s = pd.concat(parts, names=["symbol", "ts"]).swaplevel().sort_index()
    return s.astype("float64")


def summary_lines(report: dict) -> list[str]:
    lines = []
    c = report.get("costs")
    if c:
        lines.append(f"costs: fee {c['fee_bps']:g} + half spread {c['spread_bps'] / 2:g} + slippage "
                     f"{c['slippage_bps']:g} = {c['per_side_bps']:g} bps per side")
    for sym, r in report["symbols"].items():
        dates = (f", test {str(r['test_start'])[:10]} .. {str(r['test_end'])[:10]}"
                 if r.get("test_start") else "")
        lines.append(f"{sym} {r['timeframe']} h={report['horizon']}: {r['rows']} rows, {r['folds']} folds"
                     f"{dates}, {r['n_trials']} candidates")
        rows = [("model", k, v) for k, v in r["models"].items()] + \
               [("ensemble", k, v) for k, v in r["ensembles"].items()] + \
               [("baseline", k, v) for k, v in r["baselines"].items()]
        for kind, name, m in rows:
            et = m.get("edge_test") or {}
            edge = kind != "baseline" and et.get("has_edge")
            lines.append(f"  {kind:8s} {name:16s} acc {_fmt(m['directional_accuracy'], '.3f')} "
                         f"(majority {_fmt(et.get('majority_rate'), '.3f')})  "
                         f"ic {_fmt(m['ic'], '+.3f')}  sharpe {_fmt(m['strategy_sharpe'], '+.2f')}  "
                         f"dsr {_fmt(m.get('strategy_dsr'), '.2f')}  xdsr {_fmt(m.get('strategy_excess_dsr'), '.2f')}  "
                         f"maxdd {_fmt(m['strategy_max_drawdown'], '.1%')}" + ("  EDGE" if edge else ""))
    for sym, why in (report.get("skipped") or {}).items():
        lines.append(f"{sym}: skipped: {why}")
    sig = report.get("signal")
    if sig:
        first = next(iter(sig["models"].values()), {})
        lines.append(f"cross-section: {first.get('names')} symbols, {first.get('days')} days "
                     f"{str(first.get('test_start'))[:10]} .. {str(first.get('test_end'))[:10]}, "
                     f"long-short top-bottom quantile after {first.get('cost_bps_per_side', 0):g} bps per side")
        for kind, group in (("model", sig["models"]), ("baseline", sig["baselines"])):
            for name, s in group.items():
                lines.append(f"  {kind:8s} {name:16s} rank ic {_fmt(s.get('rank_ic_mean'), '+.4f')} "
                             f"(NW t {_fmt(s.get('rank_ic_nw_t'), '+.2f')}, icir {_fmt(s.get('rank_ic_ir'), '+.3f')}, "
                             f"{_fmt(s.get('rank_ic_positive_share'), '.0%')} days > 0)  "
                             f"ic {_fmt(s.get('ic_mean'), '+.4f')}  long-short net {_fmt(s.get('long_short_net_total'), '+.3f')} "
                             f"(gross {_fmt(s.get('long_short_gross_total'), '+.3f')}, turnover "
                             f"{_fmt(s.get('turnover_mean'), '.2f')}/bar)"
                             + ("  EDGE" if kind == "model" and s.get("has_edge") else ""))
    v = report.get("verdict")
    if v:
        lines.extend(v["explain"])
    return lines


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def parser() -> argparse.ArgumentParser:
    """The command line of the recorded walk-forward (:mod:`pipelines.jobs.walkforward`)."""
    from pipelines import jobs
    from pipelines.jobs import walkforward
    return jobs.job_parser(walkforward)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.jobs.train`` is the recorded walk-forward (same options as
    ``meridian walkforward``)."""
    from pipelines.jobs import walkforward
    return walkforward.main(argv)


if __name__ == "__main__":
    sys.exit(main())
