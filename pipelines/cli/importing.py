"""``meridian import PATH``: load a user's bar file into the store."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.sources.files import FORMATS, import_bars
from pipelines.store import open_store


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


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    store = open_store(cfg.store)
    results = []
    try:
        for path in args.paths:
            res = import_bars(path, symbol=args.symbol, asset_class=args.asset_class,
                              timeframe=args.timeframe, tz=args.tz, fmt=args.fmt, venue=args.venue)
            written = store.write("bars", res.bars)
            b = res.bars
            results.append({
                "path": str(path), "format": res.format, "symbol": res.symbol,
                "timeframe": res.timeframe, "tz": res.tz, "rows_written": written,
                "first_ts": b["ts"].iloc[0].isoformat() if len(b) else None,
                "last_ts": b["ts"].iloc[-1].isoformat() if len(b) else None,
                "validation": res.report.as_dict(),
            })
    finally:
        store.close()
    lines = [f"{r['path']}: {r['rows_written']} {r['symbol']} {r['timeframe']} bars "
             f"({r['format']}, {r['first_ts']} .. {r['last_ts']}); "
             f"rejected {r['validation']['rejected'] or 'none'}, repaired {r['validation']['repaired'] or 'none'}"
             for r in results]
    emit(results if len(results) > 1 else results[0], args.json, "\n".join(lines))
    return 0
