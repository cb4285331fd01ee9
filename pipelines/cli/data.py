"""``meridian data list`` and ``meridian data delete``: the bar series in the store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.errors import DataError
from pipelines.store import open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list or delete the stored bar series")
    cmds = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ls = cmds.add_parser("list", help="symbol, timeframe, asset class, rows, first and last bar of each series")
    ls.add_argument("--json", action="store_true", help="print the series as JSON")
    ls.set_defaults(func=run_list)
    rm = cmds.add_parser("delete", help="remove a symbol's bars (one timeframe, or all)")
    rm.add_argument("--symbol", required=True)
    rm.add_argument("--timeframe", help="only this timeframe (default: every timeframe of the symbol)")
    rm.add_argument("--yes", action="store_true", help="delete without asking")
    rm.add_argument("--json", action="store_true", help="print the result as JSON")
    rm.set_defaults(func=run_delete)


def _records(summary: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"symbol": str(r["symbol"]), "timeframe": str(r["timeframe"]), "asset_class": str(r["asset_class"]),
             "rows": int(r["rows"]), "first": pd.Timestamp(r["first"]).isoformat(),
             "last": pd.Timestamp(r["last"]).isoformat()}
            for r in summary.to_dict("records")]


def _table(records: list[dict[str, Any]]) -> str:
    if not records:
        return "no bar series stored: load some with `meridian import` or `meridian ingest`"
    cols = ["symbol", "timeframe", "asset_class", "rows", "first", "last"]
    rows = [cols] + [[str(r[c]) for c in cols] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows)


def run_list(args: argparse.Namespace) -> int:
    store = open_store(load_config(args.config).store)
    try:
        records = _records(store.series_summary())
    finally:
        store.close()
    emit(records, args.json, _table(records))
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def run_delete(args: argparse.Namespace) -> int:
    store = open_store(load_config(args.config).store)
    try:
        summary = store.series_summary()
        hit = summary[summary["symbol"] == args.symbol]
        if args.timeframe is not None:
            hit = hit[hit["timeframe"] == args.timeframe]
        what = f"{args.symbol}" + (f" {args.timeframe}" if args.timeframe else "")
        if hit.empty:
            have = ", ".join(f"{s} {t}" for s, t in summary[["symbol", "timeframe"]].itertuples(index=False))
            raise DataError(f"no stored bars for {what} (stored: {have or 'none'}); see `meridian data list`")
        plan = ", ".join(f"{r.symbol} {r.timeframe} ({r.rows} rows)" for r in hit.itertuples(index=False))
        if not args.yes and not _confirm(f"delete {plan}?"):
            raise DataError(f"not deleted: {plan}; pass --yes to delete without asking")
        removed = store.delete_series(args.symbol, args.timeframe)
    finally:
        store.close()
    emit({"symbol": args.symbol, "timeframe": args.timeframe, "rows_deleted": removed}, args.json,
         f"deleted {removed} rows: {plan}")
    return 0
