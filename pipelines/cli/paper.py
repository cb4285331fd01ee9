"""``meridian paper run|status``: paper trading with the promoted models, and the account."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.jobs import paper as job
from pipelines.store import open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paper", help="paper trading: run the loop, or show the account")
    verbs = p.add_subparsers(dest="paper_command", metavar="VERB", required=True)
    r = verbs.add_parser("run", help="poll the store for closed bars, trade them on paper")
    job.add_arguments(r)
    r.set_defaults(func=run)
    s = verbs.add_parser("status", help="equity, P&L today/week/total, positions and suggested actions")
    s.add_argument("--symbols", help="comma-separated symbols for the suggested actions (default: all held)")
    s.add_argument("--timeframe", default="1h", help="bars used to mark positions")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=show)


def _text(out: dict) -> str:
    lines = [f"account {out['account']} at {out['as_of']}: equity {out['equity']:.2f}, cash {out['cash']:.2f}, "
             f"P&L today {out['pnl_today']:+.2f}, week {out['pnl_week']:+.2f}, total {out['pnl_total']:+.2f}"]
    for sym, p in out["positions"].items():
        act = out.get("actions", {}).get(sym, {})
        lines.append(f"  {sym}: {p['qty']:+.6g} @ {p['avg_price']:.6g}  -> {act.get('action', '?')}: "
                     f"{act.get('reason', '')}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    out = job.run(cfg, args.symbols.split(","), args.timeframe, args.models.split(",") if args.models else None,
                  args.since, args.interval, args.max_cycles or None, progress=not args.json,
                  source=args.source)
    emit(out, args.json, _text(out) + f"\n{out['processed_bars']} bar(s) processed in {out['cycles']} poll(s)")
    return 0


def show(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    store = open_store(cfg.store)
    try:
        out = job.status(store, cfg, args.symbols.split(",") if args.symbols else None, args.timeframe)
    finally:
        store.close()
    emit(out, args.json, _text(out))
    return 0
