"""``meridian models list|show|promote``: the model registry."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, show and promote registered models")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="registered models, newest first")
    ls.add_argument("--status", choices=["candidate", "promoted", "retired"])
    ls.add_argument("--name", help="only this model name (e.g. xgboost)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    sh = msub.add_parser("show", help="one model's record: config, features, window, metrics, artifact")
    sh.add_argument("model_id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_show)
    pr = msub.add_parser("promote", help="promote a model (retires the promoted one it replaces)")
    pr.add_argument("model_id")
    pr.add_argument("--force", action="store_true", help="promote although the evidence fails the gate")
    pr.add_argument("--reason", help="why the gate is overridden (required with --force; recorded)")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=run_promote)


def _store(args):
    from pipelines.store import open_store
    return open_store(load_config(args.config).store)


def _summary(rec) -> dict:
    m = rec.metrics or {}
    return {"model_id": rec.model_id, "name": rec.name, "status": rec.status, "symbols": rec.symbols,
            "timeframe": rec.timeframe, "horizon": rec.horizon, "feature_hash": rec.feature_hash,
            "train_end": rec.train_end, "created_at": rec.created_at,
            "directional_accuracy": m.get("directional_accuracy"), "sharpe": m.get("strategy_sharpe")}


def _full(rec) -> dict:
    d = _summary(rec)
    d.update({"kind": rec.kind, "config": rec.config, "config_hash": rec.config_hash,
              "features": rec.features, "train_start": rec.train_start, "metrics": rec.metrics,
              "artifact_path": rec.artifact_path})
    return d


def run_list(args: argparse.Namespace) -> int:
    from models.registry import list_models
    store = _store(args)
    try:
        recs = list_models(store, args.status)
    finally:
        store.close()
    if args.name:
        recs = [r for r in recs if r.name == args.name]
    recs.sort(key=lambda r: r.created_at, reverse=True)
    from pipelines.evaluation.runs import finite
    rows = [finite(_summary(r)) for r in recs]
    lines = [f"{r['model_id']:48s} {r['status']:9s} {r['name']:14s} {','.join(r['symbols']):12s} "
             f"{r['timeframe']:4s} h={r['horizon']:<3d} acc={_f(r['directional_accuracy'])} "
             f"sharpe={_f(r['sharpe'])}" for r in rows] or ["no models registered"]
    emit(rows, args.json, "\n".join(lines))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from models.registry import get
    store = _store(args)
    try:
        rec = get(store, args.model_id)
    finally:
        store.close()
    from pipelines.evaluation.runs import finite
    emit(finite(_full(rec)), args.json)
    return 0


def run_promote(args: argparse.Namespace) -> int:
    """Refuses a model whose out-of-sample evidence fails the configured gate (models.promote_min_dsr,
    models.promote_min_rank_ic_t) or that has none; ``--force --reason`` records the override."""
    from models.registry import PromotionGate, get, list_models, promote
    from pipelines.errors import ConfigError
    if args.force and not (args.reason or "").strip():
        raise ConfigError("--force needs --reason TEXT: the override is recorded in the registry")
    if args.reason and not args.force:
        raise ConfigError("--reason goes with --force")
    cfg = load_config(args.config)
    gate = PromotionGate(min_dsr=cfg.models.promote_min_dsr, min_rank_ic_t=cfg.models.promote_min_rank_ic_t)
    store = _store(args)
    try:
        before = {r.model_id for r in list_models(store, "promoted")}
        rec = promote(store, args.model_id, gate, force_reason=args.reason if args.force else None)
        after = {r.model_id for r in list_models(store, "promoted")}
        retired = sorted(before - after)
        rec = get(store, rec.model_id)
    finally:
        store.close()
    forced = (rec.metrics or {}).get("promotion", {}).get("forced", False)
    emit({"promoted": rec.model_id, "retired": retired, **({"forced": True} if forced else {})}, args.json,
         f"promoted {rec.model_id}" + (" (gate overridden)" if forced else "")
         + (f"; retired {', '.join(retired)}" if retired else ""))
    return 0


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
