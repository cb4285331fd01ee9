"""``meridian import PATH...``: load users' bar files into the store.

Files are independent and each is atomic: a file is stored whole (one store write, one
transaction or lake commit) or not at all. Every file gets one line, what landed or why it was
refused; the exit status is 1 when any file was refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.errors import MeridianError
from pipelines.sources.file_checks import check_not_shifted_copy
from pipelines.sources.files import FORMATS, import_bars
from pipelines.store import open_store
from pipelines.store.base import Store

#: How far from a file's range stored bars are compared (the largest zone offset).
_SHIFT_WINDOW = pd.Timedelta(hours=14)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="load a CSV/JSON/Parquet bar file into the store")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--symbol", help="symbol (default: from the file's content or name)")
    p.add_argument("--asset-class", required=True,
                   choices=["crypto", "stock", "forex", "index", "commodity"])
    p.add_argument("--timeframe", help="bar length, e.g. 1h, 1d (default: inferred)")
    p.add_argument("--tz", help="time zone of naive timestamps, e.g. UTC, Europe/Helsinki, Etc/GMT-1")
    p.add_argument("--format", dest="fmt", default="auto", choices=FORMATS)
    p.add_argument("--venue", default="file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def import_one(store: Store, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Read, check and store one file; raises MeridianError (nothing stored) when refused."""
    res = import_bars(path, symbol=args.symbol, asset_class=args.asset_class, timeframe=args.timeframe,
                      tz=args.tz, fmt=args.fmt, venue=args.venue)
    b = res.bars
    stored = store.read_bars(res.symbol, res.timeframe, start=b["ts"].iloc[0] - _SHIFT_WINDOW,
                             end=b["ts"].iloc[-1] + _SHIFT_WINDOW)
    check_not_shifted_copy(Path(path), stored, b)
    written = store.write_bars(b)
    return {"path": str(path), "ok": True, "format": res.format, "symbol": res.symbol,
            "timeframe": res.timeframe, "tz": res.tz, "rows_written": written,
            "first_ts": b["ts"].iloc[0].isoformat(), "last_ts": b["ts"].iloc[-1].isoformat(),
            "validation": res.report.as_dict()}


def _line(r: dict[str, Any]) -> str:
    if not r["ok"]:
        return r["error"]
    v = r["validation"]
    return (f"{r['path']}: {r['rows_written']} {r['symbol']} {r['timeframe']} bars "
            f"({r['format']}, {r['first_ts']} .. {r['last_ts']}); "
            f"rejected {v['rejected'] or 'none'}, repaired {v['repaired'] or 'none'}")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    store = open_store(cfg.store)
    results: list[dict[str, Any]] = []
    try:
        for path in args.paths:
            try:
                results.append(import_one(store, path, args))
            except MeridianError as exc:
                msg = str(exc)
                name = Path(path).name
                text = msg if msg.startswith(name) else f"{name}: {msg}"
                results.append({"path": str(path), "ok": False, "error": text})
    finally:
        store.close()
    failed = [r for r in results if not r["ok"]]
    done = [r for r in results if r["ok"]]
    if args.json:
        emit(results if len(results) > 1 else results[0], True)
    else:
        if done:
            print("\n".join(_line(r) for r in done))
    for r in failed:
        print(f"meridian: error: {r['error']}", file=sys.stderr)
    return 1 if failed else 0
