"""The walk-forward as a recorded run: one entry point for ``meridian walkforward`` and
``python -m pipelines.jobs.walkforward`` (and ``python -m pipelines.jobs.train``), same options.

Every call is a run (:mod:`pipelines.evaluation.runs`): recorded as ``running`` before any work,
then ``done`` with its report, digests and out-of-sample predictions, or ``failed`` with the
reason. Its models are registered under the run id (a panel run: one model per model name and
horizon, fitted on the last fold's training dates), and the run id is printed (``run_id`` in
``--json``; the registered ids are each horizon's ``model_ids``).

    python -m pipelines.jobs.walkforward --symbols BTCUSDT,ETHUSDT --models xgboost,lightgbm --horizon 1,24
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipelines.config import MeridianConfig, config_hash, load_config
from pipelines.config.base import deep_merge
from pipelines.errors import ConfigError, MeridianError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", required=True, help="comma-separated symbols (as in the store)")
    p.add_argument("--models", help="comma-separated model names, e.g. xgboost,lightgbm (default: config)")
    p.add_argument("--horizon", help="label horizon in bars, or several (1,24): one report each "
                                     "(default: config)")
    p.add_argument("--timeframe", help="bar timeframe when a symbol has several")
    p.add_argument("--ensembles", default="average,weighted,stacking,bma",
                   help="comma-separated ensembles over the models ('' for none)")
    p.add_argument("--train-bars", type=int, help="training window in bars (rolling)")
    p.add_argument("--test-bars", type=int, help="test window in bars; also the retrain step")
    p.add_argument("--retrain-every", help="retrain step and test window: bars or a span (1M, 30d, 12w)")
    p.add_argument("--keep", help="rolling training window: bars or a span (3y, 6M)")
    p.add_argument("--embargo-bars", type=int, help="bars skipped after each test window")
    p.add_argument("--expanding", action="store_true", help="expanding instead of rolling training window")
    p.add_argument("--feature-set", help="feature set name (default: config)")
    p.add_argument("--no-persist", action="store_true", help="do not write the predictions table")
    p.add_argument("--no-ray", action="store_true", help="run folds one after another in this process")
    p.add_argument("--universe", action="store_true",
                   help="add the universe stage: cross-sectional Alpha101 factors and ranks over these symbols (3+)")
    p.add_argument("--panel", action="store_true",
                   help="panel mode, the standard for cross-sections: one model per fold on every symbol's rows "
                        "(date x symbol), features ranked per date, judged by daily rank IC")
    p.add_argument("--label", choices=("fwd", "excess", "rank"), default="fwd",
                   help="panel label: forward return, excess over the date's mean, or its cross-sectional rank")
    p.add_argument("--promote", action="store_true",
                   help="promote the models this run registers that pass the promotion gate")
    p.add_argument("--report", help="also write metrics.json and report.html here (signal plots with 5+ symbols); "
                                    "`meridian runs report ID` rebuilds them from the record at any time")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


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


def horizons_of(text: str | None, default: int) -> list[int]:
    if text is None:
        return [default]
    try:
        hs = [int(h) for h in str(text).split(",") if h.strip()]
    except ValueError:
        raise ConfigError(f"--horizon {text!r}: give bar counts, e.g. 1 or 1,24") from None
    if not hs or min(hs) <= 0:
        raise ConfigError(f"--horizon {text!r}: horizons are positive bar counts")
    return list(dict.fromkeys(hs))


def recorded_config(cfg: MeridianConfig, args: argparse.Namespace) -> dict[str, Any]:
    """The resolved configuration (secrets masked) and the command's own choices."""
    options = {k: v for k, v in vars(args).items() if k not in {"func", "config", "json", "command"}}
    return {"meridian": cfg.model_dump(mode="json"), "options": options}


def execute(args: argparse.Namespace) -> dict[str, Any]:
    from cluster.runtime import init_ray, shutdown_ray
    from pipelines.evaluation import runs
    from pipelines.jobs.train import run as run_training
    from pipelines.store import open_store

    cfg = load_config(args.config, overrides=_overrides(args) or None)
    horizons = horizons_of(args.horizon, cfg.walkforward.horizon)
    models = [m for m in (args.models.split(",") if args.models else cfg.models.names) if m]
    ensembles = tuple(e for e in args.ensembles.split(",") if e)
    symbols = [s for s in args.symbols.split(",") if s]
    if not symbols:
        raise ConfigError("--symbols names no symbol")
    store = open_store(cfg.store)
    started_ray = False
    rec = runs.start(store, kind="panel" if args.panel else "walkforward", config=recorded_config(cfg, args),
                     config_hash=config_hash(cfg), symbols=symbols, models=models, horizons=horizons)
    try:
        if not args.no_ray:
            import ray
            started_ray = not ray.is_initialized()
            init_ray(cfg.ray)
        reports = {}
        for h in horizons:
            cfg_h = load_config(args.config, overrides=deep_merge(_overrides(args), {"walkforward": {"horizon": h}}))
            if args.panel:
                reports[h] = _panel(cfg_h, store, symbols, models, args, rec.run_id)
                continue
            reports[h] = run_training(cfg_h, store, symbols, models, timeframe=args.timeframe,
                                      ensembles=ensembles, persist=not args.no_persist, register=True,
                                      use_ray=not args.no_ray, progress=not args.json,
                                      retrain_every=args.retrain_every, keep=args.keep,
                                      universe=args.universe, run_id=rec.run_id)
        if len(reports) > 1 or args.panel:
            from pipelines.evaluation.verdict import judge
            judge(list(reports.values()))     # one correction and one trial count over every horizon
        if args.panel:
            from pipelines.jobs.panel import register_panel_models
            for r in reports.values():
                register_panel_models(store, r, r.pop("pending_models"))
        report = {"run_id": rec.run_id, "horizons": {str(h): r for h, r in reports.items()}}
        digests = {"bars": {s: d for r in reports.values() for s, d in r.pop("bars_digests", {}).items()},
                   "feature_set": {str(h): r.get("feature_set_version") for h, r in reports.items()}}
        runs.finish(store, rec, report, digests)
        if args.report:
            from pipelines.reports.signal import write_walkforward_report
            report["report"] = str(write_walkforward_report(Path(args.report), reports, rec.run_id))
        if args.promote:
            report["promotion"] = _promote(store, cfg, reports)
    except BaseException as exc:
        runs.fail(store, rec, str(exc) if isinstance(exc, MeridianError) else f"{type(exc).__name__}: {exc}")
        raise
    finally:
        store.close()
        if started_ray:
            shutdown_ray()
    return report


def _panel(cfg: MeridianConfig, store, symbols: list[str], models: list[str], args: argparse.Namespace,
           run_id: str) -> dict[str, Any]:
    """One horizon of the panel walk-forward, its out-of-sample predictions recorded under the run."""
    from pipelines.evaluation import runs
    from pipelines.jobs.panel import evaluate_panel, load_panel_bars
    bars, skipped = load_panel_bars(store, symbols, args.timeframe)
    if not bars:
        raise ConfigError(f"none of {', '.join(symbols)} has bars in the store")
    from pipelines.jobs.panel import save_panel_models
    report, results, _ = evaluate_panel(cfg, bars, models, label=args.label, use_ray=not args.no_ray,
                                        retrain_every=args.retrain_every, keep=args.keep, skipped=skipped)
    for m, res in results.items():
        runs.record_predictions(store, run_id, m, report["horizon"], None, report["timeframe"], res.predictions)
    # the last fold's models, saved now and registered once the run-wide verdict is in
    report["pending_models"] = save_panel_models(cfg, report, results, run_id)
    report["model_ids"] = {m: rec.model_id for m, rec in report["pending_models"].items()}
    from pipelines.features.catalog import feature_set
    from pipelines.features.store import set_version
    report["bars_digests"] = {s: runs.bars_digest(b) for s, b in bars.items()}
    report["feature_set_version"] = set_version(feature_set(cfg.features.feature_set))
    return report


def _promote(store, cfg: MeridianConfig, reports: dict[int, dict]) -> dict[str, list[str]]:
    """Promote each registered model its evidence allows; the others are listed with the reason."""
    from models.registry import PromotionGate, PromotionRefused, promote
    gate = PromotionGate(min_dsr=cfg.models.promote_min_dsr, min_rank_ic_t=cfg.models.promote_min_rank_ic_t)
    out: dict[str, list[str]] = {"promoted": [], "refused": []}
    ids = [mid for rep in reports.values() for r in rep["symbols"].values()
           for name, mid in r["model_ids"].items() if name in r["models"]]
    ids += [mid for rep in reports.values() for mid in (rep.get("model_ids") or {}).values()]  # panel models
    for mid in ids:
        try:
            promote(store, mid, gate)
            out["promoted"].append(mid)
        except PromotionRefused as exc:
            print(exc, file=sys.stderr)
            out["refused"].append(str(exc))
    return out


def summary(out: dict[str, Any]) -> str:
    from pipelines.jobs import panel, train
    lines = [line for r in out["horizons"].values()
             for line in (panel.summary_lines(r) if r.get("mode") == "panel" else train.summary_lines(r))]
    if out.get("report"):
        lines.append(f"report: {out['report']}")
    return "\n".join([*lines, f"run {out['run_id']} (meridian runs show {out['run_id']})"])


def main(argv: list[str] | None = None) -> int:
    from pipelines import jobs
    return jobs.job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
