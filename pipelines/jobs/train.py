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
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from models.ensembles.combine import ENSEMBLES, combine
from models.registry import ModelRecord, register as register_model
from models.training.dataset import Dataset, make_dataset
from models.training.persist import persist_predictions
from models.training.walkforward import run_walkforward_many
from pipelines.config import MeridianConfig, TradingConfig, WalkForwardConfig
from pipelines.errors import ConfigError, DataError
from pipelines.evaluation.metrics import deflated_sharpe, per_period_sharpe
from pipelines.evaluation.oos import evaluate
from pipelines.evaluation.runs import finite
from pipelines.trading.strategy import CostModel, cost_model_of
from pipelines.evaluation.signal import MIN_NAMES, analyse_run
from pipelines.evaluation.verdict import judge
from pipelines.features.catalog import feature_set
from pipelines.times import periods_per_year
from pipelines.store.base import Store

DEFAULT_ENSEMBLES = tuple(ENSEMBLES)


@dataclass
class SymbolRun:
    symbol: str
    dataset: Dataset
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # name -> OOS frame
    metrics: dict[str, dict] = field(default_factory=dict)
    baselines: dict[str, dict] = field(default_factory=dict)
    final_models: dict[str, object] = field(default_factory=dict)
    folds: list[dict] = field(default_factory=list)


def run_hash(name: str, wf: WalkForwardConfig, params: dict, feature_set_name: str, symbol: str,
             timeframe: str) -> str:
    import hashlib
    payload = json.dumps({"name": name, "walkforward": wf.model_dump(mode="json"), "params": params,
                          "feature_set": feature_set_name, "symbol": symbol, "timeframe": timeframe},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def baseline_metrics(bars: pd.DataFrame, rows: pd.DatetimeIndex, realized: pd.Series, trading: TradingConfig,
                     ppy: float, costs: CostModel = CostModel()) -> dict[str, dict]:
    """Buy-and-hold and naive momentum (the sign of the last bar's return) as predictors and as
    strategies, on the same out-of-sample rows."""
    last = np.log(bars.set_index("ts")["close"]).diff().reindex(rows)
    out = {}
    for name, pred in (("buy_and_hold", pd.Series(1.0, index=rows)), ("momentum", last)):
        frame = pd.DataFrame({"expected_return": pred.to_numpy(), "realized_return": realized.to_numpy()},
                             index=rows)
        ev = evaluate(frame, bars, trading, ppy, costs=costs)
        m = {k: v for k, v in ev.metrics.items() if not k.startswith(("buy_and_hold_", "momentum_"))}
        out[name] = m
    return out


def evaluate_symbol(bars: pd.DataFrame, models: list[str], wf: WalkForwardConfig, *,
                    params: dict[str, dict] | None = None, trading: TradingConfig = TradingConfig(),
                    costs: CostModel = CostModel(),
                    ensembles: tuple[str, ...] = DEFAULT_ENSEMBLES, feature_set_name: str = "core",
                    use_gpu: bool = False, use_ray: bool = True, progress: bool = False,
                    dataset: Dataset | None = None, prior_trials: int = 0) -> SymbolRun:
    """Every model and ensemble on one symbol's bars, out of sample. ``prior_trials``: other
    models/configurations already tried on this series (they count in the deflated Sharpe
    ratio and the edge test's correction)."""
    params = params or {}
    ds = dataset or make_dataset(bars, feature_set(feature_set_name), wf.horizon)
    run = SymbolRun(symbol=ds.symbol, dataset=ds)
    results = run_walkforward_many(ds, list(models), wf, params, use_ray=use_ray, use_gpu=use_gpu,
                                   progress=progress)
    for name in models:
        res = results[name]
        run.predictions[name] = res.predictions
        run.final_models[name] = res
        run.folds = res.folds
    if models:
        for e in ensembles:
            run.predictions[f"ensemble_{e}"] = combine(e, {m: run.predictions[m] for m in models}, ds.horizon)
    ppy = periods_per_year(ds.timeframe, ds.asset_class)
    n_trials = max(1, len(run.predictions) + int(prior_trials))
    evals = {name: evaluate(p, bars, trading, ppy, n_trials=n_trials, horizon=ds.horizon, costs=costs)
             for name, p in run.predictions.items()}
    start = min(p.index[0] for p in run.predictions.values()) if run.predictions else None
    sharpes = [per_period_sharpe(ev.strategy.returns.loc[start:]) for ev in evals.values()]
    for name, ev in evals.items():
        ev.metrics["strategy_dsr"] = deflated_sharpe(ev.strategy.returns.loc[ev.strategy.returns.index >= start],
                                                     n_trials, sharpes)
        run.metrics[name] = ev.metrics
    if run.predictions:
        first = next(iter(run.predictions.values()))
        run.baselines = baseline_metrics(bars, first.index, first["realized_return"], trading, ppy, costs)
    return run


def _pick_timeframe(store: Store, symbol: str, timeframe: str | None,
                    series: pd.DataFrame | None = None) -> tuple[str, pd.DataFrame]:
    """The symbol's timeframe and bars; ``series``: the store's series list, when the caller has it."""
    series = store.bar_series() if series is None else series
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
    return timeframe, store.read("bars", {"symbol": symbol, "timeframe": timeframe})


def universe_bars(store: Store, symbols: list[str], timeframe: str | None) -> dict[str, pd.DataFrame]:
    """Each symbol's bars (sorted), all in one timeframe: what a universe stage is computed over."""
    bars = {s: _pick_timeframe(store, s, timeframe)[1].sort_values("ts").reset_index(drop=True)
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
    from pipelines.evaluation import runs
    from pipelines.features.store import set_version
    report: dict = {"horizon": cfg.walkforward.horizon, "walkforward": cfg.walkforward.model_dump(mode="json"),
                    "feature_set": cfg.features.feature_set,
                    "feature_set_version": set_version(feature_set(cfg.features.feature_set)),
                    "costs": cost_summary(cost_model_of(cfg)), "symbols": {}, "bars_digests": {}}
    panel: dict[str, dict[str, pd.DataFrame]] = {}   # symbol -> name -> OOS predictions
    closes: dict[str, pd.Series] = {}
    pending: list[tuple[str, str, dict]] = []         # (symbol, name, record fields) to register
    # 1. per symbol: its bars, windows and model ids; a symbol that cannot form a fold is skipped
    #    with the reason (it never aborts the run)
    todo: dict[str, tuple[str, pd.DataFrame, WalkForwardConfig, dict, dict, set]] = {}
    skipped: dict[str, str] = {}
    series = store.bar_series()   # once: listing the series reads every partition's footer
    seen = store.distinct("predictions", ("model_id", "symbol", "timeframe", "horizon"))   # once, likewise
    # 2. the symbols' walk-forwards start as their bars are read (see _Walkforwards)
    work = _Walkforwards(models, cfg, universe_ds, use_ray, progress, n_symbols=len(dict.fromkeys(symbols)))
    for sym in dict.fromkeys(symbols):
        try:
            tf, bars = _pick_timeframe(store, sym, timeframe, series)
        except (DataError, ConfigError) as exc:
            skipped[sym] = str(exc)
            continue
        wf = windows(cfg.walkforward, tf, str(bars["asset_class"].iloc[0]), retrain_every, keep)
        min_rows = wf.train_bars + wf.test_bars
        if len(bars) < min_rows:
            skipped[sym] = (f"{len(bars)} {tf} bars, fewer than one walk-forward fold needs "
                            f"(train {wf.train_bars} + test {wf.test_bars}); lower --train-bars/--test-bars")
            continue
        ens = ensembles if len(models) > 1 else ()
        ids, hashes = {}, {}
        for name in list(models) + [f"ensemble_{e}" for e in ens]:
            spec = (cfg.models.params.get(name, {}) if name in models
                    else {"members": {m: cfg.models.params.get(m, {}) for m in models}})
            if universe_syms:
                spec = {**spec, "universe": universe_syms}
            hashes[name] = run_hash(name, wf, spec, cfg.features.feature_set, sym, tf)
            ids[name] = f"{name}-{sym}-{tf}-h{wf.horizon}-{hashes[name][:8]}"
        prior = tried_before(seen, sym, tf, wf.horizon) - set(ids.values())
        todo[sym] = (tf, bars, wf, ids, hashes, prior)
        work.submit(sym, todo[sym])
    if not todo:
        raise DataError("no symbol can form a walk-forward fold: " + "; ".join(f"{s}: {r}" for s, r in skipped.items()))
    report["skipped"] = skipped
    results = work.results()
    # 3. record, register and report each symbol in the order asked
    for sym, (tf, bars, wf, ids, hashes, prior) in todo.items():
        res = results[sym]
        report["bars_digests"][sym] = runs.bars_digest(bars)
        for name, preds in res.predictions.items():
            chash, model_id = hashes[name], ids[name]
            if persist:
                persist_predictions(store, preds, bars, model_id=model_id, symbol=sym, timeframe=tf,
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
                    config_hash=chash, features=list(res.dataset.X.columns), symbols=[sym], timeframe=tf,
                    horizon=wf.horizon, train_start=last["train_start"], train_end=last["train_end"],
                    artifact_path=str(artifact))))
        if len(todo) >= MIN_NAMES:
            panel[sym] = res.predictions
            closes[sym] = bars.set_index("ts")["close"]
        starts = [p.index[0] for p in res.predictions.values() if len(p)]
        ends = [p.index[-1] for p in res.predictions.values() if len(p)]
        report["symbols"][sym] = {
            "timeframe": tf, "rows": len(res.dataset), "folds": len(res.folds),
            "train_bars": wf.train_bars, "test_bars": wf.test_bars,
            "test_start": str(min(starts)) if starts else None, "test_end": str(max(ends)) if ends else None,
            "n_trials": len(res.predictions) + len(prior), "prior_trials": len(prior), "model_ids": ids,
            "models": {k: v for k, v in res.metrics.items() if not k.startswith("ensemble_")},
            "ensembles": {k[len("ensemble_"):]: v for k, v in res.metrics.items() if k.startswith("ensemble_")},
            "baselines": res.baselines,
        }
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


class _Walkforwards:
    """Each symbol's :func:`evaluate_symbol`. With Ray and several symbols, one task per symbol
    (named ``walkforward SYMBOL``, so the Ray dashboard shows which symbols run), its folds run
    inside it, submitted as soon as the driver has read that symbol's bars: reading the next
    symbols overlaps the first ones' work. Otherwise symbols go one after another and their folds
    are the Ray tasks."""

    def __init__(self, models: list[str], cfg: MeridianConfig, universe_ds: dict[str, Dataset], use_ray: bool,
                 progress: bool, *, n_symbols: int) -> None:
        import ray

        from models.zoo import model_class
        self.models, self.cfg, self.universe_ds, self.use_ray, self.progress = models, cfg, universe_ds, use_ray, progress
        gpu = cfg.models.use_gpu and any(model_class(m).wants_gpu for m in models)  # folds ask for the GPU node
        self.parallel = use_ray and ray.is_initialized() and n_symbols > 1 and not gpu
        self.todo: dict = {}
        self.refs: dict = {}
        self.task = ray.remote(evaluate_symbol) if self.parallel else None

    def _kwargs(self, sym: str, inner_ray: bool) -> dict:
        tf, bars, wf, ids, hashes, prior = self.todo[sym]
        ens = tuple(n[len("ensemble_"):] for n in ids if n.startswith("ensemble_"))
        cfg = self.cfg
        return dict(params=dict(cfg.models.params), trading=cfg.trading, ensembles=ens,
                    feature_set_name=cfg.features.feature_set, use_gpu=cfg.models.use_gpu, use_ray=inner_ray,
                    progress=False, prior_trials=len(prior), dataset=self.universe_ds.get(sym))

    def submit(self, sym: str, item: tuple) -> None:
        self.todo[sym] = item
        if self.parallel:
            from cluster.placement import training_options
            task = self.task.options(**training_options(False), max_retries=1, name=f"walkforward {sym}")
            self.refs[task.remote(item[1], self.models, item[2], **self._kwargs(sym, False))] = sym

    def results(self) -> dict[str, "SymbolRun"]:
        if not self.parallel:
            return {sym: evaluate_symbol(self.todo[sym][1], self.models, self.todo[sym][2],
                                         **self._kwargs(sym, self.use_ray))
                    for sym in tqdm(self.todo, desc="symbols", disable=not self.progress)}
        import ray
        out: dict[str, SymbolRun] = {}
        pending = list(self.refs)
        with tqdm(total=len(pending), desc="symbols", disable=not self.progress) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    out[self.refs[ref]] = ray.get(ref)
                bar.update(len(done))
        return out


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


def tried_before(seen: pd.DataFrame, symbol: str, timeframe: str, horizon: int) -> set[str]:
    """Model ids whose out-of-sample predictions for this series are already in the store
    (``seen``: the predictions table's distinct model_id, symbol, timeframe, horizon)."""
    if seen.empty:
        return set()
    sel = (seen["symbol"] == symbol) & (seen["timeframe"] == timeframe) & (seen["horizon"] == horizon)
    return set(seen.loc[sel, "model_id"])


def windows(wf: WalkForwardConfig, timeframe: str, asset_class: str, retrain_every: str | None,
            keep: str | None) -> WalkForwardConfig:
    """``retrain_every`` / ``keep`` (bars, or spans such as 1M, 3y) as the test and train windows."""
    from pipelines.times import span_bars
    update = {}
    try:
        if retrain_every is not None:
            update["test_bars"] = span_bars(retrain_every, timeframe, asset_class)
        if keep is not None:
            update["train_bars"] = span_bars(keep, timeframe, asset_class)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return WalkForwardConfig.model_validate({**wf.model_dump(), **update}) if update else wf


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
