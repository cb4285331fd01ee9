"""``meridian runs list | show ID | compare ID ID | predictions ID --out FILE | report ID``: the
recorded runs, everything rebuilt from the store."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="recorded walk-forward runs: list, show, compare, export, report")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    ls = rsub.add_parser("list", help="runs, newest first")
    ls.add_argument("--status", choices=["running", "done", "failed"])
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    sh = rsub.add_parser("show", help="one run: configuration, digests, status, report")
    sh.add_argument("run_id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_show)
    cp = rsub.add_parser("compare", help="what differs between two runs, and their shared cells side by side")
    cp.add_argument("a")
    cp.add_argument("b")
    cp.add_argument("--json", action="store_true")
    cp.set_defaults(func=run_compare)
    pr = rsub.add_parser("predictions", help="export the run's out-of-sample predictions (csv or parquet)")
    pr.add_argument("run_id")
    pr.add_argument("--out", required=True, help="FILE.csv or FILE.parquet")
    pr.add_argument("--model")
    pr.add_argument("--horizon", type=int)
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=run_predictions)
    rp = rsub.add_parser("report", help="rebuild the run's report.html and metrics.json from its record")
    rp.add_argument("run_id")
    rp.add_argument("--out", help="folder (default: <report_dir>/<run id>)")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=run_report)


def _open(args):
    from pipelines.store import open_store
    cfg = load_config(args.config)
    return cfg, open_store(cfg.store)


def _record(args, run_id: str):
    """The configuration and one run's record (the store closed again)."""
    from pipelines.evaluation import runs
    cfg, store = _open(args)
    try:
        return cfg, runs.get(store, run_id)
    finally:
        store.close()


def run_list(args: argparse.Namespace) -> int:
    from pipelines.evaluation import runs
    _, store = _open(args)
    try:
        rows = [r.summary() for r in runs.list_runs(store, args.status)]
    finally:
        store.close()
    lines = [f"{r['run_id']}  {r['status']:7s} {r['kind']:12s} {r['symbols']:4d} symbols  "
             f"{','.join(r['models'])}  h={','.join(map(str, r['horizons']))}"
             + (f"  ({r['reason']})" if r["reason"] else "") for r in rows] or ["no runs recorded"]
    emit(rows, args.json, "\n".join(lines))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from pipelines.jobs.train import summary_lines
    _, rec = _record(args, args.run_id)
    full = {**rec.summary(), "symbols": rec.symbols, "code_version": rec.code_version, "config": rec.config,
            "digests": rec.digests, "report": rec.report}
    text = "\n".join([f"{rec.run_id}: {rec.kind}, {rec.status}" + (f" ({rec.reason})" if rec.reason else ""),
                      f"config {rec.config_hash}, code {rec.code_version}, started {rec.created_at.isoformat()}",
                      *[line for r in (rec.report.get("horizons") or {}).values() for line in summary_lines(r)]])
    emit(full, args.json, text)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from pipelines.evaluation import runs
    _, store = _open(args)
    try:
        out = runs.compare(runs.get(store, args.a), runs.get(store, args.b))
    finally:
        store.close()
    lines = [f"{out['a']} vs {out['b']}"]
    lines += [f"  config {k}: {v[0]!r} -> {v[1]!r}" for k, v in out["config"].items()]
    for cell, ab in out["cells"].items():
        figs = "  ".join(f"{k} {_f(ab['a'].get(k))} -> {_f(ab['b'].get(k))}" for k in runs.HEADLINE)
        lines.append(f"  {cell:24s} {figs}")
    emit(out, args.json, "\n".join(lines))
    return 0


def run_predictions(args: argparse.Namespace) -> int:
    from pipelines.evaluation import runs
    out = Path(args.out)
    if out.suffix not in (".csv", ".parquet"):
        raise ConfigError(f"--out {args.out}: give a .csv or .parquet file")
    _, store = _open(args)
    try:
        df = runs.predictions(store, args.run_id, args.model, args.horizon)
    finally:
        store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False) if out.suffix == ".csv" else df.to_parquet(out, index=False)
    emit({"run_id": args.run_id, "rows": len(df), "out": str(out)}, args.json,
         f"{len(df)} predictions of {args.run_id} written to {out}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from pipelines.reports.signal import write_walkforward_report
    cfg, rec = _record(args, args.run_id)
    horizons = rec.report.get("horizons") or {}
    if not horizons:
        raise ConfigError(f"run {rec.run_id} is {rec.status}" + (f" ({rec.reason})" if rec.reason else "")
                          + ": it has no report")
    out = Path(args.out) if args.out else Path(cfg.report_dir) / rec.run_id
    html = write_walkforward_report(out, {int(h): r for h, r in horizons.items()}, rec.run_id)
    paths = {"html": str(html), "metrics": str(out / "metrics.json")}
    emit(paths, args.json, f"report: {paths['html']}\nmetrics: {paths['metrics']}")
    return 0


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
