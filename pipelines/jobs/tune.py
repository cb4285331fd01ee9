"""A Ray Tune search over one model's main hyperparameters on one symbol's bars in the store;
the best trial's forecaster is recorded in the registry as a ``tune-best`` candidate (and
promoted on request). A search whose driver died continues with ``--resume PATH``.

    python -m pipelines.jobs.tune --model lstm --symbol BTCUSDT --trials 8 --scheduler asha [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.config import MeridianConfig, load_config
from pipelines.errors import ConfigError, DataError
from pipelines.store.base import Store


def load_dataset(cfg: MeridianConfig, store: Store, symbol: str, timeframe: str | None, horizon: int):
    from models.training.dataset import make_dataset
    from pipelines.features.catalog import feature_set
    bars = store.read("bars", {"symbol": symbol, **({"timeframe": timeframe} if timeframe else {})})
    if bars.empty:
        raise DataError(f"no bars for {symbol!r}{' ' + timeframe if timeframe else ''} in the store: "
                        f"load some with `meridian import` or `meridian ingest`")
    tfs = sorted(bars["timeframe"].unique())
    if len(tfs) > 1:
        raise ConfigError(f"{symbol} has bars in several timeframes ({', '.join(tfs)}): pass --timeframe")
    bars = bars.sort_values("ts").reset_index(drop=True)
    return make_dataset(bars, feature_set(cfg.features.feature_set), horizon,
                        store_dtype=cfg.features.store_dtype)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs (values read as JSON when they parse, else as strings)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--param takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def run(cfg: MeridianConfig, store: Store, *, model: str | None = None, symbol: str | None = None,
        timeframe: str | None = None, horizon: int | None = None, settings=None,
        fixed: dict[str, Any] | None = None, storage: str | Path | None = None, resume: str | None = None,
        promote: bool = False, progress: bool = True) -> dict[str, Any]:
    from models.tuning.search import TuneSettings, read_spec, record_best, resume_search, run_search
    storage = Path(storage or Path(cfg.home) / "tune")   # Tune experiments under the Meridian home
    if resume:
        spec = read_spec(resume)
        ds = load_dataset(cfg, store, spec["symbol"], spec["timeframe"], int(spec["horizon"]))
        outcome = resume_search(resume, ds)
    else:
        if not (model and symbol):
            raise ConfigError("tune needs --model and --symbol (or --resume PATH)")
        ds = load_dataset(cfg, store, symbol, timeframe, horizon or cfg.walkforward.horizon)
        outcome = run_search(ds, model, settings or TuneSettings(), storage, fixed=fixed, progress=progress,
                             extra_spec={"feature_set": cfg.features.feature_set})
    rec = record_best(store, outcome, ds, cfg.models_dir, promote_it=promote)
    return {"model": outcome.model, "symbol": ds.symbol, "timeframe": ds.timeframe, "horizon": ds.horizon,
            "experiment_path": outcome.experiment_path, "best_params": outcome.best_params,
            "best_metrics": outcome.best_metrics, "trials": outcome.trials, "model_id": rec.model_id,
            "status": rec.status, "artifact_path": rec.artifact_path}


def summary(out: dict[str, Any]) -> str:
    done = sum(t["final"] for t in out["trials"])
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in sorted(out["best_params"].items()))
    return (f"{out['model']} on {out['symbol']} {out['timeframe']} (h={out['horizon']}): "
            f"{len(out['trials'])} trials, {done} finished; best val_mse {out['best_metrics'].get('val_mse'):.6g}\n"
            f"  best: {params}\n  registered {out['model_id']} ({out['status']}); experiment {out['experiment_path']}\n"
            f"  promote with: meridian models promote {out['model_id']}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model name, e.g. lstm, tft, xgboost")
    p.add_argument("--symbol", help="symbol in the store")
    p.add_argument("--timeframe", help="bar timeframe when the symbol has several")
    p.add_argument("--horizon", type=int, help="label horizon in bars (default: config)")
    p.add_argument("--trials", type=int, default=8, help="number of sampled configurations")
    p.add_argument("--scheduler", choices=["asha", "fifo"], default="asha")
    p.add_argument("--max-epochs", type=int, default=20, help="epoch budget of a deep trial")
    p.add_argument("--concurrent", type=int, default=2, help="trials at once")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="hold a parameter fixed")
    p.add_argument("--storage", help="folder of Tune experiments (default: <Meridian home>/tune)")
    p.add_argument("--resume", metavar="PATH", help="continue the experiment at PATH after a killed driver")
    p.add_argument("--promote", action="store_true", help="promote the best model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def execute(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from cluster.runtime import init_ray, shutdown_ray
    from models.tuning.search import TuneSettings
    from pipelines.store import open_store
    cfg = load_config(args.config)
    settings = TuneSettings(trials=args.trials, scheduler=args.scheduler, max_epochs=args.max_epochs,
                            max_concurrent=args.concurrent, seed=args.seed)
    started = not ray.is_initialized()
    init_ray(cfg.ray)
    store = open_store(cfg.store)
    try:
        return run(cfg, store, model=args.model, symbol=args.symbol, timeframe=args.timeframe,
                   horizon=args.horizon, settings=settings, fixed=parse_params(args.param),
                   storage=args.storage, resume=args.resume, promote=args.promote, progress=not args.json)
    finally:
        store.close()
        if started:
            shutdown_ray()


def main(argv: list[str] | None = None) -> int:
    from pipelines.jobs import job_main
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
