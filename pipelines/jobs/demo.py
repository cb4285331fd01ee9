"""The main job on the embedded default: sample data -> store -> features -> labels ->
walk-forward models (folds as Ray tasks) -> long/short/flat rule -> backtest with costs ->
predictions and model records saved -> report folder.

    python -m pipelines.jobs.demo [--config FILE] [--symbols SPX,EURUSD] [--max-bars N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import ray
from tqdm import tqdm

from cluster.runtime import init_ray, shutdown_ray
from models.registry import ModelRecord, promote, register
from models.training.dataset import make_dataset
from models.training.walkforward import run_walkforward
from pipelines.trading.strategy import cost_model_of
from pipelines.config import MeridianConfig, config_hash, load_config
from pipelines.evaluation.oos import evaluate
from pipelines.features.catalog import columns_of, feature_set
from pipelines.reports.html import write_metrics, write_report
from pipelines.times import periods_per_year
from pipelines.sources.sample import sample_bars, sample_macro
from pipelines.store import open_store

DEMO_DEFAULTS = {"walkforward": {"horizon": 1, "train_bars": 1000, "test_bars": 250,
                                 "embargo_bars": 0, "validation_fraction": 0.2}}


def _dataset_task(bars: pd.DataFrame, feature_set_name: str, horizon: int, store_dtype: str):
    return make_dataset(bars, feature_set(feature_set_name), horizon, store_dtype=store_dtype)


def run(cfg: MeridianConfig, symbols: list[str], models: list[str], max_bars: int | None,
        progress: bool = True) -> dict:
    t0 = time.time()
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    report_dir = Path(cfg.report_dir) / run_id
    chash = config_hash(cfg)
    init_ray(cfg.ray)
    store = open_store(cfg.store)
    try:
        # 1. sample data into the store (idempotent: a rerun rewrites the same rows)
        loaded, first_ts = {}, {}
        for sym in tqdm(symbols, desc="load sample", disable=not progress):
            bars, rep = sample_bars(sym, max_bars)
            store.write("bars", bars)
            loaded[sym] = rep.as_dict()
            first_ts[sym] = bars["ts"].iloc[0]
        store.write("macro", sample_macro())

        # 2. features + labels per symbol, as Ray tasks, on the bars as read back from the store
        stored = {s: store.read("bars", {"symbol": s}, start=first_ts[s]) for s in symbols}
        task = ray.remote(_dataset_task)
        refs = {s: task.options(num_cpus=1, name=f"features {s} {cfg.features.feature_set}").remote(
                    b, cfg.features.feature_set, cfg.walkforward.horizon, cfg.features.store_dtype)
                for s, b in stored.items()}
        datasets = {s: ray.get(r, timeout=600) for s, r in refs.items()}
        features = columns_of(feature_set(cfg.features.feature_set))

        # 3. walk-forward per model and symbol; 4. rule + backtest; 5. records
        per_model: dict = {}
        summary, curves = [], {}
        models_dir = cfg.models_dir
        jobs = [(m, s) for m in models for s in symbols]
        for model_name, sym in tqdm(jobs, desc="walk-forward", disable=not progress):
            ds, bars = datasets[sym], stored[sym]
            res = run_walkforward(ds, model_name, cfg.walkforward,
                                  cfg.models.params.get(model_name), use_gpu=cfg.models.use_gpu)
            ppy = periods_per_year(ds.timeframe, ds.asset_class)
            ev = evaluate(res.predictions, bars, cfg.trading, ppy, costs=cost_model_of(cfg))
            model_id = f"{model_name}-{sym}-{ds.timeframe}-h{ds.horizon}-{chash[:8]}"
            preds = res.predictions.reset_index()
            preds["model_id"] = model_id
            preds["symbol"] = sym
            preds["timeframe"] = ds.timeframe
            preds["horizon"] = ds.horizon
            preds["config_hash"] = chash
            preds["known_at"] = preds["ts"].map(bars.set_index("ts")["known_at"])
            store.write("predictions", preds)
            artifact = res.final_model.save(models_dir / model_id)
            last = res.folds[-1]
            record = ModelRecord(
                model_id=model_id, name=model_name, kind="forecaster",
                config={"params": cfg.models.params.get(model_name, {}),
                        "walkforward": cfg.walkforward.model_dump(),
                        "feature_set": cfg.features.feature_set},
                config_hash=chash, features=list(ds.X.columns), symbols=[sym],
                timeframe=ds.timeframe, horizon=ds.horizon, train_start=last["train_start"],
                train_end=last["train_end"], metrics=ev.metrics, artifact_path=str(artifact))
            register(store, record)
            promote(store, model_id)
            per_model.setdefault(model_name, {})[sym] = ev.metrics
            summary.append({"model": model_name, "symbol": sym,
                            "accuracy": ev.metrics["directional_accuracy"], "ic": ev.metrics["ic"],
                            "sharpe": ev.metrics["strategy_sharpe"],
                            "max_dd": ev.metrics["strategy_max_drawdown"],
                            "buy&hold sharpe": ev.metrics["buy_and_hold_sharpe"],
                            "test bars": ev.metrics["n_test_bars"], "folds": len(res.folds)})
            curves.setdefault(sym, {})[model_name] = ev.strategy.equity
            curves[sym]["buy & hold"] = ev.baselines["buy_and_hold"].equity
        metrics = {"run_id": run_id, "config_hash": chash, "feature_set": cfg.features.feature_set,
                   "features": features, "symbols": symbols, "models": per_model, "loaded": loaded,
                   "store": cfg.store.backend, "seconds": round(time.time() - t0, 1)}
        mpath = write_metrics(report_dir, metrics)
        hpath = write_report(report_dir, f"Meridian demo {run_id}", summary, curves,
                             notes=[f"feature set '{cfg.features.feature_set}' ({len(features)} features), "
                                    f"horizon {cfg.walkforward.horizon} bar(s), config {chash}"])
        return {"run_id": run_id, "report": str(hpath), "metrics": str(mpath),
                "seconds": round(time.time() - t0, 1), "summary": summary}
    finally:
        store.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.jobs.demo", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML configuration (defaults: local Ray, Parquet under ./data)")
    p.add_argument("--symbols", help="comma-separated sample symbols (default: the config's)")
    p.add_argument("--models", help="comma-separated model names (default: the config's)")
    p.add_argument("--max-bars", type=int, help="keep only the last N bars per symbol")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = load_config(args.config, defaults=DEMO_DEFAULTS)
    symbols = args.symbols.split(",") if args.symbols else list(cfg.sample.symbols)
    models = args.models.split(",") if args.models else list(cfg.models.names)
    try:
        out = run(cfg, symbols, models, args.max_bars or cfg.sample.max_bars, progress=not args.json)
    finally:
        shutdown_ray()
    if args.json:
        print(json.dumps(out, default=str))
    else:
        print(pd.DataFrame(out["summary"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"\nreport: {out['report']}\nmetrics: {out['metrics']}\n({out['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
