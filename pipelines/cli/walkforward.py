"""``meridian walkforward``: the purged walk-forward of any models on bars in the store, with the
ensembles and baselines, reported out of sample (and the predictions persisted)."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config.base import deep_merge
from pipelines.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("walkforward", help="walk-forward evaluation of models on bars in the store")
    p.add_argument("--symbols", required=True, help="comma-separated symbols (as in the store)")
    p.add_argument("--models", help="comma-separated model names, e.g. xgboost,lightgbm (default: config)")
    p.add_argument("--horizon", help="label horizon in bars, or several (1,24): one report each "
                                     "(default: config)")
    p.add_argument("--timeframe", help="bar timeframe when a symbol has several")
    p.add_argument("--ensembles", default="average,weighted,stacking,bma",
                   help="comma-separated ensembles over the models ('' for none)")
    p.add_argument("--train-bars", type=int, help="training window in bars (rolling)")
    p.add_argument("--test-bars", type=int, help="test window in bars; also the retrain step")
    p.add_argument("--retrain-every", help="retrain step and test window: bars or a span (1M, 30D, 12W)")
    p.add_argument("--keep", help="rolling training window: bars or a span (3Y, 6M)")
    p.add_argument("--embargo-bars", type=int, help="bars skipped after each test window")
    p.add_argument("--expanding", action="store_true", help="expanding instead of rolling training window")
    p.add_argument("--feature-set", help="feature set name (default: config)")
    p.add_argument("--no-persist", action="store_true", help="do not write the predictions table")
    p.add_argument("--no-ray", action="store_true", help="run folds one after another in this process")
    p.add_argument("--universe", action="store_true",
                   help="add the universe stage: cross-sectional Alpha101 factors and ranks over these symbols (3+)")
    p.add_argument("--panel", action="store_true",
                   help="panel mode: one model per fold on all symbols' rows (date x symbol), daily rank IC")
    p.add_argument("--label", choices=("fwd", "excess", "rank"), default="fwd",
                   help="panel label: forward return, excess over the date's mean, or its cross-sectional rank")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict:
    wf = {k: v for k, v in {"train_bars": args.train_bars,
                            "test_bars": args.test_bars, "embargo_bars": args.embargo_bars}.items()
          if v is not None}
    if args.expanding:
        wf["expanding"] = True
    over: dict = {"walkforward": wf} if wf else {}
    if args.feature_set:
        over["features"] = {"feature_set": args.feature_set}
    return over


def run(args: argparse.Namespace) -> int:
    from cluster.runtime import init_ray, shutdown_ray
    from pipelines.jobs.train import run as run_training, summary_lines
    from pipelines.store import open_store

    cfg = load_config(args.config, overrides=_overrides(args) or None)
    horizons = _horizons(args.horizon, cfg.walkforward.horizon)
    models = [m for m in (args.models.split(",") if args.models else cfg.models.names) if m]
    ensembles = tuple(e for e in args.ensembles.split(",") if e)
    symbols = [s for s in args.symbols.split(",") if s]
    store = open_store(cfg.store)
    started_ray = False
    try:
        if not args.no_ray:
            import ray
            started_ray = not ray.is_initialized()
            init_ray(cfg.ray)
        if args.panel:
            return _panel(args, store, horizons, models, symbols)
        reports = {}
        for h in horizons:
            cfg_h = load_config(args.config, overrides=deep_merge(_overrides(args), {"walkforward": {"horizon": h}}))
            reports[h] = run_training(cfg_h, store, symbols, models, timeframe=args.timeframe,
                                      ensembles=ensembles, persist=not args.no_persist, use_ray=not args.no_ray,
                                      progress=not args.json, retrain_every=args.retrain_every, keep=args.keep,
                                      universe=args.universe)
    finally:
        store.close()
        if started_ray:
            shutdown_ray()
    if len(reports) == 1:
        report = next(iter(reports.values()))
        emit(report, args.json, "\n".join(summary_lines(report)))
    else:
        emit({"horizons": {str(h): r for h, r in reports.items()}}, args.json,
             "\n".join(line for r in reports.values() for line in summary_lines(r)))
    return 0


def _horizons(text: str | None, default: int) -> list[int]:
    from pipelines.errors import ConfigError
    if text is None:
        return [default]
    try:
        hs = [int(h) for h in str(text).split(",") if h.strip()]
    except ValueError:
        raise ConfigError(f"--horizon {text!r}: give bar counts, e.g. 1 or 1,24") from None
    if not hs or min(hs) <= 0:
        raise ConfigError(f"--horizon {text!r}: horizons are positive bar counts")
    return list(dict.fromkeys(hs))


def _panel(args: argparse.Namespace, store, horizons: list[int], models: list[str], symbols: list[str]) -> int:
    """``--panel``: the panel walk-forward report per horizon."""
    from pipelines.jobs.panel import run_panel, summary_lines
    reports = {}
    for h in horizons:
        cfg_h = load_config(args.config, overrides=deep_merge(_overrides(args), {"walkforward": {"horizon": h}}))
        reports[h] = run_panel(cfg_h, store, symbols, models, timeframe=args.timeframe, label=args.label,
                               use_ray=not args.no_ray, retrain_every=args.retrain_every, keep=args.keep)
    if len(reports) == 1:
        report = next(iter(reports.values()))
        emit(report, args.json, "\n".join(summary_lines(report)))
    else:
        emit({"horizons": {str(h): r for h, r in reports.items()}}, args.json,
             "\n".join(line for r in reports.values() for line in summary_lines(r)))
    return 0
