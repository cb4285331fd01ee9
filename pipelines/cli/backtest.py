"""``meridian backtest --symbols ... --models ...``: backtest stored predictions, write the report."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.jobs.backtest import add_arguments, run as run_backtest_job, text_of


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="backtest models' stored out-of-sample predictions; HTML report")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    out = run_backtest_job(cfg, [s.strip() for s in args.symbols.split(",") if s.strip()],
                           [m.strip() for m in args.models.split(",") if m.strip()], args.sizing, args.out,
                           args.timeframe, progress=not args.json)
    emit(out, args.json, text_of(out))
    return 0
